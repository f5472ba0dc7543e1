"""The visible files of a folder as the documented rule says, computed with os.walk (the
independent side of the listing and fingerprint tests)."""

from __future__ import annotations

import os
from typing import Iterator


def visible_files(root) -> Iterator[tuple[str, str]]:
    """(relative path with '/', full path) of each file under `root`, hidden entries skipped."""
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        for name in files:
            if not name.startswith("."):
                path = os.path.join(directory, name)
                yield os.path.relpath(path, root).replace(os.sep, "/"), path
