"""Atomic file writes: a file appears complete, by rename, or not at all.

Every output that matters (result files, cache shards, dataset copies, tile shards,
build markers) is written to a temporary file in the destination's directory, flushed
to disk and renamed over the destination. Readers see the old file or the new one,
never a partial one, and a writer killed half-way leaves only a hidden temporary
(`.<name>.<random>.tmp`), which `remove_temporaries` clears and readers skip.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

TEMP_SUFFIX = ".tmp"
# Read once at import (os.umask can only be read by setting it, which is not thread-safe).
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`, for writers that want a file name (e.g.
    `Dataset.to_parquet`). When the block succeeds the file is synced and renamed onto
    `path`; when it fails the temporary is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would make results unreadable to others
    try:
        yield Path(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """An open binary handle whose content appears at `path` when the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        yield handle


def atomic_write_bytes(path: Path, data: bytes) -> int:
    """Write `data` to `path` so that readers see the old file or the new one, never
    a partial one. Returns the new file's inode, by which a caller can tell its file
    from one another process put at `path` since."""
    with atomic_output(path) as handle:
        handle.write(data)
        return os.fstat(handle.fileno()).st_ino


def remove_temporaries(directory: Path) -> None:
    """Delete what killed writers left in `directory` (never read: outputs appear by rename)."""
    for leftover in directory.glob(f".*{TEMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def _fsync(path: str) -> None:
    """Put the bytes on disk before the rename publishes them, so a crash cannot leave a
    published file with missing content."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
