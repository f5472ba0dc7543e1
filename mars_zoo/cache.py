"""The embedding cache.

An entry holds the embeddings of one item list (images or texts) by one model
configuration, under a key made of everything that changes an embedding: plugin
and its version, model name, checkpoint and revision, precision, preprocessing,
dataset id, revision and split, and a hash of the item ids. Items are written in
fixed-size shards, each published atomically (temp file + rename), so a killed
run loses at most the shard in progress and a rerun recomputes only what is
missing.

A shard file that exists is complete by construction, but a disk, a copy or a hand
can still change it afterwards, and a damaged shard would be read back as
embeddings. So every shard has a checksum file next to it (`shard-000000.npy.sha256`,
in `sha256sum` format, written after the shard), and a shard counts as present only
when its bytes match the checksum and it holds finite float32 rows of the right
count. Anything else is recomputed, with a warning naming the file.

Reading every shard on every run would cost minutes at 1.4M x 1024 (5.7 GB), so a
shard found sound is remembered in its entry's `verified.json` with its stat
(`mars_zoo.stat_memo`): while its size, times and inode are unchanged, and its
checksum file still names the digest it had, it is trusted without being read. A
shard is recorded there when written, too (the bytes its checksum was computed from),
so even the first run after the one that computed it reads none. A shard changed in
any way the file system sees is read in full.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from mars_zoo.atomic import atomic_write_bytes
from mars_zoo.errors import MarsZooError
from mars_zoo.folders import write_error
from mars_zoo.safe_paths import path_under
from mars_zoo.stat_memo import StatKey, StatMemo, stat_key

CACHE_FORMAT = 2  # 2: every shard has a checksum file
DEFAULT_SHARD_SIZE = 4096
CACHE_ENV = "MARS_ZOO_CACHE"
VERIFIED_NAME = "verified.json"


def default_cache_dir() -> Path:
    """Where mars-zoo keeps what it derives (mini benchmark, recorded revisions, fetched
    images, embeddings): $MARS_ZOO_CACHE, else $XDG_CACHE_HOME/mars-zoo or ~/.cache/mars-zoo."""
    base = os.environ.get(CACHE_ENV)
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mars-zoo"


def embeddings_dir(cache_dir: Path | None = None) -> Path:
    """Where the embedding cache lives inside a mars-zoo cache directory."""
    return (cache_dir or default_cache_dir()) / "embeddings"


def cache_key(fields: dict[str, Any]) -> str:
    canonical = json.dumps({"cache_format": CACHE_FORMAT, **fields}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class CacheEntry:
    """The shards of one item list under one key."""

    def __init__(self, directory: Path, fields: dict[str, Any], items: int, shard_size: int) -> None:
        self.directory = directory
        self.fields = fields
        self.items = items
        self.shard_size = shard_size
        self.shards = (items + shard_size - 1) // shard_size
        self.written: dict[str, list] = {}  # shards this process wrote: name -> [*stat key, digest]

    def shard_range(self, shard: int) -> tuple[int, int]:
        start = shard * self.shard_size
        return start, min(start + self.shard_size, self.items)

    def _shard_path(self, shard: int) -> Path:
        return self.directory / f"shard-{shard:06d}.npy"

    def _checksum_path(self, shard: int) -> Path:
        return self.directory / f"shard-{shard:06d}.npy.sha256"

    def damage(self, shard: int, memo: StatMemo | None = None) -> str | None:
        """Why the stored shard cannot be used although it exists (None: it is sound, or
        absent). Reads the whole shard unless `memo` remembers it sound with its
        current stat and the digest its checksum file names; a sound shard is recorded
        in `memo`."""
        path = self._shard_path(shard)
        if path.is_dir():
            raise MarsZooError(
                f"The embedding cache holds a folder where a file belongs: {path}. Fix: delete it "
                f"(it is recomputed) or choose another cache folder with --cache-dir DIR."
            )
        try:
            recorded, name = self._checksum_path(shard).read_text(encoding="ascii").split()
        except (OSError, UnicodeDecodeError, ValueError):
            return "it has no readable checksum"
        if name != path.name:
            return f"its checksum file belongs to {name}"
        try:
            if memo is not None and memo.recall(path.name, key := stat_key(path.stat())) == recorded:
                memo.remember(path.name, key, recorded)
                return None
            data, key = _read_shard(path)
        except OSError as exc:
            return f"it cannot be read ({exc.strerror})"
        if hashlib.sha256(data).hexdigest() != recorded:
            return "its bytes do not match its checksum"
        start, stop = self.shard_range(shard)
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError):
            return "it is not a readable .npy array"
        if array.dtype != np.float32 or array.ndim != 2 or array.shape[0] != stop - start:
            return f"it holds {array.dtype} {array.shape}, not {stop - start} float32 rows"
        if not np.isfinite(array).all():
            return "it holds non-finite values"
        if memo is not None:
            memo.remember(path.name, key, recorded)
        return None

    def missing(self, warn: Callable[[str], None] | None = None) -> list[int]:
        """The shards to (re)compute: absent ones, and damaged ones, each reported to
        `warn` by file name and reason. The sound ones are remembered in `verified.json`."""
        memo = StatMemo(self.directory / VERIFIED_NAME, scope=self.directory.name)
        missing = []
        for shard in range(self.shards):
            if not self._shard_path(shard).exists():
                missing.append(shard)
                continue
            reason = self.damage(shard, memo)
            if reason is not None:
                missing.append(shard)
                if warn is not None:
                    warn(f"Cache shard {self._shard_path(shard)} is damaged ({reason}); it is recomputed.")
        memo.save("the record of verified embedding cache shards")
        return missing

    def write(self, shard: int, embeddings: np.ndarray) -> None:
        """Publish the shard, then its checksum: a shard without a matching checksum (a
        run killed between the two) is recomputed."""
        start, stop = self.shard_range(shard)
        if embeddings.shape[0] != stop - start:
            raise ValueError(f"shard {shard} needs {stop - start} rows, got {embeddings.shape[0]}")
        buffer = _npy_bytes(np.ascontiguousarray(embeddings, dtype=np.float32))
        path = self._shard_path(shard)
        checksum = f"{hashlib.sha256(buffer).hexdigest()}  {path.name}\n".encode("ascii")
        try:
            self._write_manifest()
            inode = atomic_write_bytes(path, buffer)
            atomic_write_bytes(self._checksum_path(shard), checksum)
            stat = path.stat()
        except OSError as exc:
            raise write_error(path, "an embedding cache shard", exc) from None
        if stat.st_ino == inode and np.isfinite(embeddings).all():  # not replaced since, and sound
            self.written[path.name] = [*stat_key(stat), checksum.split()[0].decode("ascii")]

    def record_written(self, written: dict[str, list]) -> None:
        """Add shards written in this run (by any rank: `written` merges their `written`)
        to the record of verified shards."""
        if not written:
            return
        memo = StatMemo(self.directory / VERIFIED_NAME, scope=self.directory.name)
        memo.keep_remembered()
        for name, record in written.items():
            memo.remember(name, record[:-1], record[-1])
        memo.save("the record of verified embedding cache shards")

    def read(self) -> np.ndarray:
        """All embeddings [items, dim], float32, in item order, in memory."""
        if self.items == 0:
            return np.zeros((0, 0), dtype=np.float32)
        return self.rows()[:]

    def rows(self) -> "ShardedRows":
        """All embeddings as a lazy [items, dim] view over the memory-mapped shards, for
        galleries too large to hold in memory twice (1.4M tiles x 1024 floats)."""
        try:
            parts = [np.load(self._shard_path(shard), mmap_mode="r") for shard in range(self.shards)]
        except (OSError, ValueError) as exc:
            raise MarsZooError(
                f"The embedding cache {self.directory} changed while it was read ({exc}). Fix: make "
                f"sure no other process deletes it, and rerun: damaged shards are recomputed."
            ) from None
        if len({part.shape[1] for part in parts}) != 1:
            raise MarsZooError(
                f"The embedding cache {self.directory} mixes dimensions across shards; delete that "
                f"directory and rerun."
            )
        return ShardedRows(parts)

    def _write_manifest(self) -> None:
        path = self.directory / "manifest.json"
        if path.exists():
            return
        manifest = {"fields": self.fields, "items": self.items, "shard_size": self.shard_size}
        atomic_write_bytes(path, json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))


def _read_shard(path: Path) -> tuple[bytes, StatKey]:
    """A shard's bytes and its stat taken before they were read (so that a change while
    reading leaves a stat that no longer matches)."""
    with open(path, "rb") as handle:
        key = stat_key(os.fstat(handle.fileno()))
        return handle.read(), key


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


class ShardedRows:
    """Row slices of consecutive shards, read only when asked for (what exact search
    needs: `len`, `shape` and `rows[start:stop]`)."""

    def __init__(self, parts: list[np.ndarray]) -> None:
        self.parts = parts
        self.starts = np.cumsum([0] + [len(part) for part in parts])
        self.shape = (int(self.starts[-1]), parts[0].shape[1])

    def __len__(self) -> int:
        return self.shape[0]

    def blocks(self, max_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, rows) of at most `max_rows` rows, each a view of one shard's
        memory map: the gallery is read once, never copied into a contiguous chunk."""
        for part, first in zip(self.parts, self.starts[:-1]):
            for offset in range(0, len(part), max_rows):
                yield int(first) + offset, part[offset : offset + max_rows]

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, step = rows.indices(len(self))
        if step != 1:
            raise IndexError("ShardedRows supports contiguous slices only")
        pieces = [
            part[max(start - first, 0) : max(min(stop - first, len(part)), 0)]
            for part, first in zip(self.parts, self.starts[:-1])
            if first < stop and first + len(part) > start
        ]
        if not pieces:
            return np.zeros((0, self.shape[1]), dtype=np.float32)
        return np.concatenate(pieces, axis=0)


class EmbeddingCache:
    """Where cache entries live."""

    def __init__(self, root: Path, shard_size: int = DEFAULT_SHARD_SIZE) -> None:
        if shard_size < 1:
            raise MarsZooError(f"The cache shard size must be at least 1, not {shard_size}.")
        self.root = root
        self.shard_size = shard_size

    def entry(self, fields: dict[str, Any], items: int) -> CacheEntry:
        key = cache_key(fields)
        model = str(fields.get("model", "model")).replace("/", "__")
        directory = path_under(self.root, model, key[:32], field="model (the cache folder's name)",
                               fix="register the model as '<family>/<name>' with plain names")
        return CacheEntry(directory, fields, items, self.shard_size)
