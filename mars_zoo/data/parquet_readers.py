"""Parquet repositories (tasks 1 and 2): a copy in the Hub layout -> pairs and landforms.

A directory is either a Hub snapshot (resolved by `hub.snapshot`) or a local copy;
these readers cannot tell them apart, which is the point. Parquet repositories are
read with `datasets.load_dataset(<directory>, split=...)`, exactly as for a repository
id, so Image and ClassLabel features come from the parquet's own metadata; later runs
map the Arrow files datasets made then (`arrow_splits`), without importing datasets.

datasets keeps the Arrow files it converts in a cache that knows a local file by its
path and modification time alone, so a parquet file edited in place with its time put
back would be read as it was. The copy's revision sees the edit (the hash of its bytes,
by the stat rule of `mars_zoo.core.stat_memo`), so datasets is given a cache folder of its
own for each copy and revision (`datasets/` in the mars-zoo cache): a new revision is
converted afresh.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mars_zoo.data.arrow_splits import ArrowSplit, open_split
from mars_zoo.data.decoding import decodes, header_problem, refused
from mars_zoo.data.image_sources import DatasetImageSource, FileImageSource
from mars_zoo.data.images import MTEB_PREPARATION, PUBLISHED_PREPARATION
from mars_zoo.data.quiet import quiet_datasets
from mars_zoo.data.types import DatasetRef, LandformData, PairsData
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.protocol import PAIRED_CAPTION_COLUMNS, paired_row_kept
from mars_zoo.core.reporting import Reporter

DATASETS_DIRNAME = "datasets"


def load_split(path: Path, ref: DatasetRef, split: str, required: Sequence[str], cache_dir: Path) -> ArrowSplit:
    """The split of a directory in the Hub layout, with its columns checked: loaded by
    `datasets.load_dataset` (quietly: the caller's reporter shows progress, and a failure
    is one MarsZooError), or mapped from what it made for the same revision before."""
    converted = cache_dir / DATASETS_DIRNAME / _copy_key(path, ref.revision)
    dataset = open_split(path, ref.revision, split, cache_dir / "splits",
                         lambda: _load_dataset(path, split, ref.id, converted))
    missing = [column for column in required if column not in dataset.column_names]
    if missing:
        raise MarsZooError(
            f"{ref.id} at {path} lacks the column(s) {', '.join(missing)} (it has "
            f"{', '.join(dataset.column_names)}). Fix: use a copy of the benchmark's revision of "
            f"{ref.id}, which has them."
        )
    return dataset


def _copy_key(path: Path, revision: str) -> str:
    return hashlib.sha256(json.dumps([str(path.resolve()), revision]).encode("utf-8")).hexdigest()[:32]


def _load_dataset(path: Path, split: str, dataset_id: str, converted: Path):
    """The split loaded by datasets, which keeps its Arrow files in `converted` (see the
    module docstring)."""
    from datasets import load_dataset

    try:
        with quiet_datasets():
            return load_dataset(str(path), split=split, cache_dir=str(converted))
    except Exception as exc:  # datasets raises many types for a bad directory; name the place
        reason = f"{type(exc).__name__}: {str(exc).rstrip('.')}"
        raise MarsZooError(
            f"Could not read split {split!r} of {dataset_id} from {path} ({reason}). Fix: the "
            f"directory must hold the repository's files as on the Hub "
            f"(data/{split}-00000-of-0000N.parquet); download it again with `mars-zoo data download` "
            f"or replace the copy."
        ) from exc


def _strings(dataset: ArrowSplit, column: str) -> list:
    return dataset.column(column).to_pylist()


def _check_unique(keys: Sequence[str], what: str, path: Path) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise MarsZooError(f"{what} at {path} has a duplicate key {key!r}; keys must be unique.")
        seen.add(key)


def read_pairs_frozen(
    path: Path, ref: DatasetRef, caption_column: str, cache_dir: Path, preparation: str = PUBLISHED_PREPARATION
) -> PairsData:
    """Task 1 from the frozen copy: the image bytes are in the parquet; each image goes
    through `preparation` (the published one, or MTEB's) when it is decoded. Rows the
    published caption rule drops (`paired_row_kept`), and rows whose image is absent or fails
    PIL's open-and-verify check (with PIL's own bomb limits under MTEB's preparation, as
    `datasets` decodes), are listed in `missing`, never dropped silently (the check reads each
    image once, without decoding pixels)."""
    import pyarrow.compute as pc

    dataset = load_split(path, ref, ref.split or "test", ("key", "image", *PAIRED_CAPTION_COLUMNS), cache_dir)
    keys = [str(key) for key in _strings(dataset, "key")]
    _check_unique(keys, ref.id, path)
    both = {column: _strings(dataset, column) for column in PAIRED_CAPTION_COLUMNS}
    captions = both[caption_column]
    images = pc.struct_field(dataset.column("image"), "bytes")
    keep = [
        i for i, (ori, refined, image) in enumerate(zip(both["ori_caption"], both["refined_caption"], images))
        if paired_row_kept(ori, refined) and decodes(image.as_py(), strict_bombs=preparation != MTEB_PREPARATION)
    ]
    missing = [keys[i] for i in sorted(set(range(len(keys))) - set(keep))]
    if len(keep) < len(keys):
        dataset = dataset.select(keep)
    kept_keys = [keys[i] for i in keep]
    return PairsData(
        dataset=ref,
        keys=kept_keys,
        images=DatasetImageSource(
            dataset, "image", kept_keys, f"{ref.id} at {path}", preparation=preparation
        ),
        captions=[captions[i] for i in keep],
        caption_column=caption_column,
        missing=missing,
        source_rows=len(keys),
    )


@dataclass
class UrlRows:
    """The original task 1 rows: image URLs and both captions, before fetching."""

    dataset: DatasetRef
    keys: list[str]
    urls: list[str | None]
    captions: dict[str, list[str | None]]


def read_pairs_urls(path: Path, ref: DatasetRef, cache_dir: Path) -> UrlRows:
    dataset = load_split(path, ref, ref.split or "train", ("key", "image_url", *PAIRED_CAPTION_COLUMNS), cache_dir)
    keys = [str(key) for key in _strings(dataset, "key")]
    _check_unique(keys, ref.id, path)
    captions = {column: _strings(dataset, column) for column in PAIRED_CAPTION_COLUMNS}
    return UrlRows(ref, keys, _strings(dataset, "image_url"), captions)


def fetch_pairs(rows: UrlRows, caption_column: str, cache_dir: Path, reporter: Reporter) -> PairsData:
    """Task 1 from the original rows: fetch the URL of every row the published caption rule
    keeps (`paired_row_kept`), cached; keep the pairs whose image arrived. The rest (dead
    links, undecodable images, rows without a URL or dropped by the caption rule) are
    listed in `missing`."""
    from mars_zoo.data.image_fetch import fetch_images

    captions = rows.captions[caption_column]
    items = [
        (key, url)
        for key, url, ori, refined in zip(
            rows.keys, rows.urls, rows.captions["ori_caption"], rows.captions["refined_caption"]
        )
        if url and paired_row_kept(ori, refined)
    ]
    report = fetch_images(items, cache_dir, reporter=reporter)
    kept = [i for i, key in enumerate(rows.keys) if key in report.paths]
    keys = [rows.keys[i] for i in kept]
    missing = [key for key in rows.keys if key not in report.paths]
    return PairsData(
        dataset=rows.dataset,
        keys=keys,
        # fetch_images hands back the images already prepared as the published step does.
        images=FileImageSource(
            [report.paths[key] for key in keys], keys,
            "delete that cached file; the image is fetched again on the next run",
        ),
        captions=[captions[i] for i in kept],
        caption_column=caption_column,
        missing=missing,
        source_rows=len(rows.keys),
    )


def read_landforms(path: Path, ref: DatasetRef, reporter: Reporter, cache_dir: Path) -> LandformData:
    """Task 2: every image with its label; class names come from the ClassLabel feature."""
    dataset = load_split(path, ref, ref.split or "train", ("image", "label"), cache_dir)
    label_feature = dataset.features["label"]
    if label_feature.get("_type") != "ClassLabel":
        raise MarsZooError(
            f"Column 'label' of {ref.id} at {path} is {label_feature!r}, not a ClassLabel: the class "
            f"names are needed for the text queries. Fix: use the Hub copy, whose label is a ClassLabel."
        )
    ids = [str(index) for index in range(len(dataset))]
    id_column = next((name for name in ("image_id", "id") if name in dataset.column_names), None)
    if id_column is not None:
        values = [str(value) for value in _strings(dataset, id_column)]
        if len(set(values)) == len(values):
            ids = values
        else:
            reporter.warn(f"Column {id_column!r} of {ref.id} is not unique; images are identified by row.")
    labels = _strings(dataset, "label")
    names = list(label_feature["names"])
    for row, label in enumerate(labels):
        if label is None or not 0 <= label < len(names):
            raise MarsZooError(
                f"{ref.id} at {path}, {_row_place(path, ref.split or 'train', row)}: label {label!r} is "
                f"not a class of its ClassLabel (0..{len(names) - 1}: {', '.join(names)}). Fix: correct "
                f"that row's label, or download the dataset again with `mars-zoo data download`."
            )
    _check_image_headers(dataset, ids, path, ref)
    return LandformData(
        dataset=ref,
        images=DatasetImageSource(dataset, "image", ids, f"{ref.id} at {path}"),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=names,
    )


def _row_place(path: Path, split: str, row: int) -> str:
    """Which parquet file and row of it hold row `row` of the split: `load_dataset` reads
    the split's files (data/{split}-*.parquet) in name order."""
    import pyarrow.parquet as pq

    start = 0
    for file in sorted((path / "data").glob(f"{split}-*.parquet")):
        rows = pq.ParquetFile(file).metadata.num_rows
        if row < start + rows:
            return f"file {file}, row {row - start} (row {row} of split {split!r})"
        start += rows
    return f"row {row} of split {split!r}"


def _check_image_headers(dataset: ArrowSplit, ids: Sequence[str], path: Path, ref: DatasetRef) -> None:
    """Every image of the column opens (header only) as a usable image, before any is
    embedded: an absent image, bytes that are no image, a decompression bomb."""
    import pyarrow.compute as pc

    images = pc.struct_field(dataset.column("image"), "bytes")
    split = ref.split or "train"
    fix = "replace that row's image, or download the dataset again with `mars-zoo data download`"
    for row, data in enumerate(images):
        problem = header_problem(data.as_py())
        if problem is not None:
            raise refused(ids[row], f"{ref.id} at {path}, {_row_place(path, split, row)}", fix, problem)
