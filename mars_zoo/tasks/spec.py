"""The task contract: what a plugin registers (`Task`) and what a run tells it (`TaskSettings`).

A task is declarations plus two functions. `plan(benchmark, settings)` reads the data it needs
and says what must be embedded (an `EmbeddingPlan`); `score(plan, embeddings)` turns the
embeddings of that plan into the task's section of the result file. The harness does the
embedding in between, through the cache and over every rank, so a task never embeds, and every
rank embeds the same plan in the same order (`mars_zoo.tasks.walk`).

The declarations (name, title, metric names and directions, headline metric) are written into
the task's section of every result, so the result file and the leaderboard know the task without
its code. Building a `Task` imports nothing heavy: `register_tasks` runs for every command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from mars_zoo.core.protocol import PAIRED_DEFAULT_CAPTION, PAIRED_PROTOCOLS

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mars_zoo.data.benchmark import Benchmark
    from mars_zoo.tasks.plan import EmbeddingPlan
    from mars_zoo.tasks.tables import Summary

DIRECTIONS = ("higher", "lower")  # which way a metric is better


@dataclass(frozen=True)
class TaskSettings:
    """What a run tells every task's `plan`: the model's modalities and where and how the run
    scores. `caption`, `pairs_source` and `paired_protocol` are the run's options of MarsRetrieval
    task 1 (`--caption`, `--pairs-source`, `--paired-protocol`); other tasks ignore them.
    `task_instructions`: task 1 is embedded with MTEB's task instructions (under MTEB's protocol, a
    model whose MTEB wrapper uses them: `mars_zoo.tasks.mteb_protocol`)."""

    modalities: tuple[str, ...]
    device: str = "cpu"  # where `score` may compute (the search of a large gallery)
    seed: int = 0  # the run's --seed, for anything random in scoring (bootstrap intervals)
    caption: str = PAIRED_DEFAULT_CAPTION
    pairs_source: str = "frozen"
    paired_protocol: str = PAIRED_PROTOCOLS[0]
    task_instructions: bool = False


@dataclass(frozen=True)
class Task:
    """One task: its declarations, `plan` and `score`.

    `name` keys the task's section under `tasks` of a result file and names it on the command
    line (`--tasks NAME`): lowercase letters, digits and '_'. `metrics` maps each metric the
    task can report to the direction that is better ('higher' or 'lower'); a metric name is a
    path under the section's `metrics` (`map`, or `t2i.r1` for a metric grouped under `t2i`).
    `headline` is the metric results are ranked by. `modalities` are what a model must embed
    to take part (a task that adapts to image-only models declares `("image",)`).

    `plan(benchmark, settings) -> EmbeddingPlan` and `score(plan, embeddings) -> dict`: see the
    module docstring. The section `score` returns holds at least `metrics` (and, in a result
    `mars-zoo run` writes, `dataset`: `mars_zoo.tasks.base.dataset_record`); the harness adds
    the declaration, `timings` and `throughput`. `table(section)`, optional, says what `mars-zoo
    run` prints of the section (a `mars_zoo.tasks.tables.Summary`: title, columns, rows); without
    it the declared metrics are printed.
    """

    name: str
    title: str
    metrics: Mapping[str, str]
    headline: str
    plan: Callable[["Benchmark", TaskSettings], "EmbeddingPlan"] = field(repr=False, compare=False)
    score: Callable[["EmbeddingPlan", dict[str, Any]], dict[str, Any]] = field(repr=False, compare=False)
    modalities: tuple[str, ...] = ("image", "text")
    table: Callable[[dict[str, Any]], "Summary"] | None = field(default=None, repr=False, compare=False)
    plugin: str | None = None  # set by the registry: the plugin that registered the task

    def declaration(self) -> dict[str, Any]:
        """What every result records of the task, under `tasks.<name>.declaration`."""
        return {"name": self.name, "title": self.title, "metrics": dict(self.metrics), "headline": self.headline}

    def takes_part(self, modalities: tuple[str, ...]) -> bool:
        """Whether a model of `modalities` can be scored on this task."""
        return set(self.modalities) <= set(modalities)
