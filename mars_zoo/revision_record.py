"""A JSON file of Hub commits recorded at first use, shared by concurrent runs.

Datasets and models without a pinned commit are resolved once (their main branch's commit
then) and the commit is written here, so that later runs keep using the same data and the
same weights, and can run offline, until the user asks for another revision. Runs sharing a
cache update the file under an exclusive lock (`<file>.lock`, where the platform has
fcntl) and write it atomically, so none loses another's record and a killed run leaves the
old file or the new one, never half of one. A run that finds the key recorded meanwhile
adopts that commit.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

from mars_zoo.atomic import atomic_write_bytes
from mars_zoo.errors import MarsZooError


class RevisionRecord:
    """Commits by key (a repository id), kept in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, str]:
        if not self.path.is_file():
            return {}
        try:
            recorded = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise MarsZooError(
                f"{self.path} is not valid JSON ({exc}). Fix: delete it; each unpinned repository "
                f"is then resolved to its current commit again."
            ) from exc
        return {str(key): str(value) for key, value in recorded.items()}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an exclusive lock for a read-modify-write. Where fcntl does not exist
        (Windows) this does not lock: concurrent runs may then lose a record, which costs
        one more resolution of the main branch later."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover (not on Linux or macOS)
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
            yield

    def record(self, key: str, commit: str) -> str:
        """Record `commit` for `key` unless another run recorded one first; the commit that
        stands in the record is returned."""
        with self._locked():
            recorded = self.read()
            if key not in recorded:
                recorded[key] = commit
                text = json.dumps(recorded, indent=2, sort_keys=True) + "\n"
                atomic_write_bytes(self.path, text.encode("utf-8"))
            return recorded[key]
