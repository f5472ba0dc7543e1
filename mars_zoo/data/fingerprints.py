"""The revision of a local data copy: a hash of every file's content.

A local copy (`--data-dir`, `--tiles`, the generated mini benchmark) has no commit to
name it, and its revision is part of every embedding's cache key. So the revision
must change whenever any byte of any file changes (an image edited in place must
not keep its stale embeddings), and must not depend on where the copy lives or
when it was copied. It is the SHA-256 over each visible file's relative path, size
and SHA-256 of its bytes.

Hashing the whole 1.4-million-tile gallery (hundreds of GB) on every run is too
slow, so each file's digest is remembered under the cache
(`fingerprints/<hash of the copy's path>.json`) with its stat, and a file whose stat is
unchanged is not read again (`mars_zoo.stat_memo`). A gallery is stored as tar shards
(one file per thousand tiles), so the sidecar stays small.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mars_zoo.data.files import file_sha256, visible_files
from mars_zoo.reporting import Reporter
from mars_zoo.stat_memo import StatMemo, stat_key

FINGERPRINTS_DIRNAME = "fingerprints"
REVISION_PREFIX = "content-sha256:"


def _sidecar(cache_dir: Path, root: Path) -> Path:
    name = hashlib.sha256(str(root.resolve()).encode("utf-8")).hexdigest()[:32]
    return cache_dir / FINGERPRINTS_DIRNAME / f"{name}.json"


def local_revision(
    root: Path, cache_dir: Path, reporter: Reporter | None = None, files: list[str] | None = None
) -> str:
    """`content-sha256:<hex>`: the revision of the copy at `root` (see the module docstring);
    `files`: its listing (`visible_files(root)`) when the caller has it already."""
    reporter = reporter or Reporter()
    memo = StatMemo(_sidecar(cache_dir, root), str(root.resolve()))
    folder = str(root)
    stale = []
    for relative in visible_files(root) if files is None else files:
        key = stat_key(os.stat(f"{folder}/{relative}"))
        known = memo.recall(relative, key)
        if known is None:
            stale.append((relative, key))
        else:
            memo.remember(relative, key, known)
    if stale:
        total = sum(key[0] for _, key in stale)
        with reporter.progress(f"Hashing {len(stale)} files of {root}", total) as advance:
            for relative, key in stale:
                memo.remember(relative, key, file_sha256(f"{folder}/{relative}"))
                advance(key[0])
    memo.save("the fingerprints of a local data copy")
    digest = hashlib.sha256()
    for relative in sorted(memo.current):
        size, sha256 = memo.current[relative][0], memo.current[relative][4]
        digest.update(f"{relative}\0{size}\0{sha256}\n".encode("utf-8"))
    return REVISION_PREFIX + digest.hexdigest()
