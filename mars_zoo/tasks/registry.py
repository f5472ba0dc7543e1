"""The task registry: every `Task` the loaded plugins register, by name, in load order (the
built-in MarsRetrieval tasks first).

A task's declarations are checked when it is registered, against the result schema's own
`declaration` definition (so the two cannot drift apart): a task whose results could not be
written is refused before anything runs, with one message naming the plugin, the task, each
bad field and its fix.
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from typing import Iterator

from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.model import MODALITIES
from mars_zoo.models.plugin_manager import PluginManager
from mars_zoo.core.problems import Problem
from mars_zoo.schema.results_schema import load_schema, schema_error_problems
from mars_zoo.tasks.spec import Task

FIXES = {
    "name": "name the task with lowercase letters, digits and '_', starting with a letter",
    "title": "give a one-line title",
    "metrics": "map each metric name (letters, digits, '_', '@'; 'group.metric' for a grouped one) to 'higher' "
               "or 'lower', the direction that is better",
    "headline": "name one of the declared metrics",
    "modalities": f"declare a non-empty subset of {MODALITIES}",
    "plan": "give a function plan(benchmark, settings) -> mars_zoo.EmbeddingPlan",
    "score": "give a function score(plan, embeddings) -> dict",
    "table": "give a function table(section) -> mars_zoo.tasks.tables.Summary, or None",
}


@functools.cache
def _validator():
    from jsonschema import Draft202012Validator

    defs = load_schema()["$defs"]
    return Draft202012Validator({"$defs": defs, **defs["declaration"]})


def task_problems(task: Task) -> list[Problem]:
    """Every problem of `task` as a registered task, by field; [] when it is sound."""
    declaration = task.declaration()
    problems = {problem for error in _validator().iter_errors(declaration)
                for problem in schema_error_problems(error, declaration)}
    if isinstance(task.metrics, dict) and task.headline not in task.metrics:
        problems.add(Problem("headline", f"must be one of the declared metrics, got {task.headline!r}"))
    if not task.modalities or not set(task.modalities) <= set(MODALITIES):
        problems.add(Problem("modalities", f"must be a non-empty subset of {MODALITIES}, got {task.modalities!r}"))
    for name in ("plan", "score"):
        if not callable(getattr(task, name)):
            problems.add(Problem(name, "must be callable"))
    if task.table is not None and not callable(task.table):
        problems.add(Problem("table", "must be callable or None"))
    return sorted(problems)


class TaskRegistry:
    """Tasks keyed by their unique name, in the order the plugins registered them."""

    def __init__(self, pm: PluginManager) -> None:
        self.pm = pm
        self._tasks: dict[str, Task] = {}
        pm.ask_to_register("register_tasks", Task, self._tasks, self._add)

    def _add(self, task: Task, plugin: str) -> None:
        problems = task_problems(task)
        if problems:
            details = "; ".join(f"{problem.field} {problem.message} (fix: {FIXES.get(problem.field.split('.')[0], '')})"
                                for problem in problems)
            raise MarsZooError(
                f"Plugin {plugin!r} registered task {task.name!r} with invalid declarations, so it was not "
                f"registered: {details}. Every declaration is copied into result files; fix the Task in plugin "
                f"{plugin!r}."
            )
        self._tasks[task.name] = dataclasses.replace(task, plugin=plugin)

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks.values())

    def get(self, name: str) -> Task | None:
        return self._tasks.get(name)

    def builtin(self, task: Task) -> bool:
        """Whether `task` comes with mars-zoo (its faults are then mars-zoo's, not a plugin's)."""
        return self.pm.info(task.plugin).origin == "builtin"

    def select(self, model: str, modalities: tuple[str, ...], requested: tuple[str, ...] | None) -> tuple[Task, ...]:
        """The tasks a run of `model` scores, in registry order: those asked for, or every task its
        `modalities` allow; an unknown name or a task the model cannot take part in is refused."""
        allowed = tuple(task for task in self if task.takes_part(modalities))
        if requested is None:
            return allowed
        unknown = [name for name in requested if name not in self._tasks]
        if unknown:
            raise MarsZooError(f"--tasks: unknown task(s) {', '.join(unknown)}; choose from {', '.join(self._tasks)} "
                               f"(the tasks of the loaded plugins: see 'mars-zoo plugins').")
        refused = [name for name in requested if self._tasks[name] not in allowed]
        if refused:
            needs = sorted({modality for name in refused for modality in self._tasks[name].modalities}
                           - set(modalities))
            raise MarsZooError(
                f"Model {model!r} is {'-'.join(modalities)}-only (modalities: {', '.join(modalities)}), but task(s) "
                f"{', '.join(refused)} need {' and '.join(needs)} embeddings. It takes part in "
                f"{', '.join(task.name for task in allowed) or 'no task'}: use --tasks "
                f"{','.join(task.name for task in allowed)}."
            )
        return tuple(task for task in self if task.name in requested)


_ASKED: "weakref.WeakKeyDictionary[PluginManager, TaskRegistry]" = weakref.WeakKeyDictionary()


def registered_tasks(pm: PluginManager) -> TaskRegistry:
    """The tasks the plugins of `pm` register, asked for once per plugin manager, when a command first
    needs them. Tasks are asked for here, not by the model registry, so that the models know nothing
    of tasks, which stand above them (a task plans embeddings and scores them)."""
    tasks = _ASKED.get(pm)
    if tasks is None:
        tasks = _ASKED[pm] = TaskRegistry(pm)
    return tasks
