"""Validating many result files together: a `submissions/` folder, or files named one by one.

One file at a time, `mars_zoo.results_schema` decides validity. Together, files must also not
repeat a result (same model name, model revision, benchmark and provenance), and a
`reproduced` result must name a model the registry knows, so that anyone can re-run it.

A directory is read as a submissions folder: every JSON file in it must sit at
`<family>/<file>.json` with `<family>` equal to the result's `model.family`, and synthetic
results (the mini benchmark) do not belong there. Files named directly get only the per-file
rules, so a local run can be checked (or shown on the leaderboard with `--include`) anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Container, Iterable, Sequence

from mars_zoo.errors import MarsZooError
from mars_zoo.results_schema import FILE, Problem, read_result

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
    def key(self) -> tuple[str, str | None, str, str]:
        model = self.data["model"]
        return (model["name"], model.get("revision"), self.data["benchmark"]["name"],
                self.data["provenance"])


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
    from mars_zoo.registry import load_registry  # loads plugins: only when a file needs it

    return load_registry()


def _layout_problems(path: Path, folder: Path, data: dict) -> Iterable[Problem]:
    relative = path.relative_to(folder)
    family = data["model"]["family"]
    if len(relative.parts) != 2:
        yield Problem(FILE, f"must sit at <family>/<file>.json in the submissions folder: "
                            f"move it to {folder / family / relative.name}")
    elif relative.parts[0] != family:
        yield Problem("model.family", f"is {family!r}, but the file is in folder "
                                      f"{relative.parts[0]!r}; move it to {family}/{relative.name}")
    if data["benchmark"]["synthetic"]:
        yield Problem("benchmark.synthetic",
                      "synthetic results (the mini benchmark) are not submissions; show a local "
                      "run with 'mars-zoo leaderboard build --include FILE' instead")


def _expand(paths: Sequence[Path]) -> list[tuple[Path, Path | None]]:
    """(file, the folder it was found in, or None for a file named directly)."""
    found: dict[Path, tuple[Path, Path | None]] = {}
    for path in paths:
        if path.is_dir():
            files = [(file, path) for file in sorted(path.rglob(f"*{RESULT_SUFFIX}")) if file.is_file()]
        elif path.exists():
            files = [(path, None)]
        else:
            raise MarsZooError(f"{path} does not exist; pass result files or folders of them "
                               f"(default: submissions/).")
        for file, folder in files:
            found.setdefault(file.resolve(), (file, folder))  # a file named twice is read once
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
    for path, folder in _expand([Path(p) for p in paths]):
        validation.files += 1
        display = path.relative_to(folder).as_posix() if folder is not None else str(path)
        shown = str(path)
        data, problems = read_result(path)
        if not problems:
            if folder is not None:
                problems += _layout_problems(path, folder, data)
            if data["provenance"] == "reproduced" and known_models is not None:
                if names is None:
                    names = known_models()
                if data["model"]["name"] not in names:
                    problems.append(Problem(
                        "model.name",
                        f"{data['model']['name']!r} is not a registered model; a reproduced result "
                        f"must come from 'mars-zoo run' with a model 'mars-zoo list' shows (add its "
                        f"plugin first), otherwise submit it as provenance 'reported' with a source"))
        if not problems:
            result = ResultFile(path, display, data, folder is not None)
            first = seen.setdefault(result.key, shown)
            if first != shown:
                name, revision, benchmark, provenance = result.key
                problems.append(Problem(
                    "model.name",
                    f"duplicates {first}: both are {provenance} results of {name!r} "
                    f"{'at revision ' + repr(revision) if revision else 'with no revision'} on "
                    f"{benchmark}; keep one file per model revision"))
            else:
                validation.results.append(result)
        validation.problems += [FileProblem(shown, p.field, p.message) for p in problems]
    return validation
