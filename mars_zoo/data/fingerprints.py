"""The revision of a local data copy: a hash of every file's content.

A local copy (`--data-dir`, `--tiles`, the generated mini benchmark) has no commit to
name it, and its revision is part of every embedding's cache key. So the revision
must change whenever any byte of any file changes (an image edited in place must
not keep its stale embeddings), and must not depend on where the copy lives or
when it was copied. It is the SHA-256 over each visible file's relative path, size
and SHA-256 of its bytes, in the order of the relative paths.

Hashing the whole 1.4-million-tile gallery (hundreds of GB) on every run is too
slow, so each file's digest is remembered under the cache (`fingerprints/<hash of the
copy's path>.npz`) with its stat, by the rule every remembered digest follows
(`mars_zoo.core.stat_memo`): a file whose size, modification time, change time and inode
are unchanged is not read again; any difference means a full read. The record is
numpy arrays (paths, `stat_rows`, digests, and the revision they give), compared with
the listing's arrays at once (`unchanged`): a gallery of a million PNG files is a
million entries, and a Python object per entry made reading and comparing the record
most of opening the gallery. When every path and stat equals the record's, the recorded
revision is the answer; otherwise only the files that differ are read, and the record
is replaced atomically. An unreadable record, or one written for another place,
counts as empty (it costs a full read, never a wrong revision).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mars_zoo.core.array_records import read_array_record
from mars_zoo.core.atomic import atomic_write_bytes
from mars_zoo.data.files import Listing, file_sha256, list_files
from mars_zoo.core.folders import write_error
from mars_zoo.core.reporting import Reporter
from mars_zoo.core.stat_memo import unchanged

FINGERPRINTS_DIRNAME = "fingerprints"
REVISION_PREFIX = "content-sha256:"


@dataclass
class _Record:
    """What a record holds: per file its relative path, stat row and raw SHA-256, and the revision."""

    root: str
    paths: np.ndarray  # bytes
    stats: np.ndarray  # int64 [N, len(STAT_FIELDS)]: `stat_rows`
    sha256: np.ndarray  # uint8 [N, 32]
    revision: str


def _sidecar(cache_dir: Path, root: Path) -> Path:
    name = hashlib.sha256(str(root.resolve()).encode("utf-8")).hexdigest()[:32]
    return cache_dir / FINGERPRINTS_DIRNAME / f"{name}.npz"


def _load(path: Path, scope: str) -> _Record | None:
    """The record at `path` if it is sound and was written for `scope`, else None."""
    record = read_array_record(path, _Record)
    if record is None:
        return None
    record.root, record.revision = str(record.root), str(record.revision)
    files = len(record.paths)
    sound = (record.root == scope and record.revision.startswith(REVISION_PREFIX)
             and record.paths.dtype.kind == "S" and record.stats.shape[:1] == (files,)
             and record.sha256.shape == (files, 32)
             and record.sha256.dtype == np.uint8)
    return record if sound else None


def _known(listing: Listing, record: _Record | None) -> tuple[np.ndarray, np.ndarray]:
    """(which files of `listing` the record knows with their current stat, the record's row
    of each file)."""
    if record is None or not len(record.paths):
        return np.zeros(len(listing), dtype=bool), np.zeros(len(listing), dtype=np.intp)
    if np.array_equal(record.paths, listing.paths):
        rows = np.arange(len(listing))
    else:  # the record's paths are sorted; a path not in it fails the equality below
        rows = np.minimum(np.searchsorted(record.paths, listing.paths), len(record.paths) - 1)
    known = (record.paths[rows] == listing.paths) & unchanged(record.stats[rows], listing.stats)
    return known, rows


def _revision(paths: np.ndarray, sizes: np.ndarray, sha256: np.ndarray) -> str:
    hexes = np.frombuffer(sha256.tobytes().hex().encode("ascii"), dtype="S64")
    digest = hashlib.sha256()
    digest.update(b"".join(b"%s\0%d\0%s\n" % row for row in zip(paths.tolist(), sizes.tolist(), hexes.tolist())))
    return REVISION_PREFIX + digest.hexdigest()


def local_revision(
    root: Path, cache_dir: Path, reporter: Reporter | None = None, listing: Listing | None = None
) -> str:
    """`content-sha256:<hex>`: the revision of the copy at `root` (see the module docstring);
    `listing`: `list_files(root)` when the caller has it already."""
    reporter = reporter or Reporter()
    listing = list_files(root) if listing is None else listing
    sidecar, scope = _sidecar(cache_dir, root), str(root.resolve())
    record = _load(sidecar, scope)
    known, rows = _known(listing, record)
    if record is not None and known.all() and len(record.paths) == len(listing):
        return record.revision
    sha256 = np.zeros((len(listing), 32), dtype=np.uint8)
    if record is not None:
        sha256[known] = record.sha256[rows[known]]
    stale = np.flatnonzero(~known)
    if len(stale):
        folder = str(root)
        sizes = listing.sizes[stale]
        with reporter.progress(f"Hashing {len(stale)} files of {root}", int(sizes.sum())) as advance:
            for row, size in zip(stale.tolist(), sizes.tolist()):
                sha256[row] = np.frombuffer(bytes.fromhex(file_sha256(f"{folder}/{listing.relative(row)}")), np.uint8)
                advance(size)
    revision = _revision(listing.paths, listing.sizes, sha256)
    buffer = io.BytesIO()
    np.savez(buffer, root=np.array(scope), paths=listing.paths, stats=listing.stats, sha256=sha256,
             revision=np.array(revision))
    try:
        atomic_write_bytes(sidecar, buffer.getvalue())
    except OSError as exc:
        raise write_error(sidecar, "the fingerprints of a local data copy", exc) from None
    return revision
