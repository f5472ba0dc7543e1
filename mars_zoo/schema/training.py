"""What evaluated weights were trained on, as a result records it (its `training` section).

A leaderboard that ranks a model fine-tuned on the benchmark's own images beside zero-shot
models misleads; MTEB marks zero-shot models by what their authors declare. mars-zoo records
what it can measure: weights made by `mars-zoo finetune` carry a training record
(`training.json`, mars_zoo/schema/training-v1.schema.json) with the training data's name,
revision and content fingerprint and the contamination report of that data against every
benchmark item a score depends on. `mars-zoo run --weights DIR` reads and checks it, and the
result copies it. Published weights are zero-shot unless their model declares Mars-domain
training (`ModelSpec.declared_training`, MarScope), which results record as declared, not
measured.

The rules a training record must keep (contaminated exactly when some task counts a benchmark
item found in the data, contaminated data trained on only when allowed, no examples in a
clean report) are checked here, for a `training.json` before a run and, through
mars_zoo.results.consistency, for the record a result holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import printable
from mars_zoo.schema.results_schema import MAX_FILE_BYTES, Problem, format_path, parse_json, schema_problems

if TYPE_CHECKING:  # pragma: no cover
    from mars_zoo.models.model import ModelSpec

ZERO_SHOT = "zero-shot"  # published weights; their publishers declare no Mars training
DECLARED = "declared"  # published weights declared fine-tuned on Mars data, unchecked
FINE_TUNED = "fine-tuned"  # own weights with a training record
UNRECORDED = "unrecorded"  # own weights without one
OWN_WEIGHTS_KINDS = (FINE_TUNED, UNRECORDED)

TRAINING_FILE = "training.json"
TRAINING_SCHEMA = "training-v1.schema.json"


def declared_section(spec: "ModelSpec") -> dict[str, Any]:
    """The training section of a run of `spec`'s published weights."""
    declared = spec.declared_training
    if declared is None:
        return {"kind": ZERO_SHOT}
    return {"kind": DECLARED, "data": declared.data, "source": declared.source}


def declared_problems(result: dict[str, Any], spec: "ModelSpec") -> list[Problem]:
    """A reproduced result of `spec`'s published weights must record the training its model
    declares: marking MarScope zero-shot would hide its Mars training."""
    training = result.get("training")
    if training is None or training["kind"] in OWN_WEIGHTS_KINDS:
        return []
    expected = declared_section(spec)["kind"]
    if training["kind"] == expected:
        return []
    return [Problem("training.kind", f"is {training['kind']!r}, but {spec.name} is registered as {expected!r} "
                                     f"(ModelSpec.declared_training): a result records the training its model "
                                     f"declares")]


def found_counts(contamination: dict[str, Any]) -> dict[str, int]:
    """Task -> how many of its benchmark items the report found in the training data (the sum
    of the task's counts: images, captions, ...)."""
    return {task: sum(counts.values()) for task, counts in contamination["tasks"].items()}


def record_problems(record: dict[str, Any], base: list) -> Iterator[Problem]:
    """The rules of a training record that has passed its schema; fields under `base`."""
    report = record["contamination"]
    if report is not None:
        found = {task: count for task, count in found_counts(report).items() if count}
        if report["contaminated"] and not found:
            yield Problem(format_path([*base, "contamination", "contaminated"]),
                          "is true, but no task of contamination.tasks counts a benchmark item found in the "
                          "training data")
        elif found and not report["contaminated"]:
            named = ", ".join(f"{task} {count}" for task, count in sorted(found.items()))
            yield Problem(format_path([*base, "contamination", "contaminated"]),
                          f"is false, but contamination.tasks counts benchmark items found in the training data "
                          f"({named}): the data is contaminated")
        if not report["contaminated"] and report["examples"]:
            yield Problem(format_path([*base, "contamination", "examples"]),
                          f"lists {len(report['examples'])} example(s), but the report found no benchmark item "
                          f"in the training data: a clean report has none")
        if report["contaminated"] and not record["allowed_contaminated"]:
            yield Problem(format_path([*base, "allowed_contaminated"]),
                          "is false, but the training data is contaminated (contamination.contaminated): mars-zoo "
                          "finetune trains on contaminated data only with --allow-contaminated, which it records "
                          "here as true")


def read_training_record(path: Path, spec: "ModelSpec") -> dict[str, Any]:
    """The training record at `path` (a `training.json` beside own weights of `spec`'s
    architecture), refused in one paragraph naming the file and each bad field unless it is
    valid and names `spec` and its revision as the base the weights were fine-tuned from."""
    shown = printable(str(path))
    try:
        data = path.read_bytes() if path.stat().st_size <= MAX_FILE_BYTES else None
    except OSError as exc:
        raise MarsZooError(f"{shown} cannot be read: {exc.strerror or exc}. Fix: check its permissions.") from exc
    if data is None:
        raise MarsZooError(f"{shown} is over {MAX_FILE_BYTES // 2**20} MiB, which no training record needs. "
                           f"Fix: use the {TRAINING_FILE} that mars-zoo finetune wrote with these weights.")
    record, problems = parse_json(data)
    if not problems:
        problems = sorted(schema_problems(record, TRAINING_SCHEMA)) or list(record_problems(record, []))
    if problems:
        raise MarsZooError(
            f"{shown} is not a valid training record (mars_zoo/schema/{TRAINING_SCHEMA}): "
            + "; ".join(printable(str(problem)) for problem in problems)
            + f". Fix: use the {TRAINING_FILE} that mars-zoo finetune wrote with these weights, or remove it to "
            f"evaluate them as weights whose training is not recorded."
        )
    if record["base_model"] != spec.name:
        raise MarsZooError(
            f"{shown}: base_model is {printable(record['base_model'])!r}, but the weights are run as "
            f"{spec.name}. Fix: run them as the model they were fine-tuned from: mars-zoo run "
            f"{printable(record['base_model'])} --weights {printable(str(path.parent))}"
        )
    if record["base_revision"] != spec.checkpoint_revision:
        raise MarsZooError(
            f"{shown}: base_revision is {record['base_revision']}, but {spec.name} is at revision "
            f"{spec.checkpoint_revision} here, so the result could not say which weights training started "
            f"from. Fix: evaluate them with the base model at the revision they were fine-tuned from."
        )
    return record
