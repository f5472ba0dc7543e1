"""Local files of a dataset copy: the directory check, the listing every reader uses,
and the content fingerprint that is a local copy's revision.

The listing skips hidden entries (download caches, atomic-write temporaries) and is
sorted by relative path, so neither the order nor the fingerprint depends on the
file system.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mars_zoo.errors import MarsZooError

_HASHED_SUFFIXES = (".parquet", ".csv")


def require_dir(path: Path, what: str, fix: str) -> None:
    if not path.is_dir():
        raise MarsZooError(f"{what} is missing: {path} is not a directory. Fix: {fix}.")


def visible_files(root: Path) -> list[Path]:
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
    for path in visible_files(root):
        digest.update(path.relative_to(root).as_posix().encode("utf-8"))
        digest.update(f"\0{path.stat().st_size}\0".encode())
        if path.suffix.lower() in _HASHED_SUFFIXES:
            digest.update(file_sha256(path).encode())
        digest.update(b"\n")
    return f"content-sha256:{digest.hexdigest()}"
