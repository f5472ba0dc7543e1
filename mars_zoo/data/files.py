"""Local files of a dataset copy: the directory check, the listing every reader uses,
and the digest of one file.

The listing skips hidden entries (download caches, atomic-write temporaries), is
sorted by relative path, so neither the order nor the fingerprint depends on the
file system, and holds each file's stat as `mars_zoo.core.stat_memo.stat_rows` gives it, which
the fingerprints and the tar gallery's cached index compare with what they recorded.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.stat_memo import SIZE, stat_rows


def require_dir(path: Path, what: str, fix: str) -> None:
    if not path.is_dir():
        raise MarsZooError(f"{what} is missing: {path} is not a directory. Fix: {fix}.")


@dataclass
class Listing:
    """The visible files under `root`, sorted by relative path, each with its stat."""

    root: Path
    paths: np.ndarray  # bytes: relative paths, '/'-separated, in byte order
    stats: np.ndarray  # int64 [N, len(STAT_FIELDS)]: `stat_rows` of the files

    def __len__(self) -> int:
        return len(self.paths)

    def relative(self, index: int) -> str:
        return os.fsdecode(self.paths[index])

    @property
    def sizes(self) -> np.ndarray:
        return self.stats[:, SIZE]


def list_files(root: Path) -> Listing:
    """The files under `root` with their stat, in one walk: `os.scandir` through the folders
    (hidden entries skipped: download caches, temp files; links to folders not followed,
    as `os.walk` does) and one `stat` per file, relative to its open folder. Sorted by
    relative path in byte order (for UTF-8 names the order of their characters), so
    neither the order nor what depends on it changes with the file system. Plain bytes
    and arrays: a PNG gallery lists a million files, and a Path object each made listing
    it most of a run's start. An unreadable folder or a dangling link is an error naming
    it (skipping it would drop its files from the data unseen)."""
    paths: list[bytes] = []
    stats: list[os.stat_result] = []
    _walk(os.fsencode(root), b"", paths, stats, root)
    return Listing(root, np.array(paths, dtype=bytes) if paths else np.zeros(0, dtype="S1"), stat_rows(stats))


def _walk(base: bytes, prefix: bytes, paths: list[bytes], stats: list[os.stat_result], root: Path) -> None:
    """Add the files of the folder `prefix` (relative, '' or ending in '/') to `paths` and
    `stats`, in byte order of their relative paths. Each folder's entries are sorted with
    a '/' after a folder's name and visited in that order, which is the byte order of the
    whole paths, so the listing needs no sort of its own."""
    folder = base + b"/" + prefix[:-1] if prefix else base
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            keys = []
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith(b"."):
                        continue
                    if not entry.is_dir():
                        keys.append(name)
                    elif not entry.is_symlink():
                        keys.append(name + b"/")
            keys.sort()
            stat = os.stat
            if not any(key.endswith(b"/") for key in keys):  # a folder of files only: no Python per file but this
                paths += [prefix + key for key in keys]
                stats += [stat(key, dir_fd=fd) for key in keys]
                return
            for key in keys:
                if key.endswith(b"/"):
                    _walk(base, prefix + key, paths, stats, root)
                else:
                    paths.append(prefix + key)
                    stats.append(stat(key, dir_fd=fd))
        finally:
            os.close(fd)
    except OSError as exc:
        failed = exc.filename if isinstance(exc.filename, bytes) else folder
        where = os.fsdecode(failed if failed == folder else folder + b"/" + failed)
        raise MarsZooError(
            f"Cannot list {where} in {root} ({exc.strerror}). Fix: make it readable, or remove it "
            f"(a dangling link, say) from {root}."
        ) from None


def has_suffix(names: np.ndarray, suffix: bytes) -> np.ndarray:
    """Which of a bytes array of names end in `suffix` (lower-case ASCII) in any case, as
    `name.lower().endswith(suffix)` says, from the names' last bytes only (lower-casing a
    million whole names cost more than the rest of listing them)."""
    count = len(suffix)
    exact = np.strings.endswith(names, suffix)
    if exact.all() or names.dtype.itemsize < count:  # all in lower case (a whole shard of tiles), or too short
        return exact
    chars = np.ascontiguousarray(names).view(np.uint8).reshape(len(names), names.dtype.itemsize)
    ends = np.strings.str_len(names)
    tails = np.take_along_axis(chars, np.maximum(ends[:, None] - count, 0) + np.arange(count), axis=1)
    upper = (tails >= ord("A")) & (tails <= ord("Z"))
    return (ends >= count) & (np.where(upper, tails | 0x20, tails) == np.frombuffer(suffix, np.uint8)).all(axis=1)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks (shards can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_sha256(root: Path, files: Iterable[Path]) -> str:
    """SHA-256 of the lines '<path relative to root> <sha256 of the file>' of `files`, in the
    order given: one digest of several files that changes with any byte or name in them, and
    not with where `root` is."""
    listing = "".join(f"{Path(path).relative_to(root).as_posix()} {file_sha256(path)}\n" for path in files)
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()
