"""A JSON file of Hub commits recorded at first use, shared by concurrent runs.

Datasets and models without a pinned commit are resolved once (their main branch's commit
then) and the commit is written here, so that later runs keep using the same data and the
same weights, and can run offline, until the user asks for another revision. Runs sharing a
cache update the file under an exclusive lock (`<file>.lock`, where the platform has
fcntl) and write it atomically, so none loses another's record and a killed run leaves the
old file or the new one, never half of one. A run that finds the key recorded meanwhile
adopts that commit.

Only 40-hex commits are read from the file: a branch name ("main"), a path or anything
else written there by hand would reach the Hub (or a folder) as the revision to load, so
it is refused in one paragraph that names the file, the entry and the fix.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Iterator

from mars_zoo.core.atomic import atomic_write_bytes
from mars_zoo.core.errors import MarsZooError

COMMIT = re.compile(r"^[0-9a-f]{40}$")  # a Hub commit, as the Hub writes it


class RevisionRecord:
    """Commits by key (a repository id), kept in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, str]:
        """Every recorded commit by key, each checked to be a commit."""
        entries = self._entries()
        return {key: self._checked(entries, key, None) for key in entries}

    def commit(self, key: str, user: str | None = None) -> str | None:
        """The commit recorded for `key`, None if there is none; `user` (e.g. "Model
        acme/m (plugin acme)") is what needs it, which the error names when the entry is
        not a commit."""
        return self._checked(self._entries(), key, user)

    def _entries(self) -> dict:
        """The file's JSON object as written (no file: empty)."""
        if self.path.is_dir():
            raise MarsZooError(
                f"{self.path} is a folder, but mars-zoo keeps its recorded commits in a file of that "
                f"name. Fix: move the folder away; each unpinned repository is then resolved to its "
                f"current commit again."
            )
        if not self.path.exists():
            return {}
        try:
            recorded = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise MarsZooError(f"{self.path} cannot be read ({exc.strerror or exc}). Fix: check its "
                               f"permissions.") from exc
        except ValueError as exc:  # not JSON, or not UTF-8
            raise MarsZooError(
                f"{self.path} is not valid JSON ({exc}). Fix: delete it; each unpinned repository "
                f"is then resolved to its current commit again."
            ) from exc
        if not isinstance(recorded, dict):
            raise MarsZooError(
                f"{self.path} holds a JSON {type(recorded).__name__} where an object of repository: "
                f"commit is expected. Fix: delete it; each unpinned repository is then resolved to its "
                f"current commit again."
            )
        return recorded

    def _checked(self, entries: dict, key: str, user: str | None) -> str | None:
        """`entries[key]` if it is a commit, None if absent; anything else is refused."""
        if key not in entries:
            return None
        value = entries[key]
        if isinstance(value, str) and COMMIT.fullmatch(value):
            return value
        raise MarsZooError(
            f"{f'{user}: ' if user else ''}{self.path} records {json.dumps(value)} as the commit of "
            f"repository {key}, but only a 40-hex commit is read from this file. Fix: delete the entry "
            f"{json.dumps(key)} (or the whole file), so that the repository is resolved to the current "
            f"commit of its main branch again, or put the 40-hex commit to use there."
        )

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

    def record(self, key: str, commit: str, user: str | None = None) -> str:
        """Record `commit` for `key` unless another run recorded one first; the commit that
        stands in the record is returned (`user` as for `commit`)."""
        with self._locked():
            entries = self._entries()
            standing = self._checked(entries, key, user)
            if standing is None:
                entries[key] = standing = commit
                text = json.dumps(entries, indent=2, sort_keys=True) + "\n"
                atomic_write_bytes(self.path, text.encode("utf-8"))
            return standing
