"""The overview table at the top of the front page: one headline number per task and a
cross-task rank.

The cross-task rank is the mean of a model's per-task ranks (by the headline numbers), and it
is given only to results that have all three headline numbers measured under the paper's
protocol: a result measured on fewer tasks (a reported row with one task, or an image-only
model, for which the text numbers are not applicable), or with task 1 measured under another
protocol (MTEB's), is listed after the ranked ones with how many tasks it covers, never ranked
against them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from mars_zoo.leaderboard.columns import (
    FRACTION, HEADLINES, TASKS_BY_KEY, Headline, format_interval, format_value, intervals_overlap,
    sort_key,
)
from mars_zoo.leaderboard.entries import Entry, protocol_groups, rank_by
from mars_zoo.leaderboard.html import Markup, el
from mars_zoo.leaderboard.tables import (
    MODEL_HEADER, NUMBER, PROVENANCE_HEADER, TEXT, Cell, Header, Row, entry_attributes, metric_cell, model_cell,
    protocol_badge, provenance_cell, table,
)
from mars_zoo.leaderboard.training import training_mark

TABLE_ID = "table-overview"
APART = "a task measured under another protocol than the paper's"  # why a result with every number is unranked
TRAINING_HEADER = Header("Training", "", TEXT, "lower", "Zero-shot, fine-tuned (as declared, or on data checked "
                         "clean, unchecked, unrecorded) or contaminated: see the methodology page", secondary=True)


def training_cell(entry: Entry) -> Cell:
    mark = training_mark(entry.data)
    return Cell(mark.badge(), mark.label)


def headline_cell(headline: Headline, entry: Entry, overlaps: bool = False) -> Cell:
    """The headline number with its 95% interval on a quiet second line; `overlaps` marks an
    interval that overlaps the one of the next better result on this number; a number measured
    under another protocol than the paper's carries the badge that says which."""
    value = headline.value(entry.data)
    if value is None and not headline.applies(entry.model["modalities"]):
        return Cell("n/a", "", "num missing", f"Not applicable: the model has no {headline.needs} input")
    interval = headline.interval(entry.data) if value is not None else None
    cell = metric_cell(value, FRACTION, interval, overlaps)
    task = TASKS_BY_KEY[headline.task]
    apart = task.apart(entry.data) if value is not None else None
    content = cell.content if isinstance(cell.content, list) else [cell.content]
    if apart:
        content = [*content, " ", protocol_badge(task, entry.data)]
        cell = replace(cell, title="; ".join(filter(None, (cell.title, apart))))
    if interval is not None:
        low, high = (format_value(end, FRACTION) for end in interval)
        content.append(el("span", f"{low}\u2013{high}", class_="ci-range", title=format_interval(interval, FRACTION)))
    return replace(cell, content=content)


def overlapping(headline: Headline, entries: Sequence[Entry]) -> set[int]:
    """The ids of the entries whose interval on `headline` overlaps the one of the next better
    result on it, measured under the same protocol: their order on this number may be chance."""
    marked = set()
    for group in protocol_groups(entries, TASKS_BY_KEY[headline.task]):
        ranking = [entry for rank, entry in rank_by(group, lambda entry: headline.value(entry.data)) if rank]
        intervals = [headline.interval(entry.data) for entry in ranking]
        marked |= {id(entry) for entry, above, own in zip(ranking[1:], intervals, intervals[1:])
                   if intervals_overlap(above, own)}
    return marked


def _apart(entry: Entry) -> str | None:
    """Why `entry` gets no cross-task rank although it may have every headline number: a task of
    it measured under another protocol than the paper's (`Task.apart`)."""
    return next((reason for headline in HEADLINES if headline.value(entry.data) is not None
                 for reason in [TASKS_BY_KEY[headline.task].apart(entry.data)] if reason), None)


def overview_rows(entries: Sequence[Entry]) -> list[tuple[int | None, float | None, int, Entry]]:
    """(cross-task rank, mean per-task rank, tasks covered, entry), ranked rows first. Per-task
    ranks are taken among the entries measured under the paper's protocol only."""
    comparable = [entry for entry in entries if _apart(entry) is None]
    per_task = []
    for headline in HEADLINES:
        ranks = rank_by(comparable, lambda entry, h=headline: h.value(entry.data))
        per_task.append({id(entry): rank for rank, entry in ranks})
    covered = {id(entry): sum(headline.value(entry.data) is not None for headline in HEADLINES) for entry in entries}

    def mean_rank(entry: Entry) -> float | None:
        ranks = [task_ranks.get(id(entry)) for task_ranks in per_task]
        return None if None in ranks else sum(ranks) / len(HEADLINES)

    complete = rank_by(entries, mean_rank, lower_is_better=True)
    ranked = [row for row in complete if row[0] is not None]
    partial = sorted((row for row in complete if row[0] is None), key=lambda row: -covered[id(row[1])])
    return [(rank, mean_rank(entry), covered[id(entry)], entry) for rank, entry in ranked + partial]


def overview_table(entries: Sequence[Entry]) -> Markup:
    headers = [Header("#", "", NUMBER, "lower", "Cross-task rank: mean of the per-task ranks, for results "
                      "with all three tasks"),
               MODEL_HEADER, PROVENANCE_HEADER, TRAINING_HEADER]
    headers += [Header(f"Task {index}: {headline.label}", "", NUMBER, "higher", headline.explanation, mark_best=True)
                for index, headline in enumerate(HEADLINES, 1)]
    headers.append(Header("Measured", "", NUMBER, "higher", "How many of the three headline numbers the result has",
                          secondary=True))
    rows = []
    overlaps = [overlapping(headline, entries) for headline in HEADLINES]
    for rank, mean, covered, entry in overview_rows(entries):
        rank_cell = (Cell(rank, sort_key(mean), "num", f"mean per-task rank {mean:g}") if rank is not None
                     else Cell("\u2013", "", "num missing", "not ranked: " + (
                         "fewer than three headline numbers" if covered < len(HEADLINES) else APART)))
        cells = [rank_cell, model_cell(entry, "", provenance=True), provenance_cell(entry), training_cell(entry)]
        cells += [headline_cell(headline, entry, id(entry) in marked) for headline, marked in zip(HEADLINES, overlaps)]
        cells.append(Cell(f"{covered} of {len(HEADLINES)}", str(covered), "num"))
        rows.append(Row(cells, entry_attributes(entry)))
    caption = ("Overview: one headline number per task (%), its 95% interval below where known; ranked "
               "across tasks only where all three are measured")
    return el("section", el("h2", "Overview"), table(TABLE_ID, caption, headers, rows, filterable=True),
              id="overview")


def standings(entries: Sequence[Entry]) -> dict[str, tuple[int | None, int]]:
    """Entry key -> (cross-task rank or None, tasks covered), for the model pages."""
    return {entry.key: (rank, covered) for rank, _, covered, entry in overview_rows(entries)}
