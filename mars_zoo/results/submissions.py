"""Validating many result files together: a `submissions/` folder, or files named one by one.

One file at a time, `mars_zoo.results.validation` decides validity. Together, files must also not
repeat a result (same model name, model revision, benchmark and provenance), and a
`reproduced` result must name a model the registry knows, so that anyone can re-run it, and
record the training that model declares (zero-shot, or declared Mars training).

A directory is read as a submissions folder: every JSON file in it must sit at
`<family>/<file>.json` with `<family>` equal to the result's `model.family`, and synthetic
results (the mini benchmark) do not belong there. Symbolic links, special files and anything
resolving outside the folder are refused without being read, so that a link cannot publish (or
print) a file from elsewhere. Files named directly get only the per-file rules, so a local run can
be checked (or shown on the leaderboard with `--include`) anywhere. File names are shown with
unprintable characters escaped.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Container, Iterable, Iterator, Sequence

from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import printable
from mars_zoo.schema.results_schema import FILE, Problem
from mars_zoo.results.validation import read_result

RESULT_SUFFIX = ".json"

KnownModels = Container[str]


@dataclass(frozen=True, order=True)
class FileProblem:
    """A problem of one file, printed as `FILE: field.path: message`."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class ResultFile:
    """A result file that passed validation.

    `display` is the name shown to people: relative to the folder it came from
    (`openclip/vit-l-16__reported.json`) or, for a file named directly, the path as given.
    """

    path: Path
    display: str
    data: dict[str, Any]
    in_folder: bool

    @property
    def key(self) -> tuple[str, str | None, str, str, str | None]:
        """What one file per result is kept for: model, revision, benchmark, provenance, and the task 1
        protocol (its image preparation), so a run under MTEB's protocol sits beside the paper's."""
        model = self.data["model"]
        paired = self.data["tasks"].get("paired") or {}
        return (model["name"], model.get("revision"), self.data["benchmark"]["name"],
                self.data["provenance"], paired.get("image_preparation"))


@dataclass
class Validation:
    """The outcome of checking a set of files: the valid results and every problem."""

    results: list[ResultFile] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    files: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _registry_names() -> KnownModels:
    from mars_zoo.models.registry import load_registry  # loads plugins: only when a file needs it

    return load_registry()


def _layout_problems(path: Path, folder: Path, data: dict) -> Iterable[Problem]:
    relative = path.relative_to(folder)
    family = data["model"]["family"]
    if len(relative.parts) != 2:
        yield Problem(FILE, f"must sit at <family>/<file>.json in the submissions folder: "
                            f"move it to {printable(str(folder / family / relative.name))}")
    elif relative.parts[0] != family:
        yield Problem("model.family", f"is {family!r}, but the file is in folder "
                                      f"{relative.parts[0]!r}; move it to {printable(family + '/' + relative.name)}")
    if data["benchmark"]["synthetic"]:
        yield Problem("benchmark.synthetic",
                      "synthetic results (the mini benchmark) are not submissions; show a local "
                      "run with 'mars-zoo leaderboard build --include FILE' instead")


def _declared_problems(data: dict, names: KnownModels) -> list[Problem]:
    """What the registered model declares of its training, where the registry is at hand."""
    from mars_zoo.models.registry import Registry
    from mars_zoo.schema.training import declared_problems

    return declared_problems(data, names.get(data["model"]["name"])) if isinstance(names, Registry) else []


@dataclass(frozen=True)
class _Found:
    """A file to validate: where it is, the folder it was found in (None for a file named
    directly), where to read it, and why it must not be read at all (`refused`)."""

    path: Path
    folder: Path | None
    resolved: Path
    refused: str | None = None


def _refusal(path: Path, folder: Path | None) -> str | None:
    """Why `path` is not read: a link or special file in a submissions folder, or anything that
    resolves outside it. Nothing of such a file is read or shown, not even its target."""
    if folder is not None and path.is_symlink():
        kind = "folder" if path.is_dir() else "file"
        return (f"is a symbolic link (to a {kind}), which is never followed in a submissions folder, so it "
                f"was not read: put the result file itself there instead of a link")
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a FIFO, device or socket), so it was not read: name a result file"
    if folder is not None and not path.resolve().is_relative_to(folder.resolve()):
        return "resolves to a place outside the submissions folder, so it was not read"
    return None


def _folder_files(folder: Path) -> Iterator[Path]:
    """Every *.json file and every linked folder below `folder`; linked folders are not entered."""
    for root, dirs, files in os.walk(folder):  # followlinks=False
        base = Path(root)
        yield from (base / name for name in dirs if (base / name).is_symlink())
        dirs[:] = [name for name in dirs if not (base / name).is_symlink()]
        yield from (base / name for name in files if name.endswith(RESULT_SUFFIX))


def _expand(paths: Sequence[Path]) -> list[_Found]:
    """Every file to validate, each once, in a stable order."""
    found: dict[Path, _Found] = {}
    for path in paths:
        if path.is_dir():
            files = [(file, path) for file in sorted(_folder_files(path))]
        elif path.exists() or path.is_symlink():
            files = [(path, None)]
        else:
            raise MarsZooError(f"{printable(str(path))} does not exist; pass result files or folders of them "
                               f"(default: submissions/).")
        for file, folder in files:
            refused = _refusal(file, folder)
            resolved = file.absolute() if refused else file.resolve()
            found.setdefault(resolved, _Found(file, folder, resolved, refused))  # a file named twice is read once
    return list(found.values())


def validate_paths(
    paths: Sequence[str | Path],
    known_models: KnownModels | Callable[[], KnownModels] | None = _registry_names,
) -> Validation:
    """Check every result file in `paths` (files, or folders read as submissions folders).

    `known_models` is what `reproduced` model names are checked against: a container of
    names, a callable that returns one (called at most once, and only if some file is
    reproduced: by default the plugin registry), or None to skip the check (the leaderboard
    build, which must never import plugin code).
    """
    validation = Validation()
    seen: dict[tuple, str] = {}
    names: KnownModels | None = None if callable(known_models) else known_models
    for item in _expand([Path(p) for p in paths]):
        path, folder = item.path, item.folder
        validation.files += 1
        display = printable(path.relative_to(folder).as_posix() if folder is not None else str(path))
        shown = printable(str(path))
        if item.refused:
            validation.problems.append(FileProblem(shown, FILE, item.refused))
            continue
        data, problems = read_result(item.resolved)  # resolved before any plugin could change directory
        if not problems:
            if folder is not None:
                problems += _layout_problems(path, folder, data)
            if data["provenance"] == "reproduced" and known_models is not None:
                if names is None:
                    names = known_models()
                if data["model"]["name"] in names:
                    problems += _declared_problems(data, names)
                else:
                    problems.append(Problem(
                        "model.name",
                        f"{data['model']['name']!r} is not a registered model; a reproduced result "
                        f"must come from 'mars-zoo run' with a model 'mars-zoo list' shows (add its "
                        f"plugin first, or pass --plugins-dir DIR for a plugin folder), otherwise "
                        f"submit it as provenance 'reported' with a source"))
        if not problems:
            result = ResultFile(path, display, data, folder is not None)
            first = seen.setdefault(result.key, shown)
            if first != shown:
                name, revision, benchmark, provenance, preparation = result.key
                protocol = f" with task 1 images {preparation}" if preparation else ""
                problems.append(Problem(
                    "model.name",
                    f"duplicates {first}: both are {provenance} results of {name!r} "
                    f"{'at revision ' + repr(revision) if revision else 'with no revision'} on "
                    f"{benchmark}{protocol}; keep one file per model revision and task 1 protocol"))
            else:
                validation.results.append(result)
        validation.problems += [FileProblem(shown, p.field, p.message) for p in problems]
    return validation
