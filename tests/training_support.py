"""Training records (training.json) in the shape mars-zoo finetune writes them, and results of
weights that carry one, made by hand for the tests: the counts are chosen here, so every
expected number is known without the code under test."""

from __future__ import annotations

import copy
import json
from pathlib import Path

TASKS = ("paired", "landform", "geolocalization")
FINGERPRINT = "sha256:" + "5e" * 32
OWN_REVISION = "cd" * 32  # the content hash a result names own weights by

# A report that found 3 images and 2 captions of task 1 and 4 images of task 2: 9 items.
FOUND = {"paired": {"images": 3, "captions": 2}, "landform": {"images": 4, "captions": 0},
         "geolocalization": {"images": 0, "captions": 0}}
EXAMPLE = {"task": "paired", "benchmark_item": "pair-0017", "training_item": "train/00052.jpg",
           "match": "perceptual hash"}


def clean_report(tasks=TASKS) -> dict:
    return {"contaminated": False, "tasks": {task: {"images": 0, "captions": 0} for task in tasks}, "examples": []}


def contaminated_report() -> dict:
    return {"contaminated": True, "tasks": copy.deepcopy(FOUND), "examples": [dict(EXAMPLE)]}


def training_record(base_model: str = "openclip/tiny-random", base_revision: str | None = None,
                    contamination: dict | None = None, allowed_contaminated: bool = False) -> dict:
    """A valid record (a clean report unless `contamination` says otherwise)."""
    return {
        "format": 1,
        "base_model": base_model,
        "base_revision": base_revision,
        "data": {"name": "mini", "revision": None, "fingerprint": FINGERPRINT, "pairs": 96},
        "config": {"epochs": 2, "lr": 5e-4, "batch_size": 16, "lock_image": False},
        "contamination": clean_report() if contamination is None else contamination,
        "allowed_contaminated": allowed_contaminated,
    }


def weights_folder(folder: Path, checkpoint: Path, record: dict | None) -> Path:
    """`folder` holding `checkpoint` and, unless `record` is None, its training.json."""
    folder.mkdir(parents=True)
    (folder / checkpoint.name).write_bytes(checkpoint.read_bytes())
    if record is not None:
        (folder / "training.json").write_text(json.dumps(record, indent=2), "utf-8")
    return folder


def fine_tuned(result: dict, record: dict | None, name: str = "tuned", revision: str = OWN_REVISION) -> dict:
    """`result` (of published weights) as a result of own weights named `name` and `revision`,
    fine-tuned from them: with `record` as their training record, or without one (None)."""
    result = copy.deepcopy(result)
    model = result["model"]
    model["weights"] = {"name": name, "kind": "folder", "base_revision": model["revision"]}
    model["revision"] = revision
    result["training"] = {"kind": "fine-tuned", "record": record} if record is not None else {"kind": "unrecorded"}
    return result
