"""The overview table at the top of the front page: each result's headline number per task and
its place across tasks, so that the first screen answers "who is best?".

The rule (`rule`, printed under the table): in each task the results are ranked by the task's
headline metric (`Task.headline`) among the results measured under the same protocol
(competition ranks: equal values share a rank); a result's place is the mean of its ranks over
the tasks it was measured on, lower first, and of two equal means the one over more tasks goes
first. Every result with at least one headline number is ranked. One measured on fewer tasks
than the site shows is marked "partial" beside its mean rank: its place rests on fewer numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from mars_zoo.leaderboard.columns import FRACTION, MISSING, NOT_APPLICABLE, TASKS, Task, intervals_overlap
from mars_zoo.leaderboard.entries import Entry, protocol_groups, rank_by
from mars_zoo.leaderboard.html import Markup, el
from mars_zoo.leaderboard.tables import (
    MODEL_HEADER, NUMBER, PROVENANCE_HEADER, TEXT, Cell, Header, Row, entry_attributes, metric_cell, model_cell,
    protocol_badge, provenance_cell, table,
)
from mars_zoo.leaderboard.training import training_mark

TABLE_ID = "table-overview"
PARTIAL = "partial"
TRAINING_HEADER = Header("Training", "", TEXT, "lower", "Zero-shot, fine-tuned (as declared, or on data checked "
                         "clean, unchecked, unrecorded) or contaminated: see the methodology page", secondary=True)


def training_cell(entry: Entry) -> Cell:
    mark = training_mark(entry.data)
    return Cell(mark.badge(), mark.label)


@dataclass(frozen=True)
class TaskRank:
    """A result's rank on one task's headline metric, among the `pool` results measured under
    the same protocol; `apart` is set where that protocol is not the paper's."""

    task: Task
    rank: int
    pool: int
    apart: bool = False

    def words(self) -> str:
        among = " (among the results of its protocol)" if self.apart else ""
        return f"rank {self.rank} of {self.pool} in task {self.task.number}{among}"


@dataclass(frozen=True)
class Standing:
    """A result's place in the overview: `rank` (None: no headline number at all), the mean of
    its per-task ranks and those ranks, one per task it was measured on, of `tasks` shown."""

    rank: int | None
    mean: float | None
    ranks: tuple[TaskRank, ...]
    tasks: int

    @property
    def covered(self) -> int:
        return len(self.ranks)

    @property
    def partial(self) -> bool:
        return self.covered < self.tasks

    def words(self) -> str:
        """'mean of rank 2 of 5 in task 1; rank 1 of 3 in task 2', or why there is no rank."""
        return "mean of " + "; ".join(item.words() for item in self.ranks) if self.ranks else \
            "not ranked: no headline number"


def task_ranks(entries: Sequence[Entry], task: Task) -> dict[int, TaskRank]:
    """id(entry) -> its rank on `task`'s headline metric within its protocol group, for the
    entries that have the headline number."""
    column = task.headline_column
    measured = [entry for entry in entries if column.value(entry.data) is not None]
    ranks = {}
    for group in protocol_groups(measured, task):
        for rank, entry in rank_by(group, lambda entry: column.value(entry.data), column.better == "lower"):
            ranks[id(entry)] = TaskRank(task, rank, len(group), task.apart(entry.data) is not None)
    return ranks


def standings(entries: Sequence[Entry], tasks: Sequence[Task] = TASKS) -> list[tuple[Standing, Entry]]:
    """Every entry with its `Standing`, in the overview's order (the module's docstring); the
    entries' own order breaks the ties that remain."""
    per_task = [task_ranks(entries, task) for task in tasks]
    rows = []
    for entry in entries:
        ranks = tuple(ranked[id(entry)] for ranked in per_task if id(entry) in ranked)
        rows.append((ranks, sum(item.rank for item in ranks) / len(ranks) if ranks else None, entry))

    def order(row: tuple) -> tuple:
        ranks, mean, _ = row
        return (mean is None, mean or 0.0, -len(ranks))

    rows.sort(key=order)
    placed: list[tuple[Standing, Entry]] = []
    for position, row in enumerate(rows):
        ranks, mean, entry = row
        if mean is None:
            rank = None
        elif position and order(rows[position - 1]) == order(row):
            rank = placed[-1][0].rank
        else:
            rank = position + 1
        placed.append((Standing(rank, mean, ranks, len(tasks)), entry))
    return placed


def rule(tasks: Sequence[Task] = TASKS) -> Markup:
    """The overview's ranking rule, in words, printed under its table."""
    headlines = "; ".join(f"task {task.number}: {task.headline_name}" for task in tasks)
    return el(
        "p",
        el("strong", "How the overview ranks: "),
        f"in each task the results are ranked by its headline metric ({headlines}), among the results measured "
        "under the same protocol only (task 1 numbers measured under MTEB's protocol, marked MTEB, rank among "
        "themselves). The overview orders results by the mean of their ranks over the tasks each was measured "
        "on (Mean rank); of two equal means, the one over more tasks goes first. ",
        el("span", PARTIAL, class_="badge badge-partial"),
        f": measured on fewer than {len(tasks)} tasks, so the place rests on fewer numbers. A rank is no verdict "
        "where values are statistically tied (\u2248, and bold beside the best).",
        class_="table-note rule", id="overview-rule",
    )


def _overlapping(task: Task, entries: Sequence[Entry]) -> set[int]:
    """The ids of the entries whose headline interval overlaps the one of the next better result
    on it, measured under the same protocol: their order on this number may be chance."""
    column, marked = task.headline_column, set()
    for group in protocol_groups(entries, task):
        ranking = [entry for rank, entry in rank_by(group, lambda entry: column.value(entry.data),
                                                    column.better == "lower") if rank]
        intervals = [column.interval(entry.data) for entry in ranking]
        marked |= {id(entry) for entry, above, own in zip(ranking[1:], intervals, intervals[1:])
                   if intervals_overlap(above, own)}
    return marked


def headline_cell(task: Task, entry: Entry, overlaps: bool = False, ranked: TaskRank | None = None) -> Cell:
    """The task's headline number of `entry` with its 95% interval under it; a number measured
    under another protocol than the paper's carries the badge that says which."""
    column = task.headline_column
    value = column.value(entry.data)
    if value is None and not task.applies(entry.model["modalities"]):
        return Cell(NOT_APPLICABLE, "", "num missing",
                    f"Not applicable: the model has no {' or '.join(task.needs)} input for this task")
    cell = metric_cell(value, FRACTION, column.interval(entry.data), overlaps, task.protocol_of(entry.data))
    notes = [ranked and ranked.words(), cell.title]
    apart = task.apart(entry.data) if value is not None else None
    content = cell.content
    if apart:
        content = [*content[:2], " ", protocol_badge(task, entry.data), *content[2:]]
        notes.append(apart)
    return Cell(content, cell.sort, cell.class_, "; ".join(filter(None, notes)) or None, cell.interval, cell.pool)


def mean_rank_cell(standing: Standing) -> Cell:
    if standing.mean is None:
        return Cell(MISSING, "", "num missing", standing.words())
    coverage = el("span", f"{standing.covered} of {standing.tasks} tasks", class_="ci-range coverage")
    mark = standing.partial and el("span", el("span", PARTIAL, class_="badge badge-partial"), class_="partial-line")
    return Cell([f"{standing.mean:.2f}", coverage, mark], repr(standing.mean), "num", standing.words())


def overview_table(entries: Sequence[Entry], tasks: Sequence[Task] = TASKS) -> Markup:
    headers = [Header("#", "", NUMBER, "lower", "Place in the overview: by mean rank over the tasks measured "
                      "(the rule is under the table)"),
               MODEL_HEADER, PROVENANCE_HEADER, TRAINING_HEADER,
               Header("Mean rank", "", NUMBER, "lower", "Mean of the result's ranks over the tasks it was measured "
                      "on, and how many tasks that is")]
    headers += [Header(f"Task {task.number}: {task.headline_name}", "", NUMBER, task.headline_column.better,
                       f"Task {task.number}, {task.title}: {task.headline_name} (%), the metric the task is ranked by",
                       mark_best=True)
                for task in tasks]
    overlaps = [_overlapping(task, entries) for task in tasks]
    rows = []
    for position, (standing, entry) in enumerate(standings(entries, tasks)):
        rank_cell = (Cell(standing.rank, str(position), "num", standing.words()) if standing.rank is not None
                     else Cell(MISSING, "", "num missing", standing.words()))
        by_task = {item.task.key: item for item in standing.ranks}
        cells = [rank_cell, model_cell(entry, "", provenance=True), provenance_cell(entry), training_cell(entry),
                 mean_rank_cell(standing)]
        cells += [headline_cell(task, entry, id(entry) in marked, by_task.get(task.key))
                  for task, marked in zip(tasks, overlaps)]
        rows.append(Row(cells, entry_attributes(entry)))
    caption = ("Overview: each task's headline metric (%, its 95% interval under it where known), ordered by "
               "mean rank over the tasks each result was measured on")
    return el("section", el("h2", "Overview"), table(TABLE_ID, caption, headers, rows, filterable=True), rule(tasks),
              id="overview")
