"""Fault corpus, path traversal: names from files, results, plugins and the command line that
would write outside the folder the user named.

Model names (`org/../../x`, `org/..`), Hub repository ids, revisions, weights and CTX file
names, and symbolic links already in the output tree, for every command that writes: `import
mteb`, `export mteb`, `validate` with `leaderboard build`, `run` and `search` (hostile names
registered by a --plugins-dir plugin, a --weights file name), and `tiles build`. Each case
asserts the exit code, one error paragraph naming the field or file and the fix, no traceback,
and, from a snapshot of the whole scratch folder before and after, that nothing was written
outside the folder the command was told to write into.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from boundary_helpers import assert_clean_error, cli, write_plugin

TESTS = Path(__file__).resolve().parents[1]
REPRODUCED = json.loads((TESTS / "fixtures" / "valid" / "reproduced.json").read_text("utf-8"))
REPORTED = json.loads((TESTS.parent / "submissions" / "openclip" / "vit-l-16-siglip2-512__reported.json")
                      .read_text("utf-8"))
COMMIT = "0123456789abcdef0123456789abcdef01234567"
FROZEN_REVISION = "f0084ab0ba2f584b15dc72a82502b38ee490f58d"  # the frozen task 1 copy MTEB's tasks use
MINI = ("--benchmark", "mini", "--tasks", "landform")


@dataclass
class Space:
    """The scratch folder (`root`, snapshotted whole), the folder a command is told to write
    into (`out`) and a folder beside it that a link may point to (`outside`)."""

    root: Path
    out: Path
    outside: Path


@pytest.fixture
def space(tmp_path, monkeypatch) -> Space:
    work = tmp_path / "work"
    work.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not to be touched\n")
    monkeypatch.chdir(work)  # default output folders (mars-zoo-results, ...) would land here
    return Space(tmp_path, work / "out", outside)


def _tree(root: Path) -> dict[str, object]:
    """Every file, folder and link under `root` (links recorded, never followed)."""
    found: dict[str, object] = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(base) / name
            key = path.relative_to(root).as_posix()
            found[key] = (f"link to {os.readlink(path)}" if path.is_symlink()
                          else path.read_bytes() if path.is_file() else "folder")
    return found


def _written_outside(before: dict, after: dict, root: Path, out: Path) -> list[str]:
    inside = out.relative_to(root).as_posix()
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    return sorted(key for key in changed if key != inside and not key.startswith(inside + "/"))


# ----------------------------------------------------------------------------- inputs


def _mteb_folder(space: Space) -> Path:
    """One model's MTEB task 1 files, as MTEB writes them (numbers consistent with each other)."""
    folder = space.root / "mteb" / "org__model" / "no_revision_available"
    folder.mkdir(parents=True)
    row = {"hf_subset": "default", "languages": ["eng-Latn"], "recall_at_1": 0.1, "recall_at_10": 0.3,
           "mrr_at_2247": 0.2, "main_score": 0.2}
    for task in ("MarsVLPairsT2IRetrieval", "MarsVLPairsI2TRetrieval"):
        (folder / f"{task}.json").write_text(json.dumps(
            {"task_name": task, "dataset_revision": FROZEN_REVISION, "mteb_version": "2.3.3",
             "scores": {"test": [row]}}))
    (folder / "model_meta.json").write_text(json.dumps({"name": "org/model", "revision": None}))
    return folder


def _import(model: str, link: str | None = None) -> Callable[[Space], list]:
    def setup(space: Space) -> list:
        if link:
            space.out.mkdir()
            (space.out / link).symlink_to(space.outside, target_is_directory=True)
        return ["import", "mteb", _mteb_folder(space), "--model", model, "--out", space.out]

    return setup


def _export(link: str | None = None, **model) -> Callable[[Space], list]:
    def setup(space: Space) -> list:
        result = copy.deepcopy(REPRODUCED)
        result["model"].update(model)
        path = space.root / "result.json"
        path.write_text(json.dumps(result, indent=2))
        if link:
            space.out.mkdir()
            (space.out / link).symlink_to(space.outside, target_is_directory=True)
        return ["export", "mteb", path, "--out", space.out]

    return setup


def _plugin(command: str, **fields: str) -> Callable[[Space], list]:
    """A --plugins-dir plugin registering model `evil/model`, with the given ModelSpec fields."""

    def setup(space: Space) -> list:
        spec = {"name": "evil/model", "family": "evil", "checkpoint": "evil-tiny", **fields}
        arguments = ", ".join(f"{key}={value!r}" for key, value in spec.items())
        plugins = space.root / "plugins"
        write_plugin(plugins, "evil", register=(
            f"register(ModelSpec({arguments}, loader=load, batch_size=8, license='mit', embedding_dim=4, "
            f"parameters=1, random_weights=True))"))
        common = ["--plugins-dir", plugins, "--cache-dir", space.out / "cache", "--benchmark", "mini"]
        if command == "search":
            return ["search", spec["name"], "craters", "--out", space.out, *common]
        return ["run", spec["name"], "--tasks", "landform", "--out", space.out / "r.json", *common]

    return setup


def _own_weights(name: str) -> Callable[[Space], list]:
    """`run --weights` of a file so named, for a model whose loader fails if it is ever called."""

    def setup(space: Space) -> list:
        plugins = space.root / "plugins"
        write_plugin(plugins, "tuned", load="raise RuntimeError('the model was loaded')")
        weights = space.root / "weights" / name
        weights.parent.mkdir()
        weights.write_bytes(b"weights")
        return ["run", "tuned/model", "--weights", weights, "--plugins-dir", plugins, *MINI,
                "--out", space.out / "r.json", "--cache-dir", space.out / "cache"]

    return setup


def _tiles(source: str, link: str | None = None) -> Callable[[Space], list]:
    def setup(space: Space) -> list:
        ctx = space.root / "ctx"
        ctx.mkdir()
        (ctx / source).write_bytes(b"not a GeoTIFF")
        if link:
            space.out.mkdir()
            (space.out / link).symlink_to(space.outside, target_is_directory=True)
        return ["tiles", "build", "--ctx", ctx, "--out", space.out, "--workers", "1"]

    return setup


# (case id, set-up returning the command line, exit code, what the message must say)
CASES = [
    ("import-model-climbs-out", _import("org/../../../x"), 2, ["model.name", "'<family>/<name>'", "org/../../../x"]),
    ("import-model-is-dot-dot", _import("org/.."), 2, ["model.name", "not '.' or '..'"]),
    ("import-model-with-backslashes", _import("org/..\\..\\x"), 2, ["model.name", "no '/' or '\\'"]),
    ("import-family-folder-is-a-link", _import("org/x", link="org"), 2,
     ["leads outside", "through the symbolic link", "remove that link"]),
    ("export-hub-repo-is-dot-dot", _export(hub_repo=".."), 2, ["model.hub_repo", "not '.' or '..'", "validate"]),
    ("export-hub-repo-is-absolute", _export(hub_repo="/tmp/x"), 2, ["model.hub_repo", "repository id"]),
    ("export-revision-climbs-out", _export(hub_repo="org/name", revision="../../x"), 2,
     ["model.revision", "40-hex Hub commit"]),
    ("export-checkpoint-is-dot-dot", _export(checkpoint=".."), 2,
     ["model.checkpoint: '..' is not a plain file or folder name", "Fix:"]),
    ("export-model-folder-is-a-link", _export(link="org__name", hub_repo="org/name", revision=COMMIT), 2,
     ["leads outside", "through the symbolic link", "org__name"]),
    ("run-plugin-name-climbs-out", _plugin("run", name="evil/../../x"), 2,
     ["registered model 'evil/../../x'", "not registered", "name must be '<family>/<name>'"]),
    ("run-plugin-name-is-dot-dot", _plugin("run", name="evil/.."), 2,
     ["registered model 'evil/..'", "name must be '<family>/<name>'"]),
    ("run-plugin-hub-repo-climbs-out", _plugin("run", hub_repo="../../x"), 2,
     ["registered model 'evil/model'", "hub_repo must be a repository id"]),
    ("run-plugin-revision-climbs-out", _plugin("run", revision="../../x"), 2,
     ["registered model 'evil/model'", "revision must be a 40-hex Hub commit"]),
    ("search-plugin-name-climbs-out", _plugin("search", name="evil/../../x"), 2,
     ["registered model 'evil/../../x'", "not registered"]),
    ("run-weights-name-with-newline", _own_weights("a\nb.pt"), 2,
     ["--weights", "'a\\nb.pt' is not a plain file or folder name", "control character", "rename the weights"]),
    ("run-weights-name-with-escape", _own_weights("w\x1b[2J.pt"), 2,
     ["'w\\x1b[2J.pt' is not a plain file or folder name", "rename the weights"]),
    ("tiles-build-state-is-a-link", _tiles("x.tif", link=".build"), 2,
     ["leads outside", "through the symbolic link", ".build"]),
    ("tiles-source-name-with-newline", _tiles("a\nb.tif"), 2,
     ["CTX source 'a\\nb.tif'", "control character", "rename the file"]),
]


@pytest.mark.parametrize("name, setup, code, needles", CASES, ids=[case[0] for case in CASES])
def test_a_hostile_name_writes_nothing_outside_the_folder_named(space, capsys, name, setup, code, needles):
    args = setup(space)
    before = _tree(space.root)
    outcome = cli(capsys, *args)
    assert_clean_error(outcome, code, *needles)
    assert _written_outside(before, _tree(space.root), space.root, space.out) == []
    assert not (space.out / "cache").exists()  # refused before any data was read or model loaded


# (case id, model fields of a reported submission, field of the problem, what its message says)
SUBMISSIONS = [
    ("name-climbs-out", {"name": "openclip/../../x"}, "model.name", "not '.' or '..'"),
    ("revision-climbs-out", {"revision": "../../../x"}, "model.revision", "40-hex Hub commit"),
    ("hub-repo-with-two-slashes", {"hub_repo": "org/../x"}, "model.hub_repo", "repository id"),
    ("weights-name-climbs-out", {"weights": {"name": "../w.pt", "kind": "file", "base_revision": COMMIT}},
     "model.weights.name", "one plain name"),
    ("plugin-is-dot-dot", {"plugin": ".."}, "model.plugin", "one plain name"),
]


@pytest.mark.parametrize("name, fields, field, says", SUBMISSIONS, ids=[case[0] for case in SUBMISSIONS])
def test_a_submission_with_a_hostile_name_is_invalid_and_never_published(space, capsys, name, fields, field, says):
    result = copy.deepcopy(REPORTED)
    result["model"].update(fields)
    submissions = space.root / "submissions"
    path = submissions / "openclip" / f"{name}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(result, indent=2))
    before = _tree(space.root)
    validated = cli(capsys, "validate", path)
    assert validated.code == 1 and "Traceback" not in validated.err
    assert any(line.startswith(f"{path}: {field}: ") and says in line for line in validated.out.splitlines()), \
        validated.out
    built = cli(capsys, "leaderboard", "build", "--submissions", submissions, "--out", space.out)
    assert_clean_error(built, 2, f"{name}.json: {field}: ")
    assert _tree(space.root) == before and not space.out.exists()  # nothing published
