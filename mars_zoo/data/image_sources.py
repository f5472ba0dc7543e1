"""Image sources: the image collections the tasks embed, decoded lazily.

Each source (`DatasetImageSource`, `FileImageSource`, `TarImageSource`) decodes in
`__getitem__` and pickles cheaply (a memory-mapped Arrow file, a list of paths, or an
index into tar shards), so DataLoader workers can decode in parallel; `many` reads a
batch of them, streamed from the shard where the source is a tar gallery. Every image
comes out RGB, except under MTEB's task 1 protocol (`MTEB_PREPARATION`), where an image keeps
the mode it is stored in, as MTEB hands it to a model. An image that does not decode is a `MarsZooError` naming the item, its
file or shard, and the fix (it carries only a string, so it survives the trip back
from a worker process).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np
from PIL import Image

from mars_zoo.data.decoding import decode, decode_stored
from mars_zoo.data.images import MTEB_PREPARATION, PUBLISHED_PREPARATION, PreparationError, prepare_published
from mars_zoo.core.errors import MarsZooError

if TYPE_CHECKING:  # pragma: no cover
    from mars_zoo.data.arrow_splits import ArrowSplit
    from mars_zoo.data.types import ImageSource

_MAX_OPEN_SHARDS = 32
# Members further apart than this (other files stored between tiles) are read separately
# rather than reading the bytes between them.
_MAX_READ_GAP = 1 << 20


def many(source: "ImageSource", indices: Sequence[int]) -> list[Image.Image]:
    """The images at `indices` of `source`, in that order: in runs where the source reads
    several at once (`TarImageSource.many`), else one by one."""
    read = getattr(source, "many", None)
    return read(indices) if read is not None else [source[index] for index in indices]


class NameList(Sequence[str]):
    """Item ids stored as one ASCII byte array: a 1.4-million-tile gallery's ids pickle as
    one buffer instead of 1.4 million string objects."""

    def __init__(self, names: Sequence[str]) -> None:
        self._names = np.array([name.encode("ascii") for name in names], dtype=bytes)

    @classmethod
    def of_ascii(cls, names: np.ndarray) -> "NameList":
        """A NameList of a numpy bytes array of ASCII names, taken as it is."""
        listed = cls([])
        listed._names = names
        return listed

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [name.decode("ascii") for name in self._names[index]]
        return self._names[index].decode("ascii")

    def __iter__(self) -> Iterator[str]:
        return (name.decode("ascii") for name in self._names.tolist())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"NameList({len(self)} names)"


class DatasetImageSource:
    """The images of one Image column of a dataset split (memory-mapped Arrow: pickles
    as a file reference). Decoding happens here, not in `datasets`, so the bytes are read
    only for the image asked for and every image is converted the same way. `where` names
    the copy (dataset id and folder) in errors. `preparation` is a task 1 image preparation
    (`images.IMAGE_PREPARATIONS`): with the published one each image's bytes first go through
    `prepare_published`; with MTEB's each is decoded as stored (`decode_stored`); without one
    (tasks 2 and 3) each is decoded to RGB."""

    def __init__(
        self, dataset: "ArrowSplit", column: str, ids: Sequence[str], where: str,
        preparation: str | None = None,
    ) -> None:
        if len(ids) != len(dataset):
            raise ValueError("one id per row is required")
        if preparation not in (None, PUBLISHED_PREPARATION, MTEB_PREPARATION):
            raise ValueError(f"unknown image preparation {preparation!r}")
        self._dataset = dataset
        self._column = column
        self.ids = list(ids)
        self.where = where
        self.preparation = preparation

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Image.Image:
        index = int(index)
        data = self._dataset.value(self._column, index)["bytes"]
        where = f"row {index} of {self.where}"
        fix = "download the dataset again with `mars-zoo data download`, or replace the copy"
        if self.preparation == MTEB_PREPARATION:
            return decode_stored(data, self.ids[index], where, fix)
        if self.preparation == PUBLISHED_PREPARATION:
            try:
                data = prepare_published(data)
            except PreparationError as exc:
                raise MarsZooError(f"Image {self.ids[index]} ({where}): {exc}. Fix: {fix}.") from None
        return decode(data, self.ids[index], where, fix)


class PathList(Sequence[str]):
    """The paths of files under `root`, stored as one bytes array of their relative paths
    (as `NameList` stores ids): made one at a time when an image is read, so a gallery
    of a million PNG files makes no million strings to open or to send to a worker."""

    def __init__(self, root: Path, relatives: np.ndarray) -> None:
        self.root, self.relatives = os.fsencode(root), relatives

    def __len__(self) -> int:
        return len(self.relatives)

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        return os.fsdecode(self.root + b"/" + self.relatives[index])


class FileImageSource:
    """Images in files (query images, PNG tile galleries, fetched URL images); `fix` says
    what to do about a file that does not decode."""

    def __init__(self, paths: Sequence[str] | Sequence[Path], ids: Sequence[str], fix: str) -> None:
        if len(ids) != len(paths):
            raise ValueError("one id per path is required")
        self.paths = paths
        self.ids = ids
        self.fix = fix

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Image.Image:
        path = str(self.paths[int(index)])
        return decode(path, self.ids[int(index)], path, self.fix)


class TarImageSource:
    """Images stored as members of tar shards, streamed from them.

    The index (shard, byte offset, size per image) is built once from the tar headers.
    `many` reads the members it is asked for in runs: members of one shard that follow
    each other (a batch of a gallery, in gallery order) come in one sequential read from
    the first one's data to the last one's end, the headers between them included, so a
    batch streams through its shard instead of seeking to each tile. Reads are `os.pread`
    on descriptors opened lazily in each process, so a forked DataLoader worker never
    shares a file position with its parent.
    """

    def __init__(
        self, shards: Sequence[str], ids: NameList, shard: np.ndarray, offset: np.ndarray, size: np.ndarray
    ) -> None:
        self._fds: dict[int, int] = {}
        self.shards = list(shards)
        self.ids = ids
        self._shard = shard
        self._offset = offset
        self._size = size

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fds"] = {}
        return state

    def _fd(self, shard: int) -> int:
        fd = self._fds.get(shard)
        if fd is None:
            if len(self._fds) >= _MAX_OPEN_SHARDS:
                os.close(self._fds.pop(next(iter(self._fds))))
            fd = self._fds[shard] = os.open(self.shards[shard], os.O_RDONLY)
        return fd

    def __getitem__(self, index: int) -> Image.Image:
        return self.many([int(index)])[0]

    def _runs(self, indices: np.ndarray) -> list[np.ndarray]:
        """`indices` cut where the next member is not further on in the same shard within
        `_MAX_READ_GAP` bytes of the previous one's end: each piece is one read."""
        shard, start = self._shard[indices], self._offset[indices]
        end = start + self._size[indices]
        gap = start[1:] - end[:-1]
        cuts = np.flatnonzero((shard[1:] != shard[:-1]) | (gap < 0) | (gap > _MAX_READ_GAP)) + 1
        return np.split(indices, cuts)

    def many(self, indices: Sequence[int]) -> list[Image.Image]:
        """The images at `indices`, in that order, read in runs (see the class docstring)."""
        images: list[Image.Image] = []
        if not len(indices):
            return images
        for run in self._runs(np.asarray(indices, dtype=np.int64)):
            shard = int(self._shard[run[0]])
            first = int(self._offset[run[0]])
            data = os.pread(self._fd(shard), int(self._offset[run[-1]] + self._size[run[-1]]) - first, first)
            for index in run.tolist():
                start = int(self._offset[index]) - first
                stop = start + int(self._size[index])
                if stop > len(data):
                    raise MarsZooError(
                        f"Tile {self.ids[index]} is truncated in {self.shards[shard]}: "
                        f"the shard changed after it was indexed. Re-run to index it again."
                    )
                images.append(decode(
                    data[start:stop], self.ids[index], f"member of {self.shards[shard]}",
                    "rebuild the gallery with `mars-zoo tiles build`, or copy the shard again",
                ))
        return images

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self) -> None:
        self.close()
