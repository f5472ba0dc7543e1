"""The one rule for trusting what was learnt from a file's bytes without reading them
again: it stands while the file's stat is unchanged.

Reading a file in full is what makes trusting a large copy slow (gigabytes of embedding
cache shards, a million gallery tiles, a thousand tile shards to index). So what was
learnt from a file (its digest, the index of its members, its conversion) is kept with
the file's `STAT_FIELDS` as they were when it was read: size, modification time, change
time and inode (nanoseconds). While all four are unchanged the file is not read again;
any difference means a full read. Size and modification time alone are not enough: a
file edited in place keeps its size and can be given back its modification time by hand
(`touch -d`, `os.utime`), and so can two files of one size swapped by renames. The
change time moves on every write (and on setting the times), and no call sets it back;
a file replaced by rename has another inode. Damage that bypasses the file system (a
failing disk) keeps the stat: deleting the record makes the next use read everything.

Every use keeps and compares exactly these values, made here. `stat_key` gives one
file's, for a JSON record compared as a whole: the embedding cache's verified shards
(`StatMemo` below), the Arrow files of a converted parquet split
(`mars_zoo.data.arrow_splits`), the CTX builder's done-markers
(`mars_zoo.data.ctx_tiles`). `stat_rows` gives many files' as one int64 array: the
listing of a data copy (`mars_zoo.data.files`), with which a copy's fingerprints
(`mars_zoo.data.fingerprints`, a million files for a PNG gallery) and a tar gallery's
cached index (`mars_zoo.data.gallery_index`) compare their recorded rows through
`unchanged`.

`StatMemo`'s sidecar is written atomically and only when it changed; an unreadable one,
or one written for another place (`scope`), counts as empty.
"""

from __future__ import annotations

import json
import operator
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from mars_zoo.core.atomic import atomic_write_bytes
from mars_zoo.core.folders import write_error

StatKey = list[int]
STAT_FIELDS = ("st_size", "st_mtime_ns", "st_ctime_ns", "st_ino")
SIZE = STAT_FIELDS.index("st_size")  # the column of a file's size in `stat_rows`
_UNSIGNED = {"st_ino"}  # kept as int64 with its 64 bits as they are: an inode number may exceed 2**63


def stat_rows(stats: Sequence[os.stat_result]) -> np.ndarray:
    """The STAT_FIELDS of each stat, one int64 row per file: what must be unchanged for
    what was learnt from the file to stand. One column at a time, without a Python
    object per value (a PNG gallery lists a million files)."""
    rows = np.empty((len(stats), len(STAT_FIELDS)), dtype=np.int64)
    for column, field in enumerate(STAT_FIELDS):
        dtype = np.uint64 if field in _UNSIGNED else np.int64
        rows[:, column] = np.fromiter(map(operator.attrgetter(field), stats), dtype, len(stats)).view(np.int64)
    return rows


def stat_key(stat: os.stat_result) -> StatKey:
    """One file's STAT_FIELDS as the stat gives them, for a JSON record (which, unlike an
    int64 array, holds any inode number as it is)."""
    return [getattr(stat, field) for field in STAT_FIELDS]


def unchanged(recorded: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Per file, whether its recorded row (of `stat_rows`, when what was learnt from it was
    learnt) equals its current one in every field. Rows of another shape or type than
    `stat_rows` gives (a record written under another rule) stand for nothing."""
    if recorded.shape != current.shape or recorded.dtype != current.dtype:
        return np.zeros(len(current), dtype=bool)
    return (recorded == current).all(axis=1)


class StatMemo:
    """The sidecar at `path`: file name -> [*its `stat_key`, digest].

    `recall` answers from what the sidecar held when opened; `remember` records what
    this pass saw; `save` replaces the sidecar with this pass's records, so files gone
    since (or no longer sound) are forgotten."""

    def __init__(self, path: Path, scope: str) -> None:
        self.path = path
        self.scope = scope
        self.remembered = self._load()
        self.current: dict[str, list] = {}

    def _load(self) -> dict[str, list]:
        try:
            memo = json.loads(self.path.read_text(encoding="utf-8"))
            if memo.get("root") == self.scope and isinstance(memo.get("files"), dict):
                return memo["files"]
        except (OSError, ValueError, AttributeError):
            pass
        return {}

    def recall(self, name: str, key: StatKey) -> str | None:
        """The digest remembered for `name` if its stat is still `key`, else None."""
        entry = self.remembered.get(name)
        if isinstance(entry, list) and entry and isinstance(entry[-1], str) and entry[:-1] == key:
            return entry[-1]
        return None

    def remember(self, name: str, key: StatKey, digest: str) -> None:
        self.current[name] = [*key, digest]

    def keep_remembered(self) -> None:
        """Carry the sidecar's records into this pass, for a pass that only adds some."""
        self.current = {**self.remembered, **self.current}

    def save(self, what: str) -> None:
        """Write this pass's records (if they differ from the sidecar's); `what` names the
        sidecar in the error a refused write raises."""
        if self.current == self.remembered:
            return
        payload = json.dumps({"root": self.scope, "files": self.current}, sort_keys=True)
        try:
            atomic_write_bytes(self.path, payload.encode("utf-8"))
        except OSError as exc:
            raise write_error(self.path, what, exc) from None
