"""Folders mars-zoo writes into, and one-paragraph errors for what the file system can
do to them: a regular file where a folder belongs (or a folder where a file belongs),
no permission, a read-only or full disk.

The mars-zoo cache folder is chosen here too (`default_cache_dir`): the one rule for a
command or a caller that names none. Everything below it (embeddings, tiny models,
recorded revisions, URL weights, dataset copies) is placed by whoever was handed the
folder, never by asking for the default again, so that `--cache-dir` reaches them all.

A write that fails for such a reason is the user's to fix, not a bug, so it must
reach the user as a `MarsZooError` naming the path and the remedy, never as a
traceback. Callers create their folders through `ensure_folder` before the work
starts (so a bad cache fails in seconds, not after the first hour of embedding) and
turn the `OSError` of a later write into `write_error`.
"""

from __future__ import annotations

import os
from pathlib import Path

from mars_zoo.core.errors import MarsZooError

CACHE_ENV = "MARS_ZOO_CACHE"

CACHE_FIX = (
    "move that file away, make the folder writable, or choose another cache folder with "
    "--cache-dir DIR (or the MARS_ZOO_CACHE environment variable)"
)


def default_cache_dir() -> Path:
    """Where mars-zoo keeps what it derives (mini benchmark, recorded revisions, fetched
    images, tiny models, embeddings) when no folder is given: $MARS_ZOO_CACHE, else
    $XDG_CACHE_HOME/mars-zoo or ~/.cache/mars-zoo; absolute, so that a plugin changing the
    working directory cannot move it."""
    base = os.environ.get(CACHE_ENV)
    if base:
        return Path(base).absolute()
    return (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mars-zoo").absolute()


def _file_above(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` when it is not a folder."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def write_error(path: Path, what: str, exc: OSError, fix: str = CACHE_FIX) -> MarsZooError:
    """The `MarsZooError` for an `OSError` raised while writing `what` (a file or a
    folder) at `path`."""
    blocker = _file_above(path)
    if blocker is not None:
        reason = f"{blocker} is a file where a folder belongs"
    elif isinstance(exc, (FileExistsError, NotADirectoryError)) and path.is_file():
        reason = f"{path} is a file where a folder belongs"
    elif isinstance(exc, IsADirectoryError) or (path.is_dir() and not isinstance(exc, PermissionError)):
        reason = f"{path} is a folder where a file belongs"
    elif isinstance(exc, PermissionError):
        reason = "permission denied (the folder is not writable)"
    else:
        reason = exc.strerror or str(exc)
    return MarsZooError(f"Cannot write {what} at {path}: {reason}. Fix: {fix}.")


def ensure_folder(path: Path, what: str, fix: str = CACHE_FIX) -> Path:
    """Create `path` (and its parents) if needed and check that it is a writable folder."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, what, exc, fix) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise MarsZooError(
            f"Cannot write {what} at {path}: permission denied (the folder is not writable). Fix: {fix}."
        )
    return path
