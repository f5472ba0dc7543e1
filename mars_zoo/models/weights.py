"""Own weights (`mars-zoo run MODEL --weights PATH`): which exact weights were evaluated.

A fine-tuned checkpoint of a registered model's architecture is evaluated with the base
model's recipe; the result and the embedding cache name it by content, not by path: the
sha256 of the file, or for a `save_pretrained` folder a sha256 over its files (each
file's relative path and sha256, in sorted order), so renaming or copying the weights
changes nothing and changing one byte changes the revision.

Each family's loader reads them through `own_weights`, which holds them to the family's
`WeightsForm` (one checkpoint file, or a folder) and looks into every checkpoint file
before a library does: an empty file, a text file or a damaged safetensors file is the
user's file at fault, not the plugin, so it is one paragraph (exit 2) that names the
file, what it holds and the forms the model takes, where the library would raise
something that reads as a bug of the plugin.

A folder written by `mars-zoo finetune` holds the weights and their training record
(`training.json`, see mars_zoo.schema.training): a family that takes one checkpoint file takes such
a folder too, and loads the one checkpoint file beside the record. `training_section` reads
the record for the result, so the leaderboard can tell zero-shot weights from weights
fine-tuned on clean or on contaminated data.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mars_zoo.data.files import file_sha256, files_sha256
from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.model import ModelSpec
from mars_zoo.core.reporting import printable
from mars_zoo.core.safe_paths import plain_name
from mars_zoo.schema.training import FINE_TUNED, TRAINING_FILE, UNRECORDED, declared_section, read_training_record


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


# The longest name a result records (the result schema's $defs.name.maxLength; a test keeps
# the two equal).
RECORDED_NAME_MAX = 200
RENAME_FIX = "rename the weights file (or folder) to a plain name, e.g. letters, digits, '.', '_' and '-'"


def weights_name(path: Path) -> str:
    """The name results (and the default result file's name) record for the weights at `path`,
    refused at the start of a run when no result could record it (a control character, bytes
    that are not UTF-8, more characters than a result's names may have), instead of when the
    result is written, after the whole run."""
    field = f"--weights {printable(str(path))}"
    name = plain_name(path.name, field=field, fix=f"{RENAME_FIX}, and pass the new path")
    if len(name) > RECORDED_NAME_MAX:
        raise MarsZooError(f"{field}: its name has {len(name)} characters, more than the {RECORDED_NAME_MAX} a "
                           f"result records. Fix: {RENAME_FIX}, of at most {RECORDED_NAME_MAX} characters, and "
                           f"pass the new path.")
    return name


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


def training_section(spec: ModelSpec) -> dict[str, Any]:
    """What a result of `spec` records of how the evaluated weights were trained: the training
    record of own weights (read and checked before anything runs), else what the model declares."""
    if not spec.weights:
        return declared_section(spec)
    record = Path(spec.weights) / TRAINING_FILE
    if not record.is_file():
        return {"kind": UNRECORDED}
    return {"kind": FINE_TUNED, "record": read_training_record(record, spec)}


# Files of a folder that hold weights (safetensors, or torch.save's formats), by suffix.
CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
_SNIFF = 4096  # bytes read to tell text from a checkpoint


@dataclasses.dataclass(frozen=True)
class WeightsForm:
    """What a family's loader reads from `--weights PATH`: one checkpoint file, or a
    folder (holding `marker`, if given, e.g. save_pretrained's config.json); `words`
    says it in an error message, after "MODEL takes"."""

    folder: bool
    words: str
    marker: str | None = None


def own_weights(spec: ModelSpec, form: WeightsForm) -> Path:
    """`spec.weights`, refused in one paragraph unless it is of `form` and every
    checkpoint file in it can be one (not empty, not text, safetensors intact)."""
    path = Path(spec.weights)
    if not form.folder and (path / TRAINING_FILE).is_file():
        path = _trained_checkpoint(spec, form, path)
    if not path.exists() or path.is_dir() != form.folder:
        raise _refused(spec, form, f"--weights {path} is {_kind(path)}")
    if form.marker and not (path / form.marker).is_file():
        raise _refused(spec, form, f"--weights {path} is a folder without {form.marker}")
    files = sorted(p for p in path.rglob("*") if p.suffix in CHECKPOINT_SUFFIXES) if form.folder else [path]
    for file in files:
        damage = _damage(file)
        if damage:
            where = f": {printable(str(file.relative_to(path)))} in it" if form.folder else ""
            raise _refused(spec, form, f"--weights {path}{where} {damage}")
    return path


def _trained_checkpoint(spec: ModelSpec, form: WeightsForm, folder: Path) -> Path:
    """The one checkpoint file beside the training record in `folder` (mars-zoo finetune's output)."""
    files = sorted(p for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and p.is_file())
    if len(files) != 1:
        names = ", ".join(printable(p.name) for p in files) or "none"
        raise _refused(spec, form, f"--weights {folder} holds {TRAINING_FILE} and {len(files)} checkpoint files "
                                   f"beside it ({names}), where one is loaded")
    return files[0]


def _refused(spec: ModelSpec, form: WeightsForm, what: str) -> MarsZooError:
    words = form.words if form.folder else f"{form.words}, or a folder holding {TRAINING_FILE} and one such file"
    return MarsZooError(f"{what}; {spec.name} takes {words}. Fix: pass weights of that form (a fresh "
                        f"copy, where a copy was damaged on its way).")


def _kind(path: Path) -> str:
    """What `path` is, in words, for a path of the wrong kind."""
    if not path.exists():
        return "missing (no such file or folder)"
    if path.is_dir():
        return "a folder"
    return "an empty file" if path.stat().st_size == 0 else "a text file" if _is_text(path) else "a file"


def _damage(file: Path) -> str | None:
    """Why `file` cannot be a checkpoint ("is empty", ...), or None when it may be one."""
    if file.stat().st_size == 0:
        return "is empty"
    if file.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(file), framework="numpy"):  # reads and checks the header only
                return None
        except SafetensorError as exc:
            return f"is a damaged safetensors file ({type(exc).__name__}: {exc})"
    return "holds text, not a checkpoint" if _is_text(file) else None


def _is_text(file: Path) -> bool:
    """Whether `file` begins as UTF-8 text: checkpoints are binary (safetensors' header
    length, zip and pickle headers hold bytes no text has)."""
    with open(file, "rb") as handle:
        head = handle.read(_SNIFF)
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data"  # a character cut by the end of what was read
    return True
