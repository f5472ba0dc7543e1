"""The index of a tar-shard tile gallery: which shard, byte offset and size holds each tile,
and where each tile lies. Built fast, then cached.

Building reads only the 512-byte member headers, one `os.pread` at each header's offset
(the tile bytes in between are never read), and does per header only what finding the
next one needs: its size. The rest is done on a shard's headers at once in numpy: the
header checksums (a damaged header is an error naming the shard and the member), the
member kinds and names. The whole gallery's names are then checked against the tile
rule and parsed into coordinates in one pass (`tile_names.parse_tile_names`) and checked
for duplicates by one sort. (A TarInfo object and Python parsing per member made
indexing 1.4 million tiles take most of a minute.) A shard holding anything but plain
ustar members (pax or GNU headers, links) is indexed by `tarfile` instead.

The finished index is saved as numpy arrays in the mars-zoo cache, one file per gallery
folder, together with what it was built from: the format, the folder, and the shards'
relative paths and stat rows. Later runs, and every rank of a distributed run, open it
in a fraction of a second while all of these are unchanged, by the rule every record of
a file's bytes follows (`mars_zoo.core.stat_memo`: size, modification time, change time and
inode). So a shard edited in place or swapped with another of its size is indexed
again, even with its modification time put back; the new index replaces the old.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mars_zoo.core.array_records import UNREADABLE
from mars_zoo.core.atomic import atomic_output
from mars_zoo.data.files import Listing, has_suffix
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import Reporter
from mars_zoo.core.stat_memo import unchanged

INDEX_FORMAT = 3  # 3: one file per folder, with its shards' stat rows; 2 was named by their sizes and mtimes
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


@dataclass
class ShardMembers:
    """The regular members of one shard, in shard order."""

    names: np.ndarray  # bytes: member names as stored (folders included)
    offset: np.ndarray  # int64: where the member's data starts
    size: np.ndarray  # int64


def _raw_headers(fd: int) -> tuple[list[bytes], list[int], bool]:
    """Every member header of an open shard and its size, read one 512-byte block at a time
    from its offset, skipping the member data in between: one `pread` per member and as
    little Python as finding the next header needs. The flag is False when the reading
    stopped at something the fast reader leaves to tarfile (or to the checksums)."""
    headers: list[bytes] = []
    sizes: list[int] = []
    pread, position = os.pread, 0
    while True:
        header = pread(fd, _BLOCK, position)
        if len(header) < _BLOCK or not header[0]:
            if len(header) == _BLOCK and header.strip(b"\0"):
                headers.append(header)  # not the end (a damaged header?): its checksum tells
                return headers, sizes, False
            return headers, sizes, not header.strip(b"\0")  # zeros, or nothing: the end of the archive
        headers.append(header)
        try:
            size = int(header[124:135], 8)  # ustar: 11 octal digits, then a NUL or a space
        except ValueError:  # a base-256 size (GNU), or a damaged header: the checksums tell
            return headers, sizes, False
        if size < 0:
            return headers, sizes, False
        sizes.append(size)
        position += _BLOCK + (size + _BLOCK - 1) // _BLOCK * _BLOCK


def _octal(field: bytes) -> int:
    """A numeric header field as tarfile reads it (up to the first NUL, blanks stripped)."""
    return int(field.split(b"\0", 1)[0].strip() or b"0", 8)


_OCTAL_SHIFTS = np.arange(15, -1, -3, dtype=np.uint32)  # six octal digits, most significant first


def _check_checksums(path: Path, block: np.ndarray) -> None:
    """Each header's bytes summed (its checksum field counted as blanks) must equal its
    checksum field, else the shard is damaged. (Without this a damaged header would be
    read as a wrong name, size or offset, or by tarfile as the end of the archive,
    dropping the rest.) The sums are written out as the six octal digits and NUL (or
    space) every writer stores and compared with the fields' bytes in numpy; a header
    that differs is read again as tarfile reads it (another spelling, or a signed sum
    as old tars wrote it)."""
    sums = block.sum(axis=1, dtype=np.uint32) - block[:, 148:156].sum(axis=1, dtype=np.uint32) + 8 * 32
    digits = ((sums[:, None] >> _OCTAL_SHIFTS) & 7) + ord("0")
    usual = (block[:, 148:154] == digits).all(axis=1) & ((block[:, 154] == 0) | (block[:, 154] == 32))
    for row in np.flatnonzero(~usual):
        header = block[row].tobytes()
        signed = int(sums[row]) - 256 * sum(byte >= 128 for byte in header[:148] + header[156:])
        try:
            recorded = _octal(header[148:156])
        except ValueError:
            recorded = None
        if recorded not in (int(sums[row]), signed):
            raise MarsZooError(
                f"Tile shard {path} is damaged: the header of member {row + 1} does not match its "
                f"checksum. Fix: rebuild or re-copy it."
            )


def _fields(block: np.ndarray, start: int, length: int) -> np.ndarray:
    """A text field of every header as a bytes array, each cut at its first NUL (as tarfile
    cuts; writers pad with NULs, so only a field with bytes after a NUL needs the cut)."""
    field = block[:, start:start + length]
    texts = np.ascontiguousarray(field).view(f"S{length}").ravel()
    lengths = np.strings.str_len(texts)
    if (np.count_nonzero(field, axis=1) != lengths).any():
        nul = field == 0
        ends = np.where(nul.any(axis=1), nul.argmax(axis=1), length)
        texts = np.where(np.arange(length) < ends[:, None], field, 0).view(f"S{length}").ravel()
        lengths = ends
    return texts.astype(f"S{max(int(lengths.max(initial=0)), 1)}")


def _ustar_members(path: Path) -> ShardMembers:
    """The regular members of a plain ustar shard, from its raw headers; raises _Unusual
    for anything else (pax or GNU headers, links, a truncated shard)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        headers, sizes, plain = _raw_headers(fd)
        length = os.fstat(fd).st_size
    finally:
        os.close(fd)
    block = np.frombuffer(b"".join(headers), dtype=np.uint8).reshape(len(headers), _BLOCK)
    _check_checksums(path, block)
    kind = block[:, 156]
    names = _fields(block, 0, 100)
    size_end = block[:, 135]  # a NUL or space after the 11 digits read
    if not (plain and (block[:, 257:262] == np.frombuffer(b"ustar", np.uint8)).all()
            and ((size_end == 0) | (size_end == 32)).all()
            and ((kind == ord("0")) | (kind == 0) | (kind == ord("5"))).all()):
        raise _Unusual
    size = np.asarray(sizes, dtype=np.int64)
    end = np.cumsum(_BLOCK + (size + _BLOCK - 1) // _BLOCK * _BLOCK)
    if length % _BLOCK or (len(end) and end[-1] - (-size[-1] % _BLOCK) > length):
        raise _Unusual  # truncated: tarfile names the problem
    if block[:, 345].any():  # a long name split into prefix + "/" + name
        prefixes = _fields(block, 345, 155)
        names = np.array([p + b"/" + n if p else n for p, n in zip(prefixes.tolist(), names.tolist())], dtype=bytes)
    # Regular files; tarfile takes an old-style regular member whose name ends in "/" for a folder.
    regular = (kind == ord("0")) | ((kind == 0) & ~np.strings.endswith(names, b"/"))
    return ShardMembers(names[regular], (end - (size + _BLOCK - 1) // _BLOCK * _BLOCK)[regular], size[regular])


def _tarfile_members(path: Path) -> ShardMembers:
    names, offsets, sizes = [], [], []
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                if member.isfile():
                    names.append(member.name.encode("utf-8", "surrogateescape"))
                    offsets.append(member.offset_data)
                    sizes.append(member.size)
    except tarfile.TarError as exc:
        raise MarsZooError(f"Tile shard {path} is not a readable tar file ({exc}). Fix: rebuild or re-copy it.") from None
    return ShardMembers(np.array(names, dtype=bytes), np.array(offsets, dtype=np.int64), np.array(sizes, dtype=np.int64))


def shard_members(path: Path) -> ShardMembers:
    """The regular members of one shard, in shard order."""
    try:
        return _ustar_members(path)
    except _Unusual:
        return _tarfile_members(path)


def build_index(
    shards: Sequence[Path], tiles_dir: Path, reporter: Reporter,
    place: Callable[[np.ndarray, Sequence[str], np.ndarray], np.ndarray],
) -> ShardIndex:
    """The index of `shards` (PNG members only), with `place(names, where, shard_of)`
    checking the tiles (a bytes array of names) and giving the (lon, lat) of each."""
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    with reporter.progress(f"Indexing tile shards in {tiles_dir}", len(shards)) as advance:
        for number, shard in enumerate(shards):
            members = shard_members(shard)
            png = has_suffix(members.names, b".png")
            names = members.names[png]
            if np.strings.find(names, b"/").max(initial=-1) >= 0:
                names = np.strings.rpartition(names, b"/")[2]
            parts.append((names, np.full(len(names), number, np.int32), members.offset[png], members.size[png]))
            advance(1)
    names, shard_of, offsets, sizes = (np.concatenate(column) for column in zip(*parts))
    return ShardIndex(names, shard_of, offsets, sizes, place(names, _Where(shards, shard_of), shard_of))


class _Where(Sequence[str]):
    """The shard path of each tile, made only for the tiles an error names."""

    def __init__(self, shards: Sequence[Path], shard_of: np.ndarray) -> None:
        self.shards, self.shard_of = shards, shard_of

    def __len__(self) -> int:
        return len(self.shard_of)

    def __getitem__(self, index):  # type: ignore[override]
        return str(self.shards[int(self.shard_of[index])])


def index_path(tiles_dir: Path, cache_dir: Path) -> Path:
    """Where the index of the gallery in `tiles_dir` is cached."""
    return cache_dir / "gallery-index" / f"{_folder_key(tiles_dir)}.npz"


def _folder_key(tiles_dir: Path) -> str:
    return hashlib.sha256(str(tiles_dir.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _built_from(listed: Listing) -> dict[str, np.ndarray]:
    """What a cached index must have been built from to stand for the gallery now: this
    format, this folder, and the shards `listed` (relative paths) with these stat rows."""
    return {"format": np.array(INDEX_FORMAT), "folder": np.array(str(listed.root.resolve())),
            "shards": listed.paths, "stats": listed.stats}


def _load(path: Path, listed: Listing) -> ShardIndex | None:
    """The cached index at `path` if it was built from the shards `listed` as they are now
    (see `_built_from`) and is sound (its columns agree), else None."""
    expected = _built_from(listed)
    try:
        with np.load(path, allow_pickle=False) as stored:
            recorded = {name: stored[name] for name in expected}
            same = all(np.array_equal(recorded[name], expected[name]) for name in ("format", "folder", "shards"))
            if not (same and unchanged(recorded["stats"], expected["stats"]).all()):
                return None
            index = ShardIndex(**{name: stored[name] for name in ShardIndex.__dataclass_fields__})
    except UNREADABLE:
        return None
    tiles = index.names.shape
    consistent = (index.names.dtype.kind == "S" and len(tiles) == 1 and index.lonlat.shape == (*tiles, 2)
                  and index.shard.shape == index.offset.shape == index.size.shape == tiles)
    return index if consistent else None


def cached_index(
    shards: Sequence[Path], listed: Listing, cache_dir: Path, reporter: Reporter,
    place: Callable[[np.ndarray, Sequence[str], np.ndarray], np.ndarray],
) -> ShardIndex:
    """The index of the gallery's `shards` (`listed`: their listing, relative to the
    gallery folder, in the same order) from the cache when it was built from them as they
    are now, else built and saved in its place."""
    path = index_path(listed.root, cache_dir)
    index = _load(path, listed)
    if index is not None:
        return index
    index = build_index(shards, listed.root, reporter, place)
    try:
        with atomic_output(path) as handle:
            np.savez(handle, **_built_from(listed), **index.__dict__)
        for earlier in path.parent.glob(f"{path.stem}-*.npz"):  # format 2's, named by the shards' sizes and mtimes
            earlier.unlink(missing_ok=True)
    except OSError:
        pass  # only the shortcut for the next run is lost
    return index
