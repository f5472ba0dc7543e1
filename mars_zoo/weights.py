"""Own weights (`mars-zoo run MODEL --weights PATH`): which exact weights were evaluated.

A fine-tuned checkpoint of a registered model's architecture is evaluated with the base
model's recipe; the result and the embedding cache name it by content, not by path: the
sha256 of the file, or for a `save_pretrained` folder a sha256 over its files (each
file's relative path and sha256, in sorted order), so renaming or copying the weights
changes nothing and changing one byte changes the revision.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mars_zoo.data.files import file_sha256, files_sha256
from mars_zoo.errors import MarsZooError
from mars_zoo.model import ModelSpec
from mars_zoo.reporting import printable
from mars_zoo.safe_paths import plain_name


def content_sha256(path: Path) -> str:
    """sha256 of a file; for a folder, sha256 of the lines '<relative path> <sha256>' of
    every file under it, sorted by path."""
    if path.is_file():
        return file_sha256(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    if not files:
        raise MarsZooError(f"--weights {path} is an empty folder. Fix: pass the checkpoint file, or "
                           f"the folder written by save_pretrained.")
    return files_sha256(path, files)


def weights_name(path: Path) -> str:
    """The name results (and the default result file's name) record for the weights at `path`,
    refused at the start of a run when no result could record it (a control character, bytes
    that are not UTF-8), instead of when the result is written, after the whole run."""
    return plain_name(path.name, field=f"--weights {printable(str(path))}",
                      fix="rename the weights file (or folder) to a plain name, e.g. letters, digits, '.', '_' "
                          "and '-', and pass the new path")


def with_own_weights(spec: ModelSpec, path: Path) -> ModelSpec:
    """`spec` set to evaluate the weights at `path` (see `ModelSpec`'s docstring)."""
    path = path.expanduser().resolve()
    weights_name(path)
    if not path.exists():
        raise MarsZooError(
            f"--weights {path}: no such file or folder. Fix: pass the fine-tuned checkpoint of "
            f"{spec.name}'s architecture (a checkpoint file, or a save_pretrained folder for "
            f"transformers models)."
        )
    try:
        digest = content_sha256(path)
    except OSError as exc:
        raise MarsZooError(f"--weights {path} cannot be read: {exc.strerror or exc}. Fix: check its "
                           f"permissions.") from exc
    return dataclasses.replace(spec, weights=str(path), weights_sha256=digest)
