"""The embedding cache.

An entry holds the embeddings of one item list (images or texts) as one run computed
them, under a key made of everything that changes an embedding (`mars_zoo.embedding.embed.
entry_identity`): the model, its weights, the plugin's code, the device kind, the dtypes
of weights and computation, the preprocessing, the data and the item ids. A cache entry
answers only for what it is: anything else that ran gets an entry of its own.

Items are written in fixed-size shards, each published atomically (temp file + rename),
so a killed run loses at most the shard in progress and a rerun recomputes only what is
missing. The entry's `manifest.json`, written before its first shard, records its key's
fields and its layout (item count and shard size): every reader takes the layout from
there, so an entry is always read as it was written, whatever shard size a later run asks
for (`--cache-shard-size` shapes new entries only). A shard file is named by the rows it
holds, so even where the manifest is lost or wrong, no file is read as other rows than
its own: the shards of the layout then asked for that are not there are computed.

A shard file that exists is complete by construction, but a disk, a copy or a hand
can still change it afterwards, and a damaged shard would be read back as
embeddings. So every shard has a checksum file next to it (`shard-000000000-000004096.npy.sha256`,
in `sha256sum` format, written after the shard), and a shard counts as present only
when its bytes match the checksum and it holds finite float32 rows, exactly as many as
the layout gives it. Anything else is recomputed, with a warning naming the file.

Reading every shard on every run would cost minutes at 1.4M x 1024 (5.7 GB), so a
shard found sound is remembered in its entry's `verified.json` with its stat
(`mars_zoo.core.stat_memo`): while its size, times and inode are unchanged, and its
checksum file still names the digest it had, its bytes are trusted without being read;
its .npy header (a few hundred bytes) is still read, so its dtype, shape and row count
are checked on every run. A shard is recorded there when written, too (the bytes its
checksum was computed from), so even the first run after the one that computed it reads
no shard in full. A shard changed in any way the file system sees is read in full.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from mars_zoo.core.atomic import atomic_write_bytes
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.folders import write_error
from mars_zoo.core.safe_paths import path_under
from mars_zoo.core.stat_memo import SIZE, StatKey, StatMemo, stat_key

# 2: every shard has a checksum file. 3: keyed by the plugin's code, the device kind and
# the dtypes of weights and computation; the layout is read from the manifest.
CACHE_FORMAT = 3
DEFAULT_SHARD_SIZE = 4096
VERIFIED_NAME = "verified.json"
MANIFEST_NAME = "manifest.json"
CLEAR_HINT = ("Fix: delete the cache entry folder(s) named here (their embeddings are recomputed), or use "
              "another --cache-dir DIR (or `mars-zoo run --no-cache`).")


def embeddings_dir(cache_dir: Path) -> Path:
    """Where the embedding cache lives inside a mars-zoo cache directory."""
    return cache_dir / "embeddings"


def cache_key(fields: dict[str, Any]) -> str:
    canonical = json.dumps({"cache_format": CACHE_FORMAT, **fields}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class CacheEntry:
    """The shards of one item list under one key, in one layout: `shard_size` items per
    shard (see `EmbeddingCache.entry` for where it comes from)."""

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

    def shard_path(self, shard: int) -> Path:
        """Where `shard` lives, named by the item rows it holds (`shard-000004096-000008192.npy`:
        items 4096 to 8191): a shard file answers only for its own rows, so files of
        another layout of the entry are never read as this one's."""
        start, stop = self.shard_range(shard)
        return self.directory / f"shard-{start:09d}-{stop:09d}.npy"

    def _checksum_path(self, shard: int) -> Path:
        path = self.shard_path(shard)
        return path.with_name(path.name + ".sha256")

    def damage(self, shard: int, memo: StatMemo | None = None) -> str | None:
        """Why the stored shard cannot be used although it exists (None: it is sound, or
        absent). Reads the whole shard unless `memo` remembers it sound with its
        current stat and the digest its checksum file names, and then its .npy header
        only; a sound shard is recorded in `memo`."""
        path = self.shard_path(shard)
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
                reason = self._header_damage(path, shard, size=key[SIZE])
                if reason is None:
                    memo.remember(path.name, key, recorded)
                return reason
            data, key = _read_shard(path)
        except OSError as exc:
            return f"it cannot be read ({exc.strerror})"
        if hashlib.sha256(data).hexdigest() != recorded:
            return "its bytes do not match its checksum"
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError):
            return "it is not a readable .npy array"
        reason = self._shape_damage(array.dtype, array.shape, shard)
        if reason is not None:
            return reason
        if not np.isfinite(array).all():
            return "it holds non-finite values"
        if memo is not None:
            memo.remember(path.name, key, recorded)
        return None

    def _shape_damage(self, dtype: np.dtype, shape: tuple[int, ...], shard: int) -> str | None:
        """Why an array of `dtype` and `shape` cannot be `shard` (None: it can): float32
        rows, of at least one value, exactly as many as the layout gives the shard."""
        start, stop = self.shard_range(shard)
        if dtype != np.float32 or len(shape) != 2 or shape[0] != stop - start or shape[1] < 1:
            return f"it holds {dtype} {shape}, not {stop - start} float32 rows"
        return None

    def _header_damage(self, path: Path, shard: int, size: int) -> str | None:
        """What a shard trusted by its stat must still show (None: it does): a readable
        .npy header describing this shard's rows, and a file of `size` bytes holding them."""
        try:
            with open(path, "rb") as handle:
                dtype, shape, offset = _npy_header(handle)
        except (ValueError, EOFError):
            return "its .npy header is not readable"
        reason = self._shape_damage(dtype, shape, shard)
        if reason is None and offset + int(np.prod(shape)) * dtype.itemsize != size:
            return f"its size ({size} bytes) does not match the {shape} array its header describes"
        return reason

    def missing(self, warn: Callable[[str], None] | None = None) -> list[int]:
        """The shards to (re)compute: absent ones, and damaged ones, each reported to
        `warn` by file name and reason. The sound ones are remembered in `verified.json`."""
        memo = StatMemo(self.directory / VERIFIED_NAME, scope=self.directory.name)
        missing = []
        for shard in range(self.shards):
            if not self.shard_path(shard).exists():
                missing.append(shard)
                continue
            reason = self.damage(shard, memo)
            if reason is not None:
                missing.append(shard)
                if warn is not None:
                    warn(f"Cache shard {self.shard_path(shard)} is damaged ({reason}); it is recomputed.")
        memo.save("the record of verified embedding cache shards")
        self._write_manifest()
        return missing

    def write(self, shard: int, embeddings: np.ndarray) -> None:
        """Publish the shard, then its checksum: a shard without a matching checksum (a
        run killed between the two) is recomputed."""
        start, stop = self.shard_range(shard)
        if embeddings.shape[0] != stop - start:
            raise ValueError(f"shard {shard} needs {stop - start} rows, got {embeddings.shape[0]}")
        buffer = _npy_bytes(np.ascontiguousarray(embeddings, dtype=np.float32))
        path = self.shard_path(shard)
        checksum = f"{hashlib.sha256(buffer).hexdigest()}  {path.name}\n".encode("ascii")
        self._write_manifest()
        try:
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
            parts = [np.load(self.shard_path(shard), mmap_mode="r") for shard in range(self.shards)]
            for shard, part in enumerate(parts):
                reason = self._shape_damage(part.dtype, part.shape, shard)
                if reason is not None:
                    raise ValueError(f"{self.shard_path(shard).name}: {reason}")
        except (OSError, ValueError) as exc:
            raise MarsZooError(
                f"The embedding cache {self.directory} changed while it was read ({exc}). Fix: make "
                f"sure no other process deletes it, and rerun: damaged shards are recomputed."
            ) from None
        dims = sorted({part.shape[1] for part in parts})
        if len(dims) != 1:
            raise MarsZooError(
                f"The embedding cache entry {self.directory} mixes embedding dimensions across its "
                f"shards ({', '.join(map(str, dims))}): they were written by different code, or "
                f"damaged, and cannot be scored together. {CLEAR_HINT}"
            )
        return ShardedRows(parts)

    def _write_manifest(self) -> None:
        """Record the entry's fields and layout, unless its manifest already does (a lost or
        damaged manifest is so repaired)."""
        if recorded_layout(self.directory, self.fields, self.items) == self.shard_size:
            return
        manifest = {"fields": self.fields, "items": self.items, "shard_size": self.shard_size}
        path = self.directory / MANIFEST_NAME
        try:
            atomic_write_bytes(path, json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))
        except OSError as exc:
            raise write_error(path, "an embedding cache manifest", exc) from None


def recorded_layout(directory: Path, fields: dict[str, Any], items: int) -> int | None:
    """The shard size that the manifest in `directory` records for `fields` over `items`
    items; None where there is no such record (a new entry, or a manifest lost, damaged or
    of other fields): the entry is then read in the size asked for."""
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("fields") != fields or manifest.get("items") != items:
        return None
    size = manifest.get("shard_size")
    return size if type(size) is int and size >= 1 else None


def _npy_header(handle: io.BufferedReader) -> tuple[np.dtype, tuple[int, ...], int]:
    """The dtype and shape a .npy file's header describes, and where its data starts; a
    ValueError where the file starts with no .npy header numpy writes."""
    version = np.lib.format.read_magic(handle)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f".npy format version {version}")
    shape, _, dtype = readers[version](handle)
    return dtype, shape, handle.tell()


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
        """The entry of `fields` over `items` items, in the layout its manifest records;
        a new entry (or one whose manifest is lost) in this cache's shard size."""
        key = cache_key(fields)
        model = str(fields.get("model", "model")).replace("/", "__")
        directory = path_under(self.root, model, key[:32], field="model (the cache folder's name)",
                               fix="register the model as '<family>/<name>' with plain names")
        return CacheEntry(directory, fields, items, recorded_layout(directory, fields, items) or self.shard_size)
