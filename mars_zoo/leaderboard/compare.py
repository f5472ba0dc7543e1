"""The comparison page: two results side by side, per task, per landform class, per landform and
query mode, each value with its 95% interval where the result file has one.

The page is as static as the others: every result's column is in the HTML. The script shows the
two chosen in the form (kept in the address, `compare.html?a=<ident>&b=<ident>`, `Entry.ident`),
puts them side by side in that order, and marks in each row the better value in bold, both
values where their 95% intervals overlap (a statistical tie, marked with the tables' sign).
Without the script the page shows the two results placed first in the overview.
"""

from __future__ import annotations

from typing import Any, Sequence

from mars_zoo.leaderboard.columns import FRACTION, GEO_MODES, MISSING, TASKS, TASKS_BY_KEY, Column
from mars_zoo.leaderboard.entries import Entry
from mars_zoo.leaderboard.html import Markup, el
from mars_zoo.leaderboard.layout import document
from mars_zoo.leaderboard.overview import headline_cell, mean_rank_cell, standings
from mars_zoo.leaderboard.plots import landforms_of
from mars_zoo.leaderboard.tables import (
    TEXT, Cell, Header, Row, metric_cell, notation, table,
)

PAGE = "compare.html"
CHOICES = ("a", "b")  # the address's parameters, in the order the two columns show
PAIR_TIE = "the two 95% intervals overlap: the difference may be chance"


def compare_url(entry: Entry) -> str:
    """The comparison page with `entry` chosen first (idents are [a-z0-9._-], safe in a URL)."""
    return f"{PAGE}?a={entry.ident}"


def _label(entry: Entry) -> str:
    return f"{entry.name} ({entry.provenance})"


def _headers(entries: Sequence[Entry], shown: set[str]) -> list[Header]:
    """The row label's column, then one column per result, those not `shown` hidden."""
    return [Header("Metric", "", TEXT)] + [
        Header(el("a", entry.name, href=f"{entry.page}#{entry.anchor}", class_="model"), "", TEXT,
               title=f"{entry.name}, {entry.provenance} result",
               attributes={"data_entry": entry.ident, "hidden": entry.ident not in shown})
        for entry in entries]


def _row(label: str, cells: list[Cell], entries: Sequence[Entry], shown: set[str], better: str | None) -> Row:
    """A row of `cells`, one per result; `better` ('higher', 'lower') lets the script mark the better value."""
    marked = [Cell(cell.content, cell.sort, cell.class_, cell.title, cell.interval, cell.pool,
                   {"data_entry": entry.ident, "hidden": entry.ident not in shown})
              for cell, entry in zip(cells, entries)]
    return Row([Cell(label, class_="metric-label"), *marked], {"data-better": better} if better else {})


def _metric_rows(columns: Sequence[Column], entries: Sequence[Entry], shown: set[str]) -> list[Row]:
    return [_row(f"{column.group}: {column.label}" if column.group else column.label,
                 [metric_cell(column.value(entry.data), column.kind, column.interval(entry.data)) for entry in entries],
                 entries, shown, column.better)
            for column in columns]


def _section(section_id: str, heading: str, caption: str, rows: list[Row], entries: Sequence[Entry],
             shown: set[str], level: str = "h2") -> list[Markup]:
    if not rows:
        return []
    return [el(level, heading, id=f"{section_id}-heading"),
            table(section_id, caption, _headers(entries, shown), rows, sortable=False,
                  named_by=f"{section_id}-heading", classes=("compare",))]


def _per_class(entries: Sequence[Entry], shown: set[str]) -> list[Row]:
    def ap(entry: Entry, name: str) -> float | None:
        return next((row["ap"] for row in (entry.task("landform") or {}).get("per_class", [])
                     if row["class"] == name), None)

    classes = sorted({row["class"] for entry in entries for row in (entry.task("landform") or {}).get("per_class", [])})
    return [_row(f"AP of {name}", [metric_cell(ap(entry, name), FRACTION) for entry in entries], entries, shown,
                 "higher") for name in classes]


def _per_landform(entries: Sequence[Entry], shown: set[str]) -> list[Row]:
    def f1(entry: Entry, landform: str, mode: str) -> float | None:
        return next((row["f1"] for row in (entry.task("geolocalization") or {}).get("per_landform", [])
                     if row["landform"] == landform and row["mode"] == mode), None)

    return [_row(f"F1 of {landform}, {mode} query",
                 [metric_cell(f1(entry, landform, mode), FRACTION) for entry in entries], entries, shown, "higher")
            for landform in landforms_of(entries) for mode in GEO_MODES
            if any(f1(entry, landform, mode) is not None for entry in entries)]


def _details(entries: Sequence[Entry], shown: set[str]) -> list[Row]:
    """How each task 1 number was measured: rows measured differently are not comparable."""
    return [_row(detail.label, [Cell(detail.value(entry.data) or MISSING, class_="detail") for entry in entries],
                 entries, shown, None) for detail in TASKS_BY_KEY["paired"].details]


def _form(entries: Sequence[Entry], chosen: tuple[str, str]) -> Markup:
    def select(name: str, label: str, default: str) -> Markup:
        options = [el("option", _label(entry), value=entry.ident, selected=entry.ident == default) for entry in entries]
        return el("label", label, " ", el("select", options, name=name))

    return el("form", select(CHOICES[0], "First result", chosen[0]), select(CHOICES[1], "Second result", chosen[1]),
              id="compare-form", class_="filters compare-form js-only", aria_label="Choose the two results",
              data_tie=PAIR_TIE)


def compare_page(entries: Sequence[Entry], version: str) -> bytes:
    """The page for the real results (`entries`, in the leaderboard's order)."""
    heading = el("h1", "Compare two results")
    if len(entries) < 2:
        body = [heading, el("p", "The comparison needs at least two results on the leaderboard.", class_="no-data")]
        return document("Compare two results \u2014 mars-zoo", body, "", version)
    placed = standings(entries)
    chosen = (placed[0][1].ident, placed[1][1].ident)
    ordered = [entry for _, entry in placed]
    shown = set(chosen)
    by_entry = {id(entry): standing for standing, entry in placed}
    headline_rows = [_row("Overview: mean rank", [mean_rank_cell(by_entry[id(entry)]) for entry in ordered],
                          ordered, shown, "lower")]
    headline_rows += [_row(f"Task {task.number}: {task.headline_name}", [headline_cell(task, entry) for entry in ordered],
                           ordered, shown, task.headline_column.better) for task in TASKS]
    paired, landform, geo = (TASKS_BY_KEY[key] for key in ("paired", "landform", "geolocalization"))
    body: list[Any] = [
        heading,
        el("p", "Two results side by side: every metric of every task, per landform class, per landform and query "
           "mode, each with its 95% interval where the result file has one. The address keeps the two chosen, so "
           "a link shows the same pair.", class_="intro"),
        el("p", "Without JavaScript this page shows the two results placed first in the overview: ",
           _label(placed[0][1]), " and ", _label(placed[1][1]), ".", class_="no-js-only"),
        _form(ordered, chosen),
        notation(tie=f"a statistical tie: {PAIR_TIE}", bold="the better of the two values, both where they are tied"),
        *_section("compare-headlines", "Headline metrics", "Each task's headline metric (%) and the overview's mean "
                  "rank", headline_rows, ordered, shown),
        *_section("compare-paired", f"Task 1: {paired.title}", "Task 1 metrics (%, MedR as a rank)",
                  _metric_rows(paired.columns, ordered, shown) + _details(ordered, shown), ordered, shown),
        *_section("compare-landform", f"Task 2: {landform.title}", "Task 2 means over classes (%)",
                  _metric_rows(landform.columns, ordered, shown), ordered, shown),
        *_section("compare-classes", "Task 2 per landform class", "Task 2: average precision per landform class (%)",
                  _per_class(ordered, shown), ordered, shown, "h3"),
        *_section("compare-modes", f"Task 3: {geo.title}, per query mode", "Task 3 means over landforms, per query "
                  "mode (%)", _metric_rows(geo.columns, ordered, shown), ordered, shown),
        *_section("compare-landforms", "Task 3 per landform and query mode", "Task 3: best F1 per landform and "
                  "query mode (%)", _per_landform(ordered, shown), ordered, shown, "h3"),
    ]
    return document("Compare two results \u2014 mars-zoo", [el("section", body, id="compare")], "", version)

