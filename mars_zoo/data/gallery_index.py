"""The index of a tar-shard tile gallery: which shard, byte offset and size holds each tile,
and where each tile lies. Built fast, then cached.

Building reads only the 512-byte member headers, at their offsets (`os.pread`), skipping
the tile bytes: no TarInfo object per member, which made indexing 1.4 million tiles with
`tarfile` take most of a minute. A shard holding anything but plain ustar members (pax or
GNU long-name headers, links) is indexed by `tarfile` instead; a header whose checksum does
not match is an error naming the shard. The finished index (tile names, shard numbers, offsets, sizes and
coordinates, checked: every name follows the tile rule, no tile twice) is saved in the
mars-zoo cache under a key made of the gallery's folder and its shards' names, sizes and
modification times, so later runs, and every rank of a distributed run, open it in a
fraction of a second. Changing, adding or removing a shard changes the key.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from mars_zoo.atomic import atomic_output
from mars_zoo.errors import MarsZooError
from mars_zoo.reporting import Reporter

INDEX_FORMAT = 1
_BLOCK = 512


@dataclass
class ShardIndex:
    """Per tile, in gallery order: its name, shard number, data offset and size, and the
    (lon, lat) of its lower-left corner."""

    names: np.ndarray  # bytes (ASCII names)
    shard: np.ndarray  # int32
    offset: np.ndarray  # int64
    size: np.ndarray  # int64
    lonlat: np.ndarray  # float64 [N, 2]


class _Unusual(Exception):
    """A header this fast reader leaves to tarfile."""


def _ustar_members(path: Path) -> list[tuple[bytes, int, int]]:
    """(member name, data offset, size) of every regular member, from the raw headers.
    The header checksums are verified at the end, all at once (one numpy sum per shard
    instead of a Python sum per header)."""
    members = []
    headers = []
    recorded = []
    fd = os.open(path, os.O_RDONLY)
    try:
        position = 0
        while True:
            header = os.pread(fd, _BLOCK, position)
            if len(header) < _BLOCK or not header[0]:
                if header.count(0) == len(header):
                    break  # end of archive (or a truncated one: see shard_members)
                raise _Unusual
            if header[257:262] != b"ustar" or header[124] & 0x80:
                raise _Unusual
            headers.append(header)
            recorded.append(int(header[148:156].split(b"\0", 1)[0].strip() or b"0", 8))
            size = int(header[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
            kind = header[156:157]
            if kind in (b"0", b"\0"):
                name = header[:100].split(b"\0", 1)[0]
                prefix = header[345:500].split(b"\0", 1)[0]
                members.append(((prefix + b"/" + name if prefix else name), position + _BLOCK, size))
            elif kind != b"5":  # directories are skipped; anything else is tarfile's job
                raise _Unusual
            position += _BLOCK + -(-size // _BLOCK) * _BLOCK
    finally:
        os.close(fd)
    if headers:
        block = np.frombuffer(b"".join(headers), dtype=np.uint8).reshape(len(headers), _BLOCK)
        sums = block.sum(axis=1, dtype=np.int64) - block[:, 148:156].sum(axis=1, dtype=np.int64) + 256
        damaged = np.flatnonzero(sums != np.asarray(recorded, dtype=np.int64))
        if damaged.size:  # (tarfile would take it for the end of the archive and drop the rest)
            raise MarsZooError(
                f"Tile shard {path} is damaged: the header of member {int(damaged[0]) + 1} does not match "
                f"its checksum. Fix: rebuild or re-copy it."
            )
    return members


def _tarfile_members(path: Path) -> Iterator[tuple[bytes, int, int]]:
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                if member.isfile():
                    yield member.name.encode("utf-8", "surrogateescape"), member.offset_data, member.size
    except tarfile.TarError as exc:
        raise MarsZooError(f"Tile shard {path} is not a readable tar file ({exc}). Fix: rebuild or re-copy it.") from None


def shard_members(path: Path) -> list[tuple[bytes, int, int]]:
    """(name, data offset, size) of each regular member of one shard, in shard order."""
    try:
        members = _ustar_members(path)
    except _Unusual:
        return list(_tarfile_members(path))
    if os.path.getsize(path) % _BLOCK or (members and members[-1][1] + members[-1][2] > os.path.getsize(path)):
        return list(_tarfile_members(path))  # truncated: tarfile names the problem
    return members


def build_index(
    shards: Sequence[Path], tiles_dir: Path, reporter: Reporter,
    place: Callable[[Sequence[str], Sequence[str], np.ndarray], np.ndarray],
) -> ShardIndex:
    """The index of `shards` (PNG members only), with `place(names, where, shard_of)`
    checking the tiles and giving the (lon, lat) of each."""
    names: list[bytes] = []
    shard_of: list[int] = []
    offsets: list[int] = []
    sizes: list[int] = []
    with reporter.progress(f"Indexing tile shards in {tiles_dir}", len(shards)) as advance:
        for number, shard in enumerate(shards):
            for name, offset, size in shard_members(shard):
                if name.lower().endswith(b".png"):
                    names.append(name.rsplit(b"/", 1)[-1])
                    shard_of.append(number)
                    offsets.append(offset)
                    sizes.append(size)
            advance(1)
    shard_array = np.asarray(shard_of, dtype=np.int32)
    text = [name.decode("utf-8", "replace") for name in names]
    lonlat = place(text, _Where(shards, shard_array), shard_array)
    return ShardIndex(np.asarray(names, dtype=bytes), shard_array, np.asarray(offsets, dtype=np.int64),
                      np.asarray(sizes, dtype=np.int64), lonlat)


class _Where(Sequence[str]):
    """The shard path of each tile, made only for the tiles an error names."""

    def __init__(self, shards: Sequence[Path], shard_of: np.ndarray) -> None:
        self.shards, self.shard_of = shards, shard_of

    def __len__(self) -> int:
        return len(self.shard_of)

    def __getitem__(self, index):  # type: ignore[override]
        return str(self.shards[int(self.shard_of[index])])


def index_key(tiles_dir: Path, shards: Sequence[Path]) -> str:
    """What identifies a gallery's index: its folder and its shards' names, sizes, mtimes."""
    listing = [INDEX_FORMAT, str(tiles_dir.resolve())]
    for shard in shards:
        stat = os.stat(shard)
        listing.append([os.path.relpath(shard, tiles_dir), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(listing).encode("utf-8")).hexdigest()[:32]


def cached_index(
    shards: Sequence[Path], tiles_dir: Path, cache_dir: Path, reporter: Reporter,
    place: Callable[[Sequence[str], Sequence[str], np.ndarray], np.ndarray],
) -> ShardIndex:
    """The gallery's index from the cache when its key matches, else built and saved."""
    path = cache_dir / "gallery-index" / f"{index_key(tiles_dir, shards)}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            return ShardIndex(**{name: stored[name] for name in ShardIndex.__dataclass_fields__})
    except (OSError, ValueError, KeyError):
        pass  # absent or damaged: build it
    index = build_index(shards, tiles_dir, reporter, place)
    try:
        with atomic_output(path) as handle:
            np.savez(handle, **index.__dict__)
    except OSError:
        pass  # only the shortcut for the next run is lost
    return index
