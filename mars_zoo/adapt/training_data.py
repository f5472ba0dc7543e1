"""Image-text training pairs, whatever container they come in, as one stream of pairs.

`open_training_data(source)` takes

- `"mini"`: the mini benchmark's synthetic training split (`mars_zoo.data.mini`), generated
  in the mars-zoo cache on first use, disjoint from the mini benchmark's test items;
- a Hugging Face Hub dataset id (`org/name`, read at `revision`: a commit, branch or tag),
  downloaded into the Hugging Face cache, or found there offline;
- a local path: a copy of such a dataset (a folder), one parquet file, one WebDataset tar
  shard, or a folder of tar shards.

A parquet dataset has an image column (the Hub's Image feature, a struct of bytes and
path, or plain binary) and a caption column (text), named by `image_column` and
`caption_column`; a `key` column, where there is one, names its pairs (otherwise a pair
is named `<file>#<row>`). In WebDataset tar shards a sample is the files that share a
key (`0001.jpg`, `0001.txt`), and the column names are file extensions: by default the
image is the sample's jpg, jpeg, png or webp file and the caption its txt file. Where a
folder's files name their split the Hub's way (`data/train-00000-of-00002.parquet`,
`train/...`), only the train split is read.

The fingerprint names the pairs, not their container: a sha256 over every pair in order
(its image's sha256 and its caption), so the same pairs re-sharded or moved from parquet
to tar keep it, and one changed byte of an image or caption changes it. It costs a read
of every image, so the first complete iteration computes it on the way (whoever iterates:
fine-tuning, the contamination check) and asking for it before does that read.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import Reporter, printable

MINI_SOURCE = "mini"
PARQUET_SUFFIX = ".parquet"
TAR_SUFFIX = ".tar"
KEY_COLUMN = "key"
DEFAULT_IMAGE_COLUMN = "image"
DEFAULT_CAPTION_COLUMN = "caption"
TAR_IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
TAR_CAPTION_EXTENSION = "txt"
SPLIT_NAMES = ("train", "test", "validation", "valid", "val", "dev")
TRAIN_SPLIT = "train"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_BATCH_ROWS = 256  # parquet rows decoded at a time: bounded memory whatever the file's size


@dataclass(frozen=True)
class TrainingPair:
    """One image and its caption; `key` names it in messages and reports."""

    key: str
    image_bytes: bytes
    caption: str


PairReader = Callable[[Path], Iterator[TrainingPair]]


class TrainingData:
    """Training pairs from `files`, in order; iterate for `TrainingPair`s.

    `name` is the Hub id (or the local file or folder's name, or the mini split's id),
    `revision` the Hub commit read (None for a local copy: its fingerprint names it)."""

    def __init__(self, name: str, revision: str | None, root: Path, files: list[Path], read: PairReader) -> None:
        self.name = name
        self.revision = revision
        self.root = root
        self.files = files
        self._read = read
        self._summary: tuple[str, int] | None = None  # (fingerprint, pairs), once a whole pass was made

    def __iter__(self) -> Iterator[TrainingPair]:
        digest, count = hashlib.sha256(), 0
        for file in self.files:
            for pair in self._read(file):
                digest.update(pair_digest(pair))
                count += 1
                yield pair
        self._summary = (f"sha256:{digest.hexdigest()}", count)

    def _complete(self) -> tuple[str, int]:
        if self._summary is None:
            for _ in self:
                pass
        assert self._summary is not None
        return self._summary

    @property
    def fingerprint(self) -> str:
        """"sha256:<64 hex>" over every pair (see the module's docstring)."""
        return self._complete()[0]

    @property
    def pairs(self) -> int:
        """How many pairs there are."""
        return self._complete()[1]

    def __repr__(self) -> str:
        return f"TrainingData({self.name!r}, revision={self.revision!r}, files={len(self.files)})"


def pair_digest(pair: TrainingPair) -> bytes:
    """What the fingerprint hashes of one pair: its image's sha256 and its caption, the
    caption's length first so that no two pairs' bytes run into each other."""
    caption = pair.caption.encode("utf-8")
    return hashlib.sha256(pair.image_bytes).digest() + len(caption).to_bytes(8, "big") + caption


def open_training_data(
    source: str,
    *,
    image_column: str = DEFAULT_IMAGE_COLUMN,
    caption_column: str = DEFAULT_CAPTION_COLUMN,
    revision: str | None = None,
    cache_dir: Path | None = None,
    reporter: Reporter | None = None,
) -> TrainingData:
    """The training pairs `source` names (see the module's docstring). Columns are checked
    now, so a wrong name fails before any training starts. `cache_dir` (default: the
    mars-zoo cache) is where the mini split is generated."""
    reporter = reporter or Reporter()
    path = Path(source).expanduser()
    if source == MINI_SOURCE:
        from mars_zoo.core.folders import default_cache_dir
        from mars_zoo.data.mini import MINI_TRAINING_NAME, MINI_TRAINING_VERSION, ensure_mini_training

        _no_revision(source, revision, "the mini training split is generated, not versioned by commits")
        root = ensure_mini_training(cache_dir or default_cache_dir(), reporter)
        name, found_revision = MINI_TRAINING_NAME, MINI_TRAINING_VERSION
    elif path.exists():
        _no_revision(source, revision, "a local copy is named by its fingerprint")
        root, name, found_revision = path.resolve(), path.resolve().name, None
    elif _HUB_ID.fullmatch(source):
        root, found_revision = _hub_snapshot(source, revision, reporter)
        name = source
    else:
        raise MarsZooError(
            f"Training data {printable(source)!r} is neither a file or folder here nor a Hugging Face Hub dataset id "
            f"(org/name). Fix: pass the path of a parquet dataset or of WebDataset tar shards, a Hub dataset id, "
            f"or 'mini'."
        )
    files = _data_files(root, source)
    if files[0].suffix == PARQUET_SUFFIX:
        read = _parquet_reader(root, files[0], image_column, caption_column)
    else:
        read = _tar_reader(root, image_column, caption_column)
    return TrainingData(name, found_revision, root, files, read)


def _no_revision(source: str, revision: str | None, why: str) -> None:
    if revision is not None:
        raise MarsZooError(f"--train-revision {printable(revision)} cannot apply to {printable(source)}: {why}. "
                           f"Fix: drop --train-revision, which names a commit, branch or tag of a Hub dataset.")


def _hub_snapshot(repo_id: str, revision: str | None, reporter: Reporter) -> tuple[Path, str]:
    """The snapshot folder of a Hub dataset's parquet and tar files at `revision` (default:
    its main branch), and the commit it is."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    from mars_zoo.data.hub import hub_cache_dir, is_offline

    reporter.info(f"Training data {repo_id} @ {revision or 'main'}")
    try:
        folder = Path(snapshot_download(repo_id, repo_type="dataset", revision=revision,
                                        allow_patterns=[f"*{PARQUET_SUFFIX}", f"*{TAR_SUFFIX}"]))
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise MarsZooError(
            f"The Hub has no dataset {repo_id} at revision {revision or 'main'} ({type(exc).__name__}). Fix: check "
            f"the id and --train-revision, or set HF_TOKEN if the dataset is gated or private."
        ) from exc
    except LocalEntryNotFoundError as exc:
        reason = "HF_HUB_OFFLINE=1 is set" if is_offline() else f"{type(exc).__name__}: {exc}"
        raise MarsZooError(
            f"Training data {repo_id} (revision {revision or 'main'}) is not in the local Hugging Face cache "
            f"({hub_cache_dir()}) and cannot be downloaded: {reason}. Fix: download it where the Hub is reachable "
            f"and copy the Hugging Face cache (HF_HUB_CACHE) here, or pass a local copy's folder."
        ) from exc
    return folder, folder.name  # snapshots/<commit>


def _split_of(relative: PurePosixPath) -> str | None:
    """The split a file's path names the Hub's way: a folder named after it (train/...),
    or a file name that starts with it (train-00000-of-00002.parquet, train.tar)."""
    for folder in relative.parts[:-1]:
        if folder.lower() in SPLIT_NAMES:
            return folder.lower()
    match = re.match(r"([a-z]+)(?:[-_.]|$)", relative.name.lower())
    return match.group(1) if match and match.group(1) in SPLIT_NAMES else None


def _data_files(root: Path, source: str) -> list[Path]:
    """The parquet files (else the tar shards) of `root` to read, in path order; of its
    train split where its files name splits."""
    if root.is_file():
        if root.suffix not in (PARQUET_SUFFIX, TAR_SUFFIX):
            raise MarsZooError(f"Training data {root} is neither a parquet file nor a tar shard. Fix: pass a "
                               f"{PARQUET_SUFFIX} or {TAR_SUFFIX} file, or the folder that holds them.")
        return [root]
    visible = [p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                     p.relative_to(root).parts)]
    files = sorted(p for p in visible if p.suffix == PARQUET_SUFFIX) or sorted(
        p for p in visible if p.suffix == TAR_SUFFIX)
    if not files:
        raise MarsZooError(f"Training data {printable(source)} ({root}) holds no {PARQUET_SUFFIX} file and no "
                           f"{TAR_SUFFIX} shard. Fix: pass a parquet dataset or WebDataset tar shards.")
    splits = {p: _split_of(PurePosixPath(p.relative_to(root).as_posix())) for p in files}
    named = {split for split in splits.values() if split}
    if not named:
        return files
    if TRAIN_SPLIT not in named:
        raise MarsZooError(
            f"Training data {printable(source)} ({root}) holds the split(s) {', '.join(sorted(named))} but no "
            f"{TRAIN_SPLIT} split. Fix: pass the file or folder of the pairs to train on."
        )
    return [p for p in files if splits[p] == TRAIN_SPLIT]


def _where(root: Path, file: Path) -> str:
    return file.name if root == file else file.relative_to(root).as_posix()


def _parquet_reader(root: Path, first: Path, image_column: str, caption_column: str) -> PairReader:
    """A reader of the parquet files of one dataset, its columns checked on `first`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(first)

    def column_type(name: str, role: str, flag: str):
        if name not in schema.names:
            raise MarsZooError(
                f"Training data {first} has no {role} column {name!r} (its columns: {', '.join(schema.names)}). "
                f"Fix: name the {role} column with {flag} NAME."
            )
        return schema.field(name).type

    image_type = column_type(image_column, "image", "--image-column")
    struct = pa.types.is_struct(image_type)
    if not (pa.types.is_binary(image_type) or pa.types.is_large_binary(image_type)
            or (struct and image_type.get_field_index("bytes") >= 0)):
        raise MarsZooError(
            f"Training data {first}: column {image_column!r} is of type {image_type}, not images (the Hub's Image "
            f"feature, or binary image files). Fix: name the column that holds the images with --image-column NAME "
            f"(a column of URLs or paths must be downloaded into image bytes first)."
        )
    caption_type = column_type(caption_column, "caption", "--caption-column")
    if not (pa.types.is_string(caption_type) or pa.types.is_large_string(caption_type)):
        raise MarsZooError(f"Training data {first}: column {caption_column!r} is of type {caption_type}, not text. "
                           f"Fix: name the column that holds the captions with --caption-column NAME.")
    columns = [image_column, caption_column] + ([KEY_COLUMN] if KEY_COLUMN in schema.names else [])

    def read(file: Path) -> Iterator[TrainingPair]:
        where, row = _where(root, file), 0
        try:
            batches = pq.ParquetFile(file).iter_batches(batch_size=_BATCH_ROWS, columns=columns)
            for batch in batches:
                images = batch.column(image_column).to_pylist()
                captions = batch.column(caption_column).to_pylist()
                keys = batch.column(KEY_COLUMN).to_pylist() if KEY_COLUMN in columns else [None] * len(images)
                for image, caption, key in zip(images, captions, keys):
                    name = str(key) if key is not None else f"{where}#{row}"
                    yield TrainingPair(name, _image_bytes(image, struct, file, name, image_column), 
                                       _caption(caption, file, name, caption_column))
                    row += 1
        except (OSError, pa.ArrowException) as exc:
            raise MarsZooError(f"Training data {file} cannot be read as parquet ({type(exc).__name__}: {exc}). "
                               f"Fix: replace it with an intact copy.") from exc

    return read


def _image_bytes(value, struct: bool, file: Path, key: str, column: str) -> bytes:
    """The encoded image of one parquet cell: binary, or the Image feature's struct (its
    bytes, or a file its path names relative to the parquet file)."""
    if struct and value is not None and value.get("bytes") is None and value.get("path"):
        image_file = file.parent / value["path"]
        if image_file.is_file():
            return image_file.read_bytes()
        raise MarsZooError(f"Training data {file}, pair {printable(key)}: column {column!r} names the image file "
                           f"{printable(value['path'])}, which is not there. Fix: store the images' bytes in the "
                           f"parquet file, or put the files beside it.")
    data = value.get("bytes") if struct and value is not None else value
    if not data:
        raise MarsZooError(f"Training data {file}, pair {printable(key)}: column {column!r} holds no image. Fix: "
                           f"remove the pair or add its image.")
    return data


def _caption(value, file: Path, key: str, column: str) -> str:
    if value is None:
        raise MarsZooError(f"Training data {file}, pair {printable(key)}: column {column!r} holds no caption. Fix: "
                           f"remove the pair or add its caption.")
    return value


def _tar_reader(root: Path, image_column: str, caption_column: str) -> PairReader:
    """A reader of WebDataset tar shards: a sample is the consecutive members sharing a
    key (the path up to the first '.' of the file name), its image and caption taken by
    extension (`image_column` and `caption_column` when they name one, else the defaults)."""
    image_extensions = TAR_IMAGE_EXTENSIONS if image_column == DEFAULT_IMAGE_COLUMN else (image_column.lower(),)
    caption_extension = TAR_CAPTION_EXTENSION if caption_column == DEFAULT_CAPTION_COLUMN else caption_column.lower()

    def pair(file: Path, key: str, members: dict[str, bytes]) -> TrainingPair:
        image = next((members[ext] for ext in image_extensions if ext in members), None)
        caption = members.get(caption_extension)
        if image is None or caption is None:
            missing = f"an image ({', '.join(image_extensions)})" if image is None else f"a .{caption_extension} caption"
            raise MarsZooError(
                f"Training data {file}: sample {printable(key)} has no {missing} (it has "
                f"{', '.join(sorted(members)) or 'nothing'}). Fix: name the image and caption extensions with "
                f"--image-column EXT and --caption-column EXT, or remove the sample."
            )
        try:
            text = caption.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise MarsZooError(f"Training data {file}: the caption of sample {printable(key)} is not UTF-8 text "
                               f"({exc}). Fix: re-encode it as UTF-8.") from None
        return TrainingPair(key, image, text)

    def read(file: Path) -> Iterator[TrainingPair]:
        key, members = None, {}
        try:
            with tarfile.open(file, mode="r|*") as tar:
                for member in tar:
                    if not member.isfile():
                        continue
                    folder, _, name = member.name.rpartition("/")
                    stem, dot, extension = name.partition(".")
                    if not dot or stem.startswith("."):
                        continue  # no extension, or a hidden file: not part of a sample
                    sample = f"{folder}/{stem}" if folder else stem
                    if sample != key and key is not None:
                        yield pair(file, key, members)
                        members = {}
                    key = sample
                    handle = tar.extractfile(member)
                    members[extension.lower()] = handle.read() if handle else b""
        except (tarfile.TarError, OSError) as exc:
            raise MarsZooError(f"Training data {file} cannot be read as a tar shard ({type(exc).__name__}: {exc}). "
                               f"Fix: replace it with an intact copy.") from exc
        if key is not None:
            yield pair(file, key, members)

    return read
