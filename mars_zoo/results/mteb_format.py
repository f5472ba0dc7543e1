"""Task 1 results in MTEB's result layout, both ways.

MTEB evaluates the frozen task 1 copy as two retrieval tasks, MarsVLPairsT2IRetrieval (captions
query images) and MarsVLPairsI2TRetrieval (images query captions), and writes one JSON file per
task next to a `model_meta.json`, under `<org>__<model>/<revision>/`. A task file holds
`task_name`, `dataset_revision`, `mteb_version`, `evaluation_time` and `scores` -> split ->
a list of subset rows, each with `hf_subset`, `languages`, `main_score` and the metrics as
fractions. The tasks rank the whole gallery (their k values reach the 2,247 pairs), and each
query has exactly one relevant item, so:

    R@1  = recall_at_1
    R@10 = recall_at_10
    MRR  = mrr_at_<N>, N the gallery size (mrr_at_10 stops at rank 10: it is not MRR)
    MedR : MTEB writes no median rank. An imported row takes it from `mars_zoo.medr` (what
           `export mteb` adds to the files), or from the person importing (`--medr t2i=78`)
           when the cited text states it; else it is null

A metric the file lacks is null, never derived from other keys. Where a number comes from is
written into the row's `source.notes`. An imported row is recorded as measured under MTEB's task 1
protocol (`tasks.paired.image_preparation` "mteb-original-bytes", `mars_zoo.tasks.mteb_protocol`), which
`mars-zoo run --paired-protocol mteb` reproduces; the leaderboard ranks such rows only among
themselves.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mars_zoo.data.images import MTEB_PREPARATION
from mars_zoo.data.specs import PAIRS_FROZEN
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.safe_paths import path_under

TASK_DIRECTIONS = {"MarsVLPairsT2IRetrieval": "t2i", "MarsVLPairsI2TRetrieval": "i2t"}
SPLIT = "test"
SUBSET = "default"
LANGUAGES = ["eng-Latn"]
GALLERY = PAIRS_FROZEN.rows
METRIC_KEYS = {"r1": "recall_at_1", "r10": "recall_at_10", "mrr": f"mrr_at_{GALLERY}"}
MAIN_SCORE = METRIC_KEYS["mrr"]  # the tasks' main score
MODEL_META = "model_meta.json"
IMAGE_PREPARATION = MTEB_PREPARATION  # MTEB's protocol: `mars-zoo run --paired-protocol mteb` measures it too
CATALOGUE_FIELDS = ("checkpoint", "embedding_dim", "parameters", "license", "paper_url", "code_url",
                    "image_size", "random_weights", "description")


@dataclass(frozen=True)
class MtebRun:
    """The task 1 files of one model found under the given paths."""

    folder: Path
    tasks: dict[str, Path]  # direction -> task file
    meta: dict[str, Any]


def _fail(path: Path, field: str, message: str) -> MarsZooError:
    return MarsZooError(f"{path}: {field}: {message}")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MarsZooError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MarsZooError(f"{path}: is not a JSON file ({exc}); pass MTEB result files "
                           f"({', '.join(f'{name}.json' for name in TASK_DIRECTIONS)}) or their folder.") from None


def find_runs(paths: list[Path]) -> list[MtebRun]:
    """Group the task 1 files named or found under `paths` by folder: one model run per folder."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for name in TASK_DIRECTIONS for p in path.rglob(f"{name}.json"))
            if not found:
                raise MarsZooError(f"{path}: holds no MTEB result file of task 1 "
                                   f"({' or '.join(f'{name}.json' for name in TASK_DIRECTIONS)}).")
            files += found
        elif path.is_file():
            if path.stem not in TASK_DIRECTIONS:
                raise MarsZooError(f"{path}: is not an MTEB result file of task 1: the file must be "
                                   f"named {' or '.join(f'{name}.json' for name in TASK_DIRECTIONS)}.")
            files.append(path)
        else:
            raise MarsZooError(f"{path}: no such file or folder.")
    runs: dict[Path, dict[str, Path]] = {}
    for file in files:
        runs.setdefault(file.parent, {})[TASK_DIRECTIONS[file.stem]] = file
    return [MtebRun(folder, tasks, _model_meta(folder)) for folder, tasks in sorted(runs.items())]


def _model_meta(folder: Path) -> dict[str, Any]:
    path = folder / MODEL_META
    if not path.is_file():
        raise MarsZooError(f"{path}: is missing; MTEB writes it next to the task files and the import "
                           f"takes the model's name and modalities from it.")
    meta = _read_json(path)
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise _fail(path, "name", "must be the model's name (a string), as MTEB writes it.")
    return meta


def _fraction(path: Path, field: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(path, field, f"must be a number, got {value!r}.")
    if not 0 <= value <= 1:
        raise _fail(path, field, f"is {value}; MTEB writes fractions in [0, 1] (12.73 % is 0.1273). "
                                 f"A percentage was probably pasted in.")
    return value


def read_direction(path: Path) -> tuple[dict[str, float | None], dict[str, Any]]:
    """The metrics of one task file under our names, and the file's own record (revision, version)."""
    document = _read_json(path)
    if not isinstance(document, dict):
        raise _fail(path, "(top level)", "must be a JSON object with task_name and scores.")
    if document.get("task_name") != path.stem:
        raise _fail(path, "task_name", f"is {document.get('task_name')!r}, but the file is named "
                                       f"{path.name}; MTEB names each file after its task.")
    revision = document.get("dataset_revision")
    if revision != PAIRS_FROZEN.revision:
        raise _fail(path, "dataset_revision", f"is {revision!r}; the reported row must be on the frozen "
                                              f"copy {PAIRS_FROZEN.repo_id}@{PAIRS_FROZEN.revision}.")
    rows = (document.get("scores") or {}).get(SPLIT) if isinstance(document.get("scores"), dict) else None
    if not isinstance(rows, list):
        raise _fail(path, f"scores.{SPLIT}", f"is missing: task 1 is scored on the {SPLIT!r} split.")
    matching = [row for row in rows if isinstance(row, dict) and row.get("hf_subset") == SUBSET]
    if len(matching) != 1:
        raise _fail(path, f"scores.{SPLIT}", f"must hold one row with hf_subset {SUBSET!r}, found {len(matching)}.")
    row = matching[0]
    metrics = {name: _fraction(path, f"scores.{SPLIT}[0].{key}", row.get(key)) for name, key in METRIC_KEYS.items()}
    if all(metrics[name] is None for name in METRIC_KEYS):
        raise _fail(path, f"scores.{SPLIT}[0]", f"has none of {', '.join(METRIC_KEYS.values())}.")
    extension = document.get("mars_zoo")
    medr = extension.get("medr") if isinstance(extension, dict) else None
    metrics["medr"] = None if medr is None else _rank(path, "mars_zoo.medr", medr)
    return metrics, {"mteb_version": document.get("mteb_version"), "dataset_revision": revision}


def _rank(path: Path, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value <= GALLERY:
        raise _fail(path, field, f"is {value!r}; a median rank is a number from 1 to {GALLERY}.")
    return value


def medr_from_flags(values: list[str], run: MtebRun) -> dict[str, int]:
    """`--medr DIRECTION=RANK` flags: the median ranks the cited text states (MTEB writes none)."""
    usage = (f"write --medr DIRECTION=RANK once per direction, DIRECTION one of "
             f"{', '.join(TASK_DIRECTIONS.values())} and RANK a whole number from 1 to {GALLERY}, "
             f"as the cited text states it (for example --medr t2i=78 --medr i2t=53)")
    ranks: dict[str, int] = {}
    for value in values:
        direction, _, rank = value.partition("=")
        direction = direction.strip()
        if direction not in TASK_DIRECTIONS.values() or not rank.strip().isdigit() or not 1 <= int(rank) <= GALLERY:
            raise MarsZooError(f"--medr {value!r}: {usage}.")
        if direction in ranks:
            raise MarsZooError(f"--medr {value!r}: {direction} is given twice; {usage}.")
        if direction not in run.tasks:
            task = next(name for name, known in TASK_DIRECTIONS.items() if known == direction)
            raise MarsZooError(f"--medr {value!r}: {run.folder} holds no {task}.json, so there is no {direction} "
                               f"row to give a MedR to; drop the flag or add the file.")
        ranks[direction] = int(rank)
    return ranks


def _medr_note(metrics: dict[str, dict[str, Any]], stated: dict[str, int]) -> str:
    in_files = [direction for direction, values in metrics.items() if values["medr"] is not None]
    if stated and in_files:
        raise MarsZooError(f"--medr: the MTEB files already record MedR ({', '.join(in_files)}, in mars_zoo.medr, "
                           f"written by mars-zoo export); drop the --medr flags.")
    if stated:
        ranks = ", ".join(f"{direction} {stated[direction]}" for direction in TASK_DIRECTIONS.values() if direction in stated)
        return (f"MedR ({ranks}) is from the cited text, not from the MTEB files, which hold no median rank"
                + ("." if len(stated) == len(metrics) else "; the other direction's MedR is null."))
    if in_files:
        return "MedR from the files' mars_zoo.medr (written by mars-zoo export)."
    return "The MTEB files hold no median rank, so MedR is null."


def reported_result(run: MtebRun, model: dict[str, Any], url: str, citation: str,
                    medr: dict[str, int] | None = None, notes: str | None = None,
                    training: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `reported` result (schema v1) of one MTEB run; `model` is its model block, `medr` the
    median ranks the cited text states, `notes` what the person importing adds about the source,
    `training` the training section of a registered model (mars_zoo.schema.training; None: not stated)."""
    metrics, versions = {}, set()
    for direction, path in sorted(run.tasks.items()):
        metrics[direction], record = read_direction(path)
        versions.add(f"mteb {record['mteb_version']}" if record["mteb_version"] else "mteb version not recorded")
    medr_note = _medr_note(metrics, medr or {})
    for direction, rank in (medr or {}).items():
        metrics[direction]["medr"] = rank
    files = ", ".join(path.name for _, path in sorted(run.tasks.items()))
    revision = run.meta.get("revision")
    record = (f"Read from MTEB result files ({files}; model {run.meta['name']}, revision {revision or 'not recorded'}; "
              f"{', '.join(sorted(versions))}): R@1 = recall_at_1, R@10 = recall_at_10, MRR = {MAIN_SCORE}.")
    return {
        "schema_version": 1,
        "provenance": "reported",
        "model": model,
        "benchmark": {"name": "marsretrieval", "synthetic": False},
        "tasks": {"paired": {"caption": "refined_caption", "image_preparation": IMAGE_PREPARATION,
                             "source": "frozen", "metrics": metrics}},
        **({"training": training} if training else {}),
        "source": {
            "url": url,
            "citation": citation,
            "dataset": f"{PAIRS_FROZEN.repo_id}@{PAIRS_FROZEN.revision} split {PAIRS_FROZEN.split} (refined captions)",
            "items": GALLERY,
            "notes": " ".join(part for part in (record, (notes or "").strip(), medr_note) if part),
        },
    }


def model_block(run: MtebRun, name: str | None, registered: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The model block: a registered model's catalogue fields when the MTEB name is its checkpoint
    (or `name` is registered), else what model_meta.json says."""
    meta_path = run.folder / MODEL_META
    by_checkpoint = {spec["hub_repo"]: spec for spec in registered.values()}
    spec = registered.get(name) if name else by_checkpoint.get(run.meta["name"])
    if name is None and spec is None:
        raise _fail(meta_path, "name", f"{run.meta['name']!r} is not the checkpoint of a registered model; "
                                       f"pass --model FAMILY/NAME to name the row.")
    name = name or spec["name"]
    if "/" not in name:
        raise MarsZooError(f"--model {name!r}: must be FAMILY/NAME, for example openclip/vit-l-16-siglip2-512.")
    modalities = run.meta.get("modalities") or ["image", "text"]
    if not isinstance(modalities, list) or not {"image", "text"} <= set(modalities):
        raise _fail(meta_path, "modalities", f"is {modalities!r}; task 1 needs a model that embeds both "
                                             f"'image' and 'text'.")
    # In the order `mars-zoo run` writes a model block: name, family, checkpoint, modalities, ...
    block: dict[str, Any] = {"name": name, "family": name.split("/", 1)[0]}
    if spec is not None:
        catalogue = {key: spec[key] for key in CATALOGUE_FIELDS if spec.get(key) is not None}
        block.update(checkpoint=catalogue.pop("checkpoint"), modalities=list(spec["modalities"]), **catalogue)
    else:
        block.update(checkpoint=run.meta["name"], modalities=["image", "text"])  # task 1's; MTEB may list more
        for ours, theirs in (("embedding_dim", "embed_dim"), ("parameters", "n_parameters"), ("license", "license")):
            value = run.meta.get(theirs)  # MTEB writes 0 parameters for its random baseline: no count, not a count
            if isinstance(value, str) if ours == "license" else (type(value) is int and value > 0):
                block[ours] = value
    return block


# --------------------------------------------------------------------------- export


def mteb_layout(result: dict[str, Any], origin: Path, out: Path) -> dict[Path, dict[str, Any]]:
    """A reproduced task 1 result as MTEB's files under `out`: path -> JSON document. The folder
    names come from the result (`<org>__<name>/<revision>/`), so they go through `path_under`."""
    paired = (result.get("tasks") or {}).get("paired")
    if result.get("provenance") != "reproduced" or not paired:
        raise MarsZooError(f"{origin}: only a reproduced result with task 1 (tasks.paired) can be exported; "
                           f"a reported row already comes from somewhere else.")
    dataset = paired["dataset"]
    if dataset["id"] != PAIRS_FROZEN.repo_id or paired.get("caption") != "refined_caption":
        raise _fail(origin, "tasks.paired.dataset.id",
                    f"is {dataset['id']!r} with {paired.get('caption')!r} captions; MTEB's tasks are the "
                    f"frozen copy {PAIRS_FROZEN.repo_id} with refined captions (run --pairs-source frozen).")
    items = dataset["items"]
    model = result["model"]
    repo = model.get("hub_repo") or model["checkpoint"]
    folder = path_under(out, repo.replace("/", "__").replace(" ", "_"),
                        field=f"{origin}: model.{'hub_repo' if model.get('hub_repo') else 'checkpoint'}",
                        fix="record the model's Hub repository 'org/name' as model.hub_repo, as 'mars-zoo run' does")
    folder = path_under(folder, model.get("revision") or "no_revision_available", field=f"{origin}: model.revision",
                        fix="record the 40-hex commit (or own weights' sha256) as 'mars-zoo run' does")
    files: dict[Path, dict[str, Any]] = {}
    for task, direction in TASK_DIRECTIONS.items():
        metrics = paired["metrics"][direction]
        row = {"recall_at_1": metrics["r1"], "recall_at_10": metrics["r10"], f"mrr_at_{items}": metrics["mrr"],
               "main_score": metrics["mrr"], "hf_subset": SUBSET, "languages": LANGUAGES}
        files[folder / f"{task}.json"] = {
            "dataset_revision": dataset["revision"],
            "task_name": task,
            "mteb_version": None,  # not written by MTEB: by mars-zoo, whose version is in the notes below
            "scores": {SPLIT: [row]},
            "evaluation_time": None,  # both directions share one embedding pass: no per-task time
            "kg_co2_emissions": None,
            "mars_zoo": {"version": result["harness"]["version"], "image_preparation": paired["image_preparation"],
                         "medr": metrics["medr"]},
        }
    files[folder / MODEL_META] = {
        "name": repo, "revision": model.get("revision"), "embed_dim": model.get("embedding_dim"),
        "n_parameters": model.get("parameters"), "license": model.get("license"),
        "modalities": model["modalities"], "reference": model.get("paper_url"),
    }
    return files
