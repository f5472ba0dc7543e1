"""A Hugging Face cache laid out by hand: what an offline machine holds after a download."""

from __future__ import annotations

import shutil
from pathlib import Path


def cache_model(hub: Path, repo: str, commit: str, files: dict[str, Path]) -> Path:
    """Put `files` (name: path) into the Hugging Face cache `hub` as commit `commit` of
    model repository `repo`, the commit its main branch points to (the last one put in);
    returns the snapshot."""
    folder = hub / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, path in files.items():
        shutil.copy(path, snapshot / name)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    return snapshot
