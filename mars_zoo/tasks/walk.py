"""How a run goes through its tasks: `score(embed(plan))`, the same way on every rank.

Every embedding is a collective among the ranks (rank 0 surveys the cache entry and hands out
the missing shards; all wait for the entry to be complete), so the ranks must embed the same
entries in the same order. They do by construction: each rank builds the plans of the run's
tasks from its own copy of the data (its files, which may live at other paths on another
machine), then `agree` compares every rank's sequence of steps with rank 0's before anything
is embedded, and every rank walks the steps of that one sequence with `embed`. Plans that
differ (data of another revision on one machine, a task whose plan depends on the rank) stop
every rank with one error, instead of a rank waiting forever in a collective the others never
reach, or computing shards of another rank's entry. Only rank 0 scores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from mars_zoo.models.boundary import plugin_call
from mars_zoo.data.types import ids_sha256
from mars_zoo.embedding.distributed import Ranks
from mars_zoo.embedding.embed import Embedder
from mars_zoo.core.errors import MarsZooError, PluginError
from mars_zoo.tasks.base import Stopwatch, stats_snapshot, throughput
from mars_zoo.tasks.plan import EmbeddingPlan, ImageItems, Step
from mars_zoo.tasks.spec import Task, TaskSettings

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mars_zoo.data.benchmark import Benchmark


def _task_call(task: Task, during: str):
    """A call into a task's code, behind the plugin boundary (`mars_zoo.models.boundary`)."""
    return plugin_call(f"Task {task.name!r} (plugin {task.plugin or '?'})", during,
                       "Fix the task's plugin, or leave the task out (--tasks).")


def make_plans(tasks: tuple[Task, ...], benchmark: "Benchmark", settings: TaskSettings) -> dict[str, EmbeddingPlan]:
    """Every task's plan, by task name. All of them are made before anything is embedded, so
    that missing data (a gallery not passed with --tiles) fails in seconds, not after hours."""
    plans = {}
    for task in tasks:
        with _task_call(task, "in plan"):
            plans[task.name] = task.plan(benchmark, settings)
        if not isinstance(plans[task.name], EmbeddingPlan):
            raise PluginError(f"Task {task.name!r} (plugin {task.plugin or '?'}) planned {plans[task.name]!r}, which "
                              f"is not a mars_zoo.EmbeddingPlan. Fix its plan function.")
    return plans


def step_identity(task: str, step: Step) -> tuple:
    """What decides the cache entry a step embeds (beyond the model, the same on every rank),
    as plain data that ranks can exchange and compare."""
    if isinstance(step, ImageItems):
        ref = step.dataset
        return (task, step.key, "image", len(step.source.ids), ids_sha256(list(step.source.ids)),
                ref.id, ref.revision, ref.split, step.preprocessing, step.subset, step.instruction)
    return (task, step.key, "text", len(step.texts), ids_sha256(list(step.texts)), step.instruction)


def _described(identity: tuple | None) -> str:
    if identity is None:
        return "no step there"
    task, key, modality, items, items_sha256 = identity[:5]
    of = f" of {identity[5]} at revision {identity[6]}" if modality == "image" else ""
    return f"task {task!r} step {key!r}: {items} {modality}s{of} (sha256 of the items {items_sha256[:12]})"


def agree(plans: Mapping[str, EmbeddingPlan], ranks: Ranks) -> None:
    """Refuse, on every rank alike, plans whose steps differ from rank 0's (see the module
    docstring), in one collective whatever the number of steps. A single process has nothing
    to compare."""
    if not ranks.distributed:
        return
    mine = [step_identity(task, step) for task, plan in plans.items() for step in plan.steps]
    every = ranks.gather(mine)
    for rank, theirs in enumerate(every[1:], 1):
        if theirs == every[0]:
            continue
        at = next(index for index in range(max(len(theirs), len(every[0])))
                  if theirs[index : index + 1] != every[0][index : index + 1])
        first, other = (steps[at] if at < len(steps) else None for steps in (every[0], theirs))
        raise MarsZooError(
            f"The ranks planned different embeddings: at step {at + 1}, rank 0 has {_described(first)}, "
            f"rank {rank} {_described(other)}. Every rank must embed the same items in the same order. Fix: give "
            f"every rank the same data (the same --data-dir contents, --tiles and --revision), and make each "
            f"task's plan depend only on the benchmark and the run's settings, not on the rank."
        )


def embed(plan: EmbeddingPlan, embedder: Embedder) -> dict[str, Any]:
    """The embeddings of every step of `plan`, in its order, by step key."""
    embeddings: dict[str, Any] = {}
    for step in plan.steps:
        label = step.label or step.key
        if isinstance(step, ImageItems):
            embeddings[step.key] = embedder.images(step.source, step.dataset, label, preprocessing=step.preprocessing,
                                                   subset=step.subset, in_memory=step.in_memory,
                                                   instruction=step.instruction)
        else:
            embeddings[step.key] = embedder.texts(list(step.texts), label, instruction=step.instruction)
    return embeddings


def evaluate(task: Task, plan: EmbeddingPlan, embedder: Embedder, scores: bool) -> dict[str, Any] | None:
    """The task's result section: its declaration, what `score` makes of `embed(plan)`, and the
    time and items per second it took. A rank that does not score (`scores` False) only embeds."""
    before = stats_snapshot(embedder)
    watch = Stopwatch()
    embeddings = embed(plan, embedder)
    watch.lap("embed")
    if not scores:
        return None
    with _task_call(task, "in score"):
        section = task.score(plan, embeddings)
    watch.lap("score")
    return {"declaration": task.declaration(), **section, "timings": watch.timings,
            "throughput": throughput(embedder, before)}
