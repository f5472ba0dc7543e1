"""The training marker of a result: zero-shot, fine-tuned (declared by the model's publishers,
or by mars-zoo finetune on data measured clean, unchecked or unrecorded), or contaminated, with
how many benchmark items its training data holds.

MTEB marks a model zero-shot by what its authors declare; here the marker of fine-tuned weights
comes from the contamination report their training record carries (mars_zoo.schema.training), measured
against every benchmark item a score depends on. The overview shows every result's marker in a
column, the filter bar filters by it, and a model's name carries it wherever the weights are not
the published zero-shot ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mars_zoo.leaderboard.html import Markup, el
from mars_zoo.schema.training import DECLARED, FINE_TUNED, ZERO_SHOT, found_counts


@dataclass(frozen=True)
class Mark:
    """`label` is the filter's value, `text` the badge's (the label, with counts where
    contaminated), `kind` its style, `title` what it means."""

    label: str
    kind: str
    title: str
    text: str = ""

    @property
    def flagged(self) -> bool:
        """Shown beside the model's name: weights trained on Mars data."""
        return self.kind not in ("zero-shot", "unstated")

    def badge(self) -> Markup:
        return el("span", self.text or self.label, class_=f"badge badge-training-{self.kind}", title=self.title)


CONTAMINATED = "contaminated"
NOT_STATED = Mark("not stated", "unstated", "The result does not say how the weights were trained (it was written "
                                            "before mars-zoo recorded it).")


def _data(record: dict[str, Any]) -> str:
    data = record["data"]
    revision = f"@{data['revision']}" if data["revision"] else ""
    return f"{data['name']}{revision} ({data['pairs']:,} pairs, {data['fingerprint']})"


def found_words(counts: dict[str, int]) -> str:
    """'3 images, 1 caption' from a task's counts, those above 0."""
    return ", ".join(f"{count} {kind if count != 1 else kind.removesuffix('s')}" for kind, count in counts.items()
                     if count)


def _fine_tuned(record: dict[str, Any]) -> Mark:
    data = _data(record)
    report = record["contamination"]
    if report is None:
        return Mark("fine-tuned, unchecked", "unchecked", f"Fine-tuned on {data}, which was not checked against "
                                                          f"the benchmark's items.")
    found = {task: count for task, count in found_counts(report).items() if count}
    if not found:
        return Mark("fine-tuned, clean", "clean", f"Fine-tuned on {data}: the contamination check found none of "
                                                  f"the benchmark's items in it ({', '.join(sorted(report['tasks']))} "
                                                  f"checked).")
    details = "; ".join(f"{task}: {found_words(report['tasks'][task])}" for task in sorted(found))
    allowed = " (trained with --allow-contaminated)" if record["allowed_contaminated"] else ""
    return Mark(CONTAMINATED, CONTAMINATED, f"Fine-tuned on {data}, which holds benchmark items: {details}{allowed}.",
                f"contaminated: {sum(found.values()):,}")


def training_mark(result: dict[str, Any]) -> Mark:
    """The marker of one result, from its training section."""
    training = result.get("training")
    if training is None:
        return NOT_STATED
    kind = training["kind"]
    if kind == ZERO_SHOT:
        return Mark("zero-shot", "zero-shot", "Zero-shot: the published weights, whose publishers declare no "
                                              "training on Mars data.")
    if kind == DECLARED:
        return Mark("fine-tuned (declared)", "declared", f"Fine-tuned on Mars data, as its publishers declare "
                                                         f"({training['data']}); not checked against the benchmark.")
    if kind == FINE_TUNED:
        return _fine_tuned(training["record"])
    # UNRECORDED, the one kind left
    return Mark("fine-tuned, unrecorded", "unrecorded", "Own weights whose training is not recorded (no training.json "
                                                        "beside them): they may have been trained on anything, the "
                                                        "benchmark included.")
