"""A dataset split as memory-mapped Arrow, opened without `datasets` after its first use.

`datasets.load_dataset` on a directory in the Hub layout resolves the split's data files,
converts them into Arrow files in its own cache and memory-maps those; importing datasets
alone takes one to three seconds, most of a run whose embeddings are all cached. So the
first time a split of a given revision is opened, it is loaded with datasets, and what
datasets produced (its Arrow files, with their sizes, and the split's features) is recorded
in the mars-zoo cache. Later runs open the same files with pyarrow, as datasets itself
does; a file that is gone or changed since (its size, times or inode: the rule of
`mars_zoo.core.stat_memo`) sends the run back to datasets.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from mars_zoo.core.atomic import atomic_write_bytes
from mars_zoo.core.stat_memo import stat_key

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from datasets import Dataset

RECORD_FORMAT = 2  # 2: each file's stat (1 kept its size alone)


class ArrowSplit:
    """The rows of a split: Arrow stream files in datasets' cache (pickled as their paths,
    mapped again in each process) or an in-memory table, and datasets' features as a dict
    (`Features.to_dict()`), optionally restricted to some rows."""

    def __init__(
        self, features: dict[str, Any], files: Sequence[str] = (), table: "pa.Table | None" = None,
        rows: Sequence[int] | None = None,
    ) -> None:
        self.features = features
        self.files = list(files)
        self._table = table
        self._in_memory = table is not None
        self.rows = None if rows is None else list(rows)

    @classmethod
    def of(cls, dataset: "Dataset") -> "ArrowSplit":
        """The split of a freshly loaded `datasets.Dataset` (no row selection)."""
        files = [entry["filename"] for entry in dataset.cache_files]
        features = dataset.features.to_dict()
        return cls(features, files) if files else cls(features, table=dataset.data.table)

    @property
    def table(self) -> "pa.Table":
        if self._table is None:
            import pyarrow as pa

            parts = [pa.ipc.open_stream(pa.memory_map(path)).read_all() for path in self.files]
            self._table = pa.concat_tables(parts) if len(parts) != 1 else parts[0]
        return self._table

    @property
    def column_names(self) -> list[str]:
        return list(self.features)

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else self.table.num_rows

    def column(self, name: str) -> "pa.ChunkedArray | pa.Array":
        column = self.table.column(name)
        return column if self.rows is None else column.take(self.rows)

    def value(self, name: str, index: int) -> Any:
        """One cell as a Python value (an Image cell is {"bytes": ..., "path": ...})."""
        row = index if self.rows is None else self.rows[index]
        return self.table.column(name)[row].as_py()

    def select(self, rows: Sequence[int]) -> "ArrowSplit":
        chosen = list(rows) if self.rows is None else [self.rows[i] for i in rows]
        return ArrowSplit(self.features, self.files, self._table if self._in_memory else None, chosen)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if not self._in_memory:
            state["_table"] = None  # mapped again from the files in the worker
        return state


def open_split(path: Path, revision: str, split: str, records: Path, load: Callable[[], "Dataset"]) -> ArrowSplit:
    """The split `split` of the copy at `path` (at `revision`): from the Arrow files that
    `load` (datasets) produced the last time, when they are still there, else `load()`."""
    key = json.dumps([RECORD_FORMAT, str(path.resolve()), revision, split])
    record_path = records / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}.json"
    recorded = _read_record(record_path)
    if recorded is not None:
        return recorded
    opened = ArrowSplit.of(load())
    if opened.files:
        record = {"files": opened.files, "stats": _stats(opened.files), "features": opened.features}
        try:
            atomic_write_bytes(record_path, json.dumps(record, sort_keys=True).encode("utf-8"))
        except OSError:
            pass  # only a shortcut for the next run is lost
    return opened


def _read_record(record_path: Path) -> ArrowSplit | None:
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        files, stats, features = record["files"], record["stats"], record["features"]
        if _stats(files) != stats:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return ArrowSplit(features, files)


def _stats(files: Sequence[str]) -> list:
    return [stat_key(os.stat(name)) for name in files]
