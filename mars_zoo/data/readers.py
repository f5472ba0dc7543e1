"""Readers: a dataset directory in the Hub layout -> the records the tasks consume.

A directory is either a Hub snapshot (resolved by `hub.snapshot`) or a local copy;
the readers cannot tell them apart, which is the point. Parquet repositories are
read with `datasets.load_dataset(<directory>, split=...)`, exactly as for a repository
id, so Image and ClassLabel features come from the parquet's own metadata.

The image collections here (`ImageSource`s) decode lazily in `__getitem__` and pickle
cheaply (a memory-mapped Arrow file, a list of paths, or an index into tar shards),
so DataLoader workers can decode in parallel. Every image comes out RGB. An image that
does not decode is a `MarsZooError` naming the item, its file or shard, and the fix
(it carries only a string, so it survives the trip back from a worker process).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np
from PIL import Image

from mars_zoo.data.images import resize_center_crop
from mars_zoo.data.quiet import quiet_datasets
from mars_zoo.data.tile_names import parse_tile_name
from mars_zoo.data.types import DatasetRef, GeoData, LandformData, PairsData, TileGallery
from mars_zoo.errors import MarsZooError
from mars_zoo.protocol import GEO_LANDFORMS, PAIRED_CAPTION_COLUMNS, PAIRED_IMAGE_SIZE
from mars_zoo.reporting import Reporter

if TYPE_CHECKING:  # pragma: no cover
    from datasets import Dataset

# The query image files the published evaluation code reads (compared case-insensitively).
QUERY_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
# What PIL raises for bytes that are not a (complete) image: UnidentifiedImageError and
# "image file is truncated" are OSErrors; some plugins raise SyntaxError or EOFError.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
_HASHED_SUFFIXES = (".parquet", ".csv")
_MAX_OPEN_SHARDS = 32


# ---------------------------------------------------------------------------------------
# Directories and fingerprints


def require_dir(path: Path, what: str, fix: str) -> None:
    if not path.is_dir():
        raise MarsZooError(f"{what} is missing: {path} is not a directory. Fix: {fix}.")


def _visible_files(root: Path) -> list[Path]:
    """Files under `root` sorted by their path relative to `root` (so the order never
    depends on the file system), skipping hidden entries (download caches, temp files)."""
    found = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        found += [Path(directory) / name for name in files if not name.startswith(".")]
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks (shards can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_fingerprint(root: Path) -> str:
    """The revision of a local copy: a hash of its file names, sizes and the bytes of its
    tables (parquet, CSV). Unlike mtimes, it is the same for every copy of the same data;
    unlike hashing every image, it stays cheap."""
    digest = hashlib.sha256()
    for path in _visible_files(root):
        digest.update(path.relative_to(root).as_posix().encode("utf-8"))
        digest.update(f"\0{path.stat().st_size}\0".encode())
        if path.suffix.lower() in _HASHED_SUFFIXES:
            digest.update(file_sha256(path).encode())
        digest.update(b"\n")
    return f"content-sha256:{digest.hexdigest()}"


# ---------------------------------------------------------------------------------------
# Image sources


def _decode(data: bytes | str, size: int | None, item: str, where: str, fix: str) -> Image.Image:
    """Encoded bytes or a file path -> an RGB image, optionally resized and centre-cropped.
    `item`, `where` and `fix` name the image, its file or shard, and the remedy if it
    does not decode."""
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            image = image.convert("RGB")
    except DECODE_ERRORS as exc:
        raise MarsZooError(
            f"Image {item} ({where}) cannot be read as an image ({type(exc).__name__}: {exc}). "
            f"Fix: {fix}."
        ) from None  # the reason is in the message; a chained traceback would not cross processes
    return resize_center_crop(image, size) if size else image


def _decodes(data: bytes | None) -> bool:
    """Whether `data` opens as an image and passes PIL's integrity check (headers, and for
    PNG the chunk checksums) without decoding the pixels: cheap enough for every row."""
    if data is None:
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except DECODE_ERRORS:
        return False
    return True


class NameList(Sequence[str]):
    """Item ids stored as one ASCII byte array: a 1.4-million-tile gallery's ids pickle as
    one buffer instead of 1.4 million string objects."""

    def __init__(self, names: Sequence[str]) -> None:
        self._names = np.array([name.encode("ascii") for name in names], dtype=bytes)

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [name.decode("ascii") for name in self._names[index]]
        return self._names[index].decode("ascii")

    def __iter__(self) -> Iterator[str]:
        return (name.decode("ascii") for name in self._names.tolist())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"NameList({len(self)} names)"


class DatasetImageSource:
    """The images of one Image column of a `datasets.Dataset` (memory-mapped Arrow: pickles
    as a file reference). Decoding happens here, not in `datasets`, so the bytes are read
    only for the image asked for and every image is converted the same way. `where` names
    the copy (dataset id and folder) in errors."""

    def __init__(
        self, dataset: "Dataset", column: str, ids: Sequence[str], where: str, size: int | None = None
    ) -> None:
        from datasets import Image as ImageFeature

        if len(ids) != len(dataset):
            raise ValueError("one id per row is required")
        self._dataset = dataset.select_columns([column]).cast_column(column, ImageFeature(decode=False))
        self._column = column
        self.ids = list(ids)
        self.where = where
        self.size = size

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Image.Image:
        index = int(index)
        value = self._dataset[index][self._column]
        return _decode(
            value["bytes"], self.size, self.ids[index], f"row {index} of {self.where}",
            "download the dataset again with `mars-zoo data download`, or replace the copy",
        )


class FileImageSource:
    """Images in files (query images, PNG tile galleries, fetched URL images); `fix` says
    what to do about a file that does not decode."""

    def __init__(
        self, paths: Sequence[str | Path], ids: Sequence[str], fix: str, size: int | None = None
    ) -> None:
        if len(ids) != len(paths):
            raise ValueError("one id per path is required")
        self.paths = [str(path) for path in paths]
        self.ids = ids
        self.fix = fix
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Image.Image:
        path = self.paths[int(index)]
        return _decode(path, self.size, self.ids[int(index)], path, self.fix)


class TarImageSource:
    """Images stored as members of tar shards, read by offset.

    The index (shard, byte offset, size per image) is built once from the tar headers;
    reads are `os.pread` on descriptors opened lazily in each process, so a forked
    DataLoader worker never shares a file position with its parent.
    """

    def __init__(
        self, shards: Sequence[str], ids: NameList, shard: np.ndarray, offset: np.ndarray, size: np.ndarray
    ) -> None:
        self._fds: dict[int, int] = {}
        self.shards = list(shards)
        self.ids = ids
        self._shard = shard
        self._offset = offset
        self._size = size

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fds"] = {}
        return state

    def _fd(self, shard: int) -> int:
        fd = self._fds.get(shard)
        if fd is None:
            if len(self._fds) >= _MAX_OPEN_SHARDS:
                os.close(self._fds.pop(next(iter(self._fds))))
            fd = self._fds[shard] = os.open(self.shards[shard], os.O_RDONLY)
        return fd

    def __getitem__(self, index: int) -> Image.Image:
        index = int(index)
        size = int(self._size[index])
        data = os.pread(self._fd(int(self._shard[index])), size, int(self._offset[index]))
        if len(data) != size:
            raise MarsZooError(
                f"Tile {self.ids[index]} is truncated in {self.shards[int(self._shard[index])]}: "
                f"the shard changed after it was indexed. Re-run to index it again."
            )
        shard = self.shards[int(self._shard[index])]
        return _decode(
            data, None, self.ids[index], f"member of {shard}",
            "rebuild the gallery with `mars-zoo tiles build`, or copy the shard again",
        )

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self) -> None:
        self.close()


# ---------------------------------------------------------------------------------------
# Parquet repositories (tasks 1 and 2)


def load_split(path: Path, split: str, required: Sequence[str], dataset_id: str) -> "Dataset":
    """`datasets.load_dataset` on a directory in the Hub layout, with its columns checked
    (quietly: the caller's reporter shows progress, and a failure is one MarsZooError)."""
    from datasets import load_dataset

    try:
        with quiet_datasets():
            dataset = load_dataset(str(path), split=split)
    except Exception as exc:  # datasets raises many types for a bad directory; name the place
        reason = f"{type(exc).__name__}: {str(exc).rstrip('.')}"
        raise MarsZooError(
            f"Could not read split {split!r} of {dataset_id} from {path} ({reason}). Fix: the "
            f"directory must hold the repository's files as on the Hub "
            f"(data/{split}-00000-of-0000N.parquet); download it again with `mars-zoo data download` "
            f"or replace the copy."
        ) from exc
    missing = [column for column in required if column not in dataset.column_names]
    if missing:
        raise MarsZooError(
            f"{dataset_id} at {path} lacks the column(s) {', '.join(missing)} (it has "
            f"{', '.join(dataset.column_names)}). Fix: use a copy of the benchmark's revision of "
            f"{dataset_id}, which has them."
        )
    return dataset


def _strings(dataset: "Dataset", column: str) -> list:
    return dataset.with_format("arrow")[column].to_pylist()


def _check_unique(keys: Sequence[str], what: str, path: Path) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise MarsZooError(f"{what} at {path} has a duplicate key {key!r}; keys must be unique.")
        seen.add(key)


def read_pairs_frozen(path: Path, ref: DatasetRef, caption_column: str) -> PairsData:
    """Task 1 from the frozen copy: the image bytes are in the parquet; each image is
    resized and centre-cropped to 512 when it is decoded. Rows without a caption, or
    whose image is absent or fails PIL's open-and-verify check, are listed in `missing`,
    never dropped silently (the check reads each image once, without decoding pixels)."""
    import pyarrow.compute as pc

    dataset = load_split(path, ref.split or "test", ("key", "image", caption_column), ref.id)
    keys = [str(key) for key in _strings(dataset, "key")]
    _check_unique(keys, ref.id, path)
    captions = _strings(dataset, caption_column)
    images = pc.struct_field(dataset.with_format("arrow")["image"], "bytes")
    keep = [
        i for i, (caption, image) in enumerate(zip(captions, images))
        if caption and caption.strip() and _decodes(image.as_py())
    ]
    missing = [keys[i] for i in sorted(set(range(len(keys))) - set(keep))]
    if len(keep) < len(keys):
        dataset = dataset.select(keep)
    kept_keys = [keys[i] for i in keep]
    return PairsData(
        dataset=ref,
        keys=kept_keys,
        images=DatasetImageSource(dataset, "image", kept_keys, f"{ref.id} at {path}", PAIRED_IMAGE_SIZE),
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


def read_pairs_urls(path: Path, ref: DatasetRef) -> UrlRows:
    dataset = load_split(path, ref.split or "train", ("key", "image_url", *PAIRED_CAPTION_COLUMNS), ref.id)
    keys = [str(key) for key in _strings(dataset, "key")]
    _check_unique(keys, ref.id, path)
    captions = {column: _strings(dataset, column) for column in PAIRED_CAPTION_COLUMNS}
    return UrlRows(ref, keys, _strings(dataset, "image_url"), captions)


def fetch_pairs(rows: UrlRows, caption_column: str, cache_dir: Path, reporter: Reporter) -> PairsData:
    """Task 1 from the original rows: fetch every URL (cached), keep the pairs whose image
    arrived; the rest (dead links, undecodable images, empty rows) are listed in `missing`."""
    from mars_zoo.data.image_fetch import fetch_images

    captions = rows.captions[caption_column]
    items = [
        (key, url)
        for key, url, caption in zip(rows.keys, rows.urls, captions)
        if url and caption and caption.strip()
    ]
    report = fetch_images(items, cache_dir, reporter=reporter)
    kept = [i for i, key in enumerate(rows.keys) if key in report.paths]
    keys = [rows.keys[i] for i in kept]
    missing = [key for key in rows.keys if key not in report.paths]
    return PairsData(
        dataset=rows.dataset,
        keys=keys,
        # fetch_images hands back images already resized and centre-cropped to 512.
        images=FileImageSource(
            [report.paths[key] for key in keys], keys,
            "delete that cached file; the image is fetched again on the next run",
        ),
        captions=[captions[i] for i in kept],
        caption_column=caption_column,
        missing=missing,
        source_rows=len(rows.keys),
    )


def read_landforms(path: Path, ref: DatasetRef, reporter: Reporter) -> LandformData:
    """Task 2: every image with its label; class names come from the ClassLabel feature."""
    from datasets import ClassLabel

    dataset = load_split(path, ref.split or "train", ("image", "label"), ref.id)
    label_feature = dataset.features["label"]
    if not isinstance(label_feature, ClassLabel):
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
    return LandformData(
        dataset=ref,
        images=DatasetImageSource(dataset, "image", ids, f"{ref.id} at {path}"),
        labels=np.asarray(_strings(dataset, "label"), dtype=np.int64),
        class_names=list(label_feature.names),
    )


# ---------------------------------------------------------------------------------------
# Geo-localization repository (task 3)


def read_ground_truth(path: Path) -> np.ndarray:
    """A landform's ground truth CSV -> [G, 2] (lon, lat) in degrees."""
    if not path.is_file():
        raise MarsZooError(
            f"Ground truth {path} is missing. Fix: the geo-localization dataset needs one CSV per "
            f"landform ({', '.join(GEO_LANDFORMS)}) with columns lon, lat."
        )
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or ()]
        missing = [name for name in ("lon", "lat") if name not in columns]
        if missing:
            raise MarsZooError(
                f"Ground truth {path} lacks the column(s) {', '.join(missing)} (it has "
                f"{', '.join(columns) or 'no header'}). Fix: the CSV needs a header with lon and lat."
            )
        reader.fieldnames = columns
        points = []
        for row in reader:
            try:
                points.append((float(row["lon"]), float(row["lat"])))
            except (TypeError, ValueError):
                raise MarsZooError(
                    f"Ground truth {path}, line {reader.line_num}: lon/lat {row.get('lon')!r}, "
                    f"{row.get('lat')!r} are not numbers. Fix the row or use the Hub copy."
                ) from None
    if not points:
        raise MarsZooError(f"Ground truth {path} has no rows; every landform needs at least one point.")
    return np.asarray(points, dtype=np.float64)


def read_query_images(directory: Path) -> FileImageSource:
    """A landform's example images, sorted by file name (native size: the model's own
    preprocessing is the only transform, as in the published protocol).

    Every entry of the folder is a query image with one of the suffixes the published
    code reads (`QUERY_IMAGE_SUFFIXES`, any case), except hidden entries (download
    caches, editor and OS files) and a README (README or README.*), which are ignored.
    Anything else (another file, a subfolder) is an error rather than skipped: a query
    image silently left out would change the image and hybrid queries."""
    require_dir(directory, "A query image folder", f"put the landform's example images in {directory}")
    paths = []
    for path in sorted(directory.iterdir(), key=lambda path: path.name):
        if path.name.startswith("."):
            continue
        if path.is_file() and path.suffix.lower() in QUERY_IMAGE_SUFFIXES:
            paths.append(path)
        elif path.name.split(".")[0].upper() != "README":
            raise MarsZooError(
                f"{path} is not a query image: {directory} may hold only images "
                f"({', '.join(QUERY_IMAGE_SUFFIXES)}), and every one of them is used. Fix: move it "
                f"out of the folder, or convert it to one of those formats."
            )
    if not paths:
        raise MarsZooError(f"{directory} holds no query images ({', '.join(QUERY_IMAGE_SUFFIXES)}).")
    return FileImageSource(
        paths, [f"{directory.name}/{path.name}" for path in paths],
        "replace it with a valid image, or remove it from the query folder",
    )


def read_geolocalization(path: Path, ref: DatasetRef, gallery: TileGallery) -> GeoData:
    for folder in ("ground_truth", "image_queries"):
        fix = f"copy the repository's {folder}/ folder into {path}"
        require_dir(path / folder, f"Folder {folder}/ of {ref.id}", fix)
    return GeoData(
        dataset=ref,
        ground_truth={
            name: read_ground_truth(path / "ground_truth" / f"{name}.csv") for name in GEO_LANDFORMS
        },
        query_images={name: read_query_images(path / "image_queries" / name) for name in GEO_LANDFORMS},
        gallery=gallery,
    )


# ---------------------------------------------------------------------------------------
# Tile gallery (task 3, not on the Hub)


def _index_tar_shards(shards: list[Path], tiles_dir: Path, reporter: Reporter):
    names: list[str] = []
    shard_of: list[int] = []
    offsets: list[int] = []
    sizes: list[int] = []
    digest = hashlib.sha256()
    with reporter.progress(f"Indexing tile shards in {tiles_dir}", len(shards)) as advance:
        for number, shard in enumerate(shards):
            digest.update(f"{shard.relative_to(tiles_dir).as_posix()}\0{shard.stat().st_size}\n".encode())
            try:
                with tarfile.open(shard) as tar:
                    for member in tar:
                        if not member.isfile() or not member.name.lower().endswith(".png"):
                            continue
                        names.append(member.name.rsplit("/", 1)[-1])
                        shard_of.append(number)
                        offsets.append(member.offset_data)
                        sizes.append(member.size)
                        digest.update(f"{member.name}\0{member.size}\n".encode())
            except tarfile.TarError as exc:
                raise MarsZooError(
                    f"Tile shard {shard} is not a readable tar file ({exc}). Fix: rebuild or re-copy it."
                ) from exc
            advance(1)
    index = (
        np.asarray(shard_of, dtype=np.int32),
        np.asarray(offsets, dtype=np.int64),
        np.asarray(sizes, dtype=np.int64),
    )
    return names, index, digest


def _tile_lonlat(names: Sequence[str], where: Sequence[str]) -> np.ndarray:
    lonlat = np.empty((len(names), 2), dtype=np.float64)
    for i, name in enumerate(names):
        try:
            lonlat[i] = parse_tile_name(name)
        except MarsZooError as exc:
            raise MarsZooError(f"{exc} Found in {where[i]}; rename or remove that tile.") from None
    return lonlat


def _check_unique_tiles(names: Sequence[str], where: Sequence[str]) -> None:
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        j = first.setdefault(name, i)
        if j != i:
            raise MarsZooError(
                f"Tile {name} appears twice, in {where[j]} and {where[i]}; each tile must appear once."
            )


def read_tile_gallery(tiles_dir: Path, gallery_id: str, synthetic: bool, reporter: Reporter) -> TileGallery:
    """The gallery: tar shards (preferred) or PNG files, possibly in subfolders, each tile
    named by its lower-left corner. Order: shards (or files) sorted by their path relative
    to `tiles_dir` (as the published code sorts its shard paths), members in shard order.
    Ids are the tile file names."""
    tiles_dir = Path(tiles_dir)
    require_dir(
        tiles_dir,
        "The tile gallery",
        "build the gallery with `mars-zoo tiles build` and pass its folder with --tiles DIR",
    )
    files = _visible_files(tiles_dir)
    shards = [path for path in files if path.suffix.lower() == ".tar"]
    if shards:
        names, (shard_of, offsets, sizes), digest = _index_tar_shards(shards, tiles_dir, reporter)
        where = [str(shards[number]) for number in shard_of]
    else:
        pngs = [path for path in files if path.suffix.lower() == ".png"]
        names = [path.name for path in pngs]
        where = [str(path) for path in pngs]
        digest = hashlib.sha256()
        for path in pngs:
            digest.update(f"{path.relative_to(tiles_dir).as_posix()}\0{path.stat().st_size}\n".encode())
    if not names:
        raise MarsZooError(
            f"No tiles found in {tiles_dir}: expected tar shards of PNG tiles (tiles-000000.tar, ...) or "
            f"PNG files named E{{lon}}_N{{lat}}.png. Fix: point --tiles at the built gallery."
        )
    lonlat = _tile_lonlat(names, where)
    _check_unique_tiles(names, where)
    if shards:
        images = TarImageSource([str(path) for path in shards], NameList(names), shard_of, offsets, sizes)
    else:
        images = FileImageSource(
            pngs, NameList(names), "rebuild the gallery with `mars-zoo tiles build`, or replace the file"
        )
    ref = DatasetRef(gallery_id, f"content-sha256:{digest.hexdigest()}", None, str(tiles_dir), synthetic)
    return TileGallery(source=ref, images=images, lonlat=lonlat)
