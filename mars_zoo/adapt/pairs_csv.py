"""Training pairs in the form open_clip_train reads: image files and a tab-separated table.

open_clip_train's loaders read WebDataset shards or a csv/tsv table of image paths and
captions (`--dataset-type csv`). The table is the one whose epochs are exact (every pair
once per epoch, in an order drawn from the seed, split over ranks by torch's
DistributedSampler), so that a run is repeatable and a killed one resumes at an epoch
boundary. The pairs are written once per content into the mars-zoo cache, in a folder
named by the data's fingerprint, the held-out fraction and the seed that chose it, so a
second run, a resumed one and every rank read the same files.

open_clip_train reads the table with pandas' defaults, under which a caption such as
"NA" or "null" would be read as a missing value; the table is read back as it will be,
and a caption that does not come back as written is refused by name.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import Reporter, printable

if TYPE_CHECKING:  # pragma: no cover
    from mars_zoo.adapt.training_data import TrainingData

EXPORT_DIR = "finetune-data"
EXPORT_FORMAT = 1  # raise it when what a folder holds changes: it names the folders
IMAGE_KEY = "filepath"
CAPTION_KEY = "title"  # open_clip_train's default column names (--csv-img-key, --csv-caption-key)
SEPARATOR = "\t"
TRAIN_FILE = "train.tsv"
VAL_FILE = "val.tsv"


@dataclass(frozen=True)
class ExportedPairs:
    """Where the pairs were written: the training table, the held-out table (None without a
    held-out fraction), and how many pairs each holds."""

    train: Path
    val: Path | None
    train_pairs: int
    val_pairs: int


def held_out_count(pairs: int, fraction: float) -> int:
    """How many of `pairs` a held-out `fraction` keeps apart: rounded, at least one when
    `fraction` is above 0."""
    return 0 if fraction <= 0 else max(1, round(pairs * fraction))


def export_pairs(data: "TrainingData", cache_dir: Path, val_fraction: float, seed: int,
                 reporter: Reporter | None = None) -> ExportedPairs:
    """The pairs of `data` in open_clip_train's csv form (see the module's docstring), a
    held-out `val_fraction` of them, chosen by `seed`, in a table of their own."""
    import numpy as np

    reporter = reporter or Reporter()
    digest = data.fingerprint.removeprefix("sha256:")
    folder = cache_dir / EXPORT_DIR / f"v{EXPORT_FORMAT}-{digest[:32]}-val{val_fraction:g}-seed{seed}"
    count = data.pairs
    held_out = set(np.random.default_rng(seed).permutation(count)[:held_out_count(count, val_fraction)].tolist())
    result = ExportedPairs(folder / TRAIN_FILE, folder / VAL_FILE if held_out else None, count - len(held_out),
                           len(held_out))
    if folder.is_dir():
        return result
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        _write(data, tmp, folder, held_out, reporter)
        tmp.rename(folder)  # complete, or not there: a killed export is written again
    except OSError as exc:
        if not folder.is_dir():  # else another run wrote the same pairs meanwhile
            raise MarsZooError(f"The training pairs cannot be written into {folder.parent}: "
                               f"{exc.strerror or exc}. Fix: free space there or pass another --cache-dir.") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _write(data: "TrainingData", folder: Path, final: Path, held_out: set[int], reporter: Reporter) -> None:
    """Write into `folder` what will be `final`: the tables name each image by its path there
    (open_clip_train opens the path as written, whatever the working directory)."""
    (folder / "images").mkdir()
    rows: dict[str, list[tuple[str, str, str]]] = {TRAIN_FILE: [], VAL_FILE: []}
    with reporter.progress("Writing the training pairs for open_clip_train", data.pairs) as advance:
        for number, pair in enumerate(data):
            name = f"images/{number:08d}"
            (folder / name).write_bytes(pair.image_bytes)
            rows[VAL_FILE if number in held_out else TRAIN_FILE].append((str(final / name), pair.caption, pair.key))
            advance(1)
    for table, table_rows in rows.items():
        if table_rows:
            _write_table(folder / table, table_rows)


def _write_table(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """The table at `path` of (image file, caption, pair key) rows, checked by reading it
    back as open_clip_train reads it."""
    import pandas as pd

    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=SEPARATOR, lineterminator="\n")
        writer.writerow([IMAGE_KEY, CAPTION_KEY])
        writer.writerows((image, caption) for image, caption, _ in rows)
    read = pd.read_csv(path, sep=SEPARATOR)[CAPTION_KEY].tolist()
    if len(read) != len(rows):
        raise RuntimeError(f"{path} reads back as {len(read)} rows, not the {len(rows)} written")
    for (_, caption, key), back in zip(rows, read):
        if str(back) != caption:
            raise MarsZooError(
                f"Training pair {printable(key)} has the caption {printable(caption)!r}, which open_clip_train's "
                f"table reader (pandas) reads back as {printable(str(back))!r}. Fix: reword that caption (pandas "
                f"reads captions such as 'NA', 'null' or 'nan' as missing values), or remove the pair."
            )
