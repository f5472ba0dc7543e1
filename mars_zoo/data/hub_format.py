"""Writers for the benchmark's on-disk formats: the Hub repositories' layouts and
the tile gallery.

One writer per format. The mini benchmark and the tests that build Hub-format
copies both use these, so the readers are always tested against files laid out
and encoded the way the Hub serves them: parquet written through `datasets` (so the
schema carries the `huggingface` features metadata: Image, ClassLabel) under
`data/{split}-0000i-of-0000n.parquet`; plain CSV and image folders for the
geo-localization repository; tar shards of PNG tiles for the gallery.

Output is byte-for-byte reproducible: images are encoded with fixed settings, tar
members get a fixed mtime and owner, and nothing records a timestamp. Every file is
written to a temporary name in its directory and renamed into place.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
from PIL import Image

from mars_zoo.core.atomic import atomic_output, atomic_path, atomic_write_bytes
from mars_zoo.data.specs import TILE_SHARD_SIZE
from mars_zoo.data.quiet import quiet_datasets
from mars_zoo.data.tile_names import parse_tile_name

if TYPE_CHECKING:  # pragma: no cover
    from datasets import Features

PNG_COMPRESS_LEVEL = 6
JPEG_QUALITY = 90
TAR_MTIME = 0
SHARD_PREFIX = "tiles-"
SHARD_GLOB = f"{SHARD_PREFIX}*.tar"
# The gallery's index: {"tiles": N, "shards": [{"file": "tiles-000000.tar", "members": n}, ...]}
# (a built gallery's adds how it was built). The reader checks the gallery against it.
GALLERY_INDEX = "tiles.json"


def encode_image(image: "Image.Image | np.ndarray", image_format: str = "PNG") -> bytes:
    """Encode with fixed settings (no timestamps, fixed compression) so bytes are reproducible."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    if image_format == "PNG":
        image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    elif image_format == "JPEG":
        image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        raise ValueError(f"unsupported image format {image_format!r}")
    return buffer.getvalue()


def write_parquet_split(
    repo_dir: Path, split: str, columns: dict[str, list], features: "Features", num_shards: int = 1
) -> list[Path]:
    """Write one split as `push_to_hub` lays it out: data/{split}-{i:05d}-of-{n:05d}.parquet."""
    from datasets import Dataset

    dataset = Dataset.from_dict(columns, features=features)
    paths = []
    with quiet_datasets():
        for index in range(num_shards):
            path = repo_dir / "data" / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"
            with atomic_path(path) as tmp:
                dataset.shard(num_shards, index, contiguous=True).to_parquet(str(tmp))
            paths.append(path)
    return paths


SYNTHETIC_MARKER = "MARS_ZOO_SYNTHETIC"


def mark_synthetic(repo_dir: Path) -> None:
    """Leave a machine-readable marker in a folder of generated data, so that a copy of it
    read through --data-dir or --tiles is still recorded as synthetic in every result."""
    atomic_write_bytes(repo_dir / SYNTHETIC_MARKER, b"generated test data, not Mars data\n")


def is_synthetic(repo_dir: Path) -> bool:
    return (repo_dir / SYNTHETIC_MARKER).is_file()


def write_readme(repo_dir: Path, title: str, body: str, tags: Sequence[str] = ()) -> None:
    """A dataset card: YAML metadata (so `datasets` finds a card) and a text body."""
    tag_lines = "tags:\n" + "".join(f"- {tag}\n" for tag in tags) if tags else ""
    text = f"---\nlicense: apache-2.0\n{tag_lines}---\n\n# {title}\n\n{body.strip()}\n"
    atomic_write_bytes(repo_dir / "README.md", text.encode("utf-8"))


def _pixel_sha256(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        return hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()


def write_pairs_frozen(repo_dir: Path, records: Sequence[dict], split: str = "test") -> list[Path]:
    """The task 1 frozen copy (Cerru02/Mars-VL-Pairs-MTEB layout).

    Each record needs `key`, `image` (encoded bytes), `ori_caption`, `refined_caption`,
    `source_url`, `resolved_url`, `recovery_method`; the image-derived columns
    (hashes, size, format, domain) are computed here from the bytes.
    """
    from urllib.parse import urlparse

    from datasets import Features, Value
    from datasets import Image as ImageFeature

    string = Value("string")
    features = Features(
        {
            "key": string,
            "image": ImageFeature(),
            "ori_caption": string,
            "refined_caption": string,
            "source_url": string,
            "resolved_url": string,
            "source_domain": string,
            "recovery_method": string,
            "content_sha256": string,
            "pixel_sha256": string,
            "width": Value("int64"),
            "height": Value("int64"),
            "image_format": string,
            "file_size": Value("int64"),
        }
    )
    columns: dict[str, list] = {name: [] for name in features}
    for record in records:
        data = record["image"]
        with Image.open(io.BytesIO(data)) as image:
            width, height, image_format = image.width, image.height, image.format
        row = {
            "key": record["key"],
            "image": {"bytes": data, "path": None},
            "ori_caption": record["ori_caption"],
            "refined_caption": record["refined_caption"],
            "source_url": record["source_url"],
            "resolved_url": record["resolved_url"],
            "source_domain": urlparse(record["source_url"]).hostname or "",
            "recovery_method": record["recovery_method"],
            "content_sha256": hashlib.sha256(data).hexdigest(),
            "pixel_sha256": _pixel_sha256(data),
            "width": width,
            "height": height,
            "image_format": image_format,
            "file_size": len(data),
        }
        for name, value in row.items():
            columns[name].append(value)
    return write_parquet_split(repo_dir, split, columns, features)


def write_pairs_urls(repo_dir: Path, rows: Sequence[dict], split: str = "train") -> list[Path]:
    """The task 1 original (SUSTech/Mars-VL-Pairs layout): key, image_url and the two captions."""
    from datasets import Features, Value

    names = ("key", "image_url", "ori_caption", "refined_caption")
    features = Features({name: Value("string") for name in names})
    columns = {name: [row[name] for row in rows] for name in names}
    return write_parquet_split(repo_dir, split, columns, features)


def write_landforms(
    repo_dir: Path,
    images: Sequence[bytes],
    labels: Sequence[int],
    class_names: Sequence[str],
    image_ids: Sequence[str] | None = None,
    split: str = "train",
    num_shards: int = 2,
) -> list[Path]:
    """Task 2 (SUSTech/Mars-Landforms layout): `image` (Image), `label` (ClassLabel with
    the class names) and, when given, `image_id`."""
    from datasets import ClassLabel, Features, Value
    from datasets import Image as ImageFeature

    spec = {"image": ImageFeature(), "label": ClassLabel(names=list(class_names))}
    columns: dict[str, list] = {
        "image": [{"bytes": data, "path": None} for data in images],
        "label": list(labels),
    }
    if image_ids is not None:
        spec["image_id"] = Value("string")
        columns["image_id"] = list(image_ids)
    return write_parquet_split(repo_dir, split, columns, Features(spec), num_shards)


def write_ground_truth(path: Path, lonlat: np.ndarray) -> None:
    """One landform's ground truth: a CSV with columns lon, lat."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["lon", "lat"])
    for lon, lat in np.asarray(lonlat, dtype=np.float64):
        writer.writerow([f"{lon:.4f}", f"{lat:.4f}"])
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def write_geolocalization(
    repo_dir: Path,
    ground_truth: dict[str, np.ndarray],
    query_images: dict[str, Sequence[tuple[str, bytes]]],
    mars_map: tuple[str, bytes],
) -> None:
    """Task 3 (SUSTech/Mars-Global-Geolocalization layout): ground_truth/<landform>.csv,
    image_queries/<landform>/<file>, mars_map/<file>."""
    for landform, lonlat in ground_truth.items():
        write_ground_truth(repo_dir / "ground_truth" / f"{landform}.csv", lonlat)
    for landform, files in query_images.items():
        for file_name, data in files:
            atomic_write_bytes(repo_dir / "image_queries" / landform / file_name, data)
    atomic_write_bytes(repo_dir / "mars_map" / mars_map[0], mars_map[1])


def write_tile_shard(path: Path, tiles: Iterable[tuple[str, bytes]]) -> None:
    """One tar of PNG tiles named by the tile naming rule, in the order given, with fixed
    member headers so its bytes depend only on its tiles. `tiles` is consumed as it is
    written (it may stream from other tars); the tar appears at `path` complete or not at
    all."""
    with atomic_output(path) as handle:
        with tarfile.open(fileobj=handle, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, data in tiles:
                parse_tile_name(name)  # refuse to write a tile the reader would reject
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = TAR_MTIME
                info.mode = 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))


def shard_name(index: int) -> str:
    """The gallery's shard file names: tiles-000000.tar, tiles-000001.tar, ..."""
    return f"{SHARD_PREFIX}{index:06d}.tar"


def write_tile_shards(
    dest_dir: Path, tiles: Iterable[tuple[str, bytes]], shard_size: int = TILE_SHARD_SIZE
) -> list[Path]:
    """The tile gallery: tiles-000000.tar, tiles-000001.tar, ... with `shard_size` tiles
    each, in the order given (pass them sorted for a reproducible gallery), and its index
    (`GALLERY_INDEX`), written last."""
    paths: list[Path] = []
    members: list[int] = []
    batch: list[tuple[str, bytes]] = []

    def flush() -> None:
        path = dest_dir / shard_name(len(paths))
        write_tile_shard(path, batch)
        paths.append(path)
        members.append(len(batch))
        batch.clear()

    for tile in tiles:
        batch.append(tile)
        if len(batch) == shard_size:
            flush()
    if batch:
        flush()
    index = {"tiles": sum(members), "shards": [{"file": p.name, "members": n} for p, n in zip(paths, members)]}
    atomic_write_bytes(dest_dir / GALLERY_INDEX, json.dumps(index, indent=1).encode())
    return paths
