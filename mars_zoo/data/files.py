"""Local files of a dataset copy: the directory check, the listing every reader uses,
and the digest of one file.

The listing skips hidden entries (download caches, atomic-write temporaries) and is
sorted by relative path, so neither the order nor the fingerprint depends on the
file system.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mars_zoo.errors import MarsZooError


def require_dir(path: Path, what: str, fix: str) -> None:
    if not path.is_dir():
        raise MarsZooError(f"{what} is missing: {path} is not a directory. Fix: {fix}.")


def visible_files(root: Path) -> list[str]:
    """The files under `root` as paths relative to it ('/'-separated), sorted (so the order
    never depends on the file system), skipping hidden entries (download caches, temp
    files). Plain strings: a PNG gallery lists a million files, and a Path object each
    made listing it most of a run's start."""
    found = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        folder = os.path.relpath(directory, root).replace(os.sep, "/")
        prefix = "" if folder == "." else folder + "/"
        found += [prefix + name for name in files if not name.startswith(".")]
    found.sort()
    return found


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks (shards can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
