"""Dataclasses of numpy arrays kept as .npz cache files, read back whole or not at all.

A cache file may be missing, cut short, of an older layout or damaged by hand; its reader
then makes it again. So a file that cannot be read, or lacks a field, reads as None (the
caller still checks that what it read belongs to what it asked about).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TypeVar

import numpy as np

# What np.load raises for a missing, truncated, non-.npz or pickled file, and a missing field.
UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)

Record = TypeVar("Record")


def read_array_record(path: Path, record_type: type[Record]) -> Record | None:
    """The `record_type` dataclass whose fields are the arrays of the .npz file at `path`,
    or None where the file cannot be read or lacks one of them."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return record_type(**{name: stored[name] for name in record_type.__dataclass_fields__})
    except UNREADABLE:
        return None
