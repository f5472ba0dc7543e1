"""The revision of a local data copy: a hash of every file's content.

A local copy (`--data-dir`, `--tiles`, the generated mini benchmark) has no commit to
name it, and its revision is part of every embedding's cache key. So the revision
must change whenever any byte of any file changes (an image edited in place must
not keep its stale embeddings), and must not depend on where the copy lives or
when it was copied. It is the SHA-256 over each visible file's relative path, size
and SHA-256 of its bytes.

Hashing the whole 1.4-million-tile gallery (hundreds of GB) on every run is too
slow, so each file's digest is remembered in a small sidecar under the cache
(`fingerprints/<hash of the copy's path>.json`, written atomically) together with
its size, modification time, change time and inode. A file whose four values are
unchanged is not read again. The change time cannot be set back by hand, so an edit
that restores the modification time is still seen. A gallery is stored as tar shards
(one file per thousand tiles), so the sidecar stays small.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from mars_zoo.atomic import atomic_write_bytes
from mars_zoo.data.files import file_sha256, visible_files
from mars_zoo.folders import write_error
from mars_zoo.reporting import Reporter

FINGERPRINTS_DIRNAME = "fingerprints"
REVISION_PREFIX = "content-sha256:"


def _stat_key(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _sidecar(cache_dir: Path, root: Path) -> Path:
    name = hashlib.sha256(str(root.resolve()).encode("utf-8")).hexdigest()[:32]
    return cache_dir / FINGERPRINTS_DIRNAME / f"{name}.json"


def _remembered(sidecar: Path, root: Path) -> dict[str, list]:
    """The sidecar's entries; an unreadable or foreign sidecar counts as empty (every
    file is hashed again and the sidecar rewritten)."""
    try:
        memo = json.loads(sidecar.read_text(encoding="utf-8"))
        if memo.get("root") == str(root.resolve()) and isinstance(memo.get("files"), dict):
            return memo["files"]
    except (OSError, ValueError, AttributeError):
        pass
    return {}


def local_revision(root: Path, cache_dir: Path, reporter: Reporter | None = None) -> str:
    """`content-sha256:<hex>`: the revision of the copy at `root` (see the module docstring)."""
    reporter = reporter or Reporter()
    sidecar = _sidecar(cache_dir, root)
    remembered = _remembered(sidecar, root)
    files = {path.relative_to(root).as_posix(): path for path in visible_files(root)}
    current: dict[str, list] = {}
    stale = []
    for relative, path in files.items():
        key = _stat_key(path)
        entry = remembered.get(relative)
        if isinstance(entry, list) and entry[:4] == key and len(entry) == 5:
            current[relative] = entry
        else:
            stale.append((relative, key))
    if stale:
        total = sum(key[0] for _, key in stale)
        with reporter.progress(f"Hashing {len(stale)} files of {root}", total) as advance:
            for relative, key in stale:
                current[relative] = [*key, file_sha256(files[relative])]
                advance(key[0])
    if current != remembered:
        payload = json.dumps({"root": str(root.resolve()), "files": current}, sort_keys=True)
        try:
            atomic_write_bytes(sidecar, payload.encode("utf-8"))
        except OSError as exc:
            raise write_error(sidecar, "the fingerprints of a local data copy", exc) from None
    digest = hashlib.sha256()
    for relative in sorted(current):
        size, sha256 = current[relative][0], current[relative][4]
        digest.update(f"{relative}\0{size}\0{sha256}\n".encode("utf-8"))
    return REVISION_PREFIX + digest.hexdigest()
