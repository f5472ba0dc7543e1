"""Which charts the pages show, and the data each one is drawn from."""

from __future__ import annotations

from typing import Sequence

from mars_zoo.leaderboard.columns import GEO_MODES, TASKS, Task
from mars_zoo.leaderboard.entries import Entry
from mars_zoo.leaderboard.html import Markup
from mars_zoo.leaderboard.svg import DASHES, Series, bar_chart, line_chart, no_data, scatter_chart, style


def _label(entry: Entry) -> str:
    return f"{entry.name} ({entry.provenance})"


def _short(entry: Entry) -> str:
    """The name of a curve's or point's direct label: the model without its family."""
    return entry.name.split("/", 1)[-1]


def task_bars(task: Task, ranked: Sequence[Entry], chart_id: str) -> Markup:
    """The task's fraction metrics of its headline group, one bar per metric (the headline's
    first), models in the order of the task's table: by the headline metric, best first."""
    if not ranked:
        return no_data("No results for this task yet.")
    group = task.headline_column.group
    columns = sorted((column for column in task.columns if column.group == group and column.kind == "fraction"),
                     key=lambda column: column.key != task.headline)
    if not columns:
        return no_data("No chart: this task's metrics are not fractions.")
    series = [Series(column.label, style(index)[0], [column.value(entry.data) for entry in ranked],
                     intervals=[column.interval(entry.data) for entry in ranked], metric=column.key)
              for index, column in enumerate(columns)]
    name = f"Task {task.number}: {group}" if task.number else task.title
    title = f"{name}, ranked by {task.headline_column.label}"
    return bar_chart(chart_id, title, [_label(entry) for entry in ranked], series, [entry.key for entry in ranked])


def curve_of(entry: Entry, landform: str, mode: str) -> list[tuple[float, float]] | None:
    """(recall, precision) points of one landform and query mode, ordered by recall with
    equal recalls kept in K order (the order AUPRC is integrated in)."""
    geo = entry.task("geolocalization") or {}
    for row in geo.get("per_landform", []):
        if row["landform"] == landform and row["mode"] == mode and "curve" in row:
            curve = row["curve"]
            points = list(zip(curve["recall"], curve["precision"]))
            return sorted(points, key=lambda point: point[0])
    return None


def landforms_of(entries: Sequence[Entry]) -> list[str]:
    return sorted({row["landform"] for entry in entries
                   for row in (entry.task("geolocalization") or {}).get("per_landform", [])})


def pr_curves_by_mode(entries: Sequence[Entry], id_prefix: str) -> list[Markup]:
    """Small multiples: one chart per landform and query mode, one curve per result."""
    charts = []
    for landform in landforms_of(entries):
        for mode in GEO_MODES:
            series = [Series(_label(entry), entry.color, points=points, key=entry.key, dash=entry.dash,
                             label=_short(entry))
                      for entry in entries
                      if (points := curve_of(entry, landform, mode))]
            if series:
                charts.append(line_chart(f"{id_prefix}-{len(charts)}", f"{landform} \u2014 {mode} query",
                                         series, "recall", "precision"))
    return charts


def pr_curves_of_entry(entry: Entry, id_prefix: str) -> list[Markup]:
    """One chart per landform, one curve per query mode."""
    charts = []
    for landform in landforms_of([entry]):
        series = [Series(f"{mode} query", style(index)[0], points=points, dash=DASHES[index], label=mode)
                  for index, mode in enumerate(GEO_MODES)
                  if (points := curve_of(entry, landform, mode))]
        if series:
            charts.append(line_chart(f"{id_prefix}-{len(charts)}", landform, series, "recall", "precision"))
    return charts


def size_charts(entries: Sequence[Entry], id_prefix: str) -> list[Markup]:
    """Headline score against parameter count, one chart per task, for results that state
    their parameter count."""
    charts = []
    for task in TASKS:
        column = task.headline_column
        series = [
            Series(_label(entry), entry.color, points=[(entry.model["parameters"], value)], key=entry.key,
                   intervals=[column.interval(entry.data)], metric=column.key, label=_short(entry), shape=entry.shape)
            for entry in entries
            if entry.model.get("parameters") and (value := column.value(entry.data)) is not None
        ]
        if series:
            charts.append(scatter_chart(f"{id_prefix}-{task.key}",
                                        f"Task {task.number}: {task.headline_name} vs parameters",
                                        series, "parameters (log scale)", f"{column.label} (%)"))
    return charts
