"""What was learnt from a file's bytes, remembered for as long as its stat is unchanged.

Reading a file in full to hash it is what makes trusting a large copy slow (gigabytes of
embedding cache shards). So the digest of a file is kept in a small JSON sidecar
together with the file's size, modification time, change time and inode (nanoseconds) as
they were when it was read. A file whose four values are unchanged is not read again;
any difference means a full read. Every write through the file system moves the change
time, which (unlike the modification time) cannot be set back by hand, and a file
replaced by rename has a new inode. Damage that bypasses the file system (a failing
disk) keeps the stat: deleting the sidecar makes the next use read everything again.

A sidecar of dicts suits hundreds of files (a cache entry's shards). A local data copy
can hold a million (a PNG-folder gallery), so `mars_zoo.data.fingerprints` keeps the
same STAT_FIELDS as numpy arrays compared at once.

The sidecar is written atomically and only when it changed; an unreadable one, or one
written for another place (`scope`), counts as empty.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mars_zoo.atomic import atomic_write_bytes
from mars_zoo.folders import write_error

StatKey = list[int]
STAT_FIELDS = ("st_size", "st_mtime_ns", "st_ctime_ns", "st_ino")


def stat_key(stat: os.stat_result) -> StatKey:
    """What must be unchanged for a remembered digest to stand: the STAT_FIELDS."""
    return [getattr(stat, field) for field in STAT_FIELDS]


class StatMemo:
    """The sidecar at `path`: file name -> [size, mtime_ns, ctime_ns, inode, digest].

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
        if isinstance(entry, list) and len(entry) == 5 and entry[:4] == key and isinstance(entry[4], str):
            return entry[4]
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
