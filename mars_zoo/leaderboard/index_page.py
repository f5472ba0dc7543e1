"""The front page: every task's table, breakdowns, plots, the synthetic section, downloads."""

from __future__ import annotations

from typing import Sequence

from mars_zoo.leaderboard import plots
from mars_zoo.leaderboard.columns import FRACTION, GEO_MODES, Task, tasks_of
from mars_zoo.leaderboard.context import Change, context_section
from mars_zoo.leaderboard.entries import Entry, ranked
from mars_zoo.leaderboard.html import Markup, el, external_link
from mars_zoo.leaderboard.layout import BENCHMARK_URL, document
from mars_zoo.leaderboard.overview import overview_table
from mars_zoo.leaderboard.svg import no_data, stack
from mars_zoo.leaderboard.tables import (
    FILTERS, MODEL_HEADER, Header, Row, details_note, entry_attributes, filter_values, metric_cell, model_cell,
    notation, table, task_headers, task_rows,
)

DOWNLOADS = (
    ("data/results.json", "Every result file, as validated (JSON)"),
    ("data/results.csv", "One row per result with every metric (CSV)"),
    ("data/landform_per_class.csv", "Task 2 per class (CSV)"),
    ("data/geolocalization_per_landform.csv", "Task 3 per landform and query mode (CSV)"),
)


def _filters(entries: Sequence[Entry]) -> Markup:
    """The filter bar: a select per filter, a search box and the one count of shown results."""
    def select(name: str, label: str, values: set[str]) -> Markup:
        options = [el("option", "all", value="")] + [el("option", value, value=value) for value in sorted(values)]
        return el("label", label, " ", el("select", options, name=name))

    values = [filter_values(entry) for entry in entries]
    return el(
        "form",
        el("label", "Search ", el("input", type="search", name="q", placeholder="model name", size=14)),
        [select(name, label, {value[name] for value in values}) for name, label in FILTERS],
        el("output", id="filter-count", aria_live="polite"),
        id="filters", class_="filters js-only", aria_label="Filter the results in every table and chart",
    )


def _per_class(entries: Sequence[Entry], table_id: str) -> Markup:
    rows_of = [(entry, {row["class"]: row for row in entry.task("landform").get("per_class", [])})
               for entry in entries if entry.task("landform") and entry.task("landform").get("per_class")]
    if not rows_of:
        return no_data("No per-class results yet (reported results usually give only the means).")
    classes = sorted({name for _, by_class in rows_of for name in by_class})
    headers = [MODEL_HEADER] + [Header(name, "AP per class", title=f"AP of {name} (%)")
                                                      for name in classes]
    rows = [Row([model_cell(entry, "")] + [metric_cell(by_class.get(name, {}).get("ap"), "fraction")
                                           for name in classes], entry_attributes(entry))
            for entry, by_class in rows_of]
    return table(table_id, "Task 2: average precision per landform class", headers, rows, filterable=True)


def _per_landform(entries: Sequence[Entry], table_id: str) -> Markup:
    rows_of = [(entry, {(row["landform"], row["mode"]): row
                        for row in entry.task("geolocalization").get("per_landform", [])})
               for entry in entries
               if entry.task("geolocalization") and entry.task("geolocalization").get("per_landform")]
    if not rows_of:
        return no_data("No per-landform results yet.")
    pairs = sorted({key for _, by_key in rows_of for key in by_key},
                   key=lambda key: (key[0], GEO_MODES.index(key[1])))
    headers = [MODEL_HEADER] + [
        Header(mode, landform, title=f"F1 of {landform}, {mode} query (%)") for landform, mode in pairs]
    rows = [Row([model_cell(entry, "")] + [metric_cell(by_key.get(pair, {}).get("f1"), "fraction")
                                           for pair in pairs], entry_attributes(entry))
            for entry, by_key in rows_of]
    return table(table_id, "Task 3: best F1 per landform and query mode", headers, rows, filterable=True)


def _task_section(task: Task, entries: Sequence[Entry]) -> Markup:
    ranking = ranked(entries, task)
    with_task = [entry for _, entry in ranking]
    parts = [el("h2", task.heading), el("p", task.summary, f" Ranked by {task.headline_name}.")]
    if ranking:
        unit = "scores in %, " if task.headline_column.kind == FRACTION else ""
        parts += [table(f"table-{task.key}", f"{task.heading} ({unit}ranked by {task.headline_name})",
                        task_headers(task, True), task_rows(task, ranking, "", True), filterable=True),
                  details_note(task)]
    parts.append(plots.task_bars(task, with_task, f"bars-{task.key}"))
    if task.key == "landform":
        parts += [el("h3", "Per class"), _per_class(with_task, "table-landform-classes")]
    if task.key == "geolocalization":
        curves = plots.pr_curves_by_mode(with_task, "pr")
        parts += [el("h3", "Per landform and query mode"), _per_landform(with_task, "table-geo-landforms"),
                  el("h3", "Precision-recall curves"),
                  stack(curves) if curves else no_data("No precision-recall curves yet.")]
    return el("section", parts, id=task.key)


def _synthetic_section(entries: Sequence[Entry]) -> Markup:
    parts = [el("h2", "Synthetic results (not ranked)")]
    if not entries:
        parts.append(no_data("None. Results on the generated mini benchmark appear here when a build "
                             "includes them (mars-zoo leaderboard build --include FILE)."))
        return el("section", parts, id="synthetic")
    parts.append(el("p", el("strong", "SYNTHETIC"), " \u2014 these results were measured on the generated "
                    "mini benchmark, a tiny self-made dataset for demos and tests. They say nothing about "
                    "MarsRetrieval, are not ranked, and must not be compared with the tables above.",
                    class_="synthetic-banner"))
    for task in tasks_of([entry.data for entry in entries]):
        rows = [(None, entry) for entry in entries if entry.task(task.key) is not None]
        if rows:
            parts += [el("h3", f"{task.heading} (SYNTHETIC)"),
                      table(f"synthetic-{task.key}", f"SYNTHETIC \u2014 {task.heading} on the mini benchmark",
                            task_headers(task, False), task_rows(task, rows, "", False), filterable=True)]
    return el("section", parts, id="synthetic", class_="synthetic")


def _intro(real: Sequence[Entry], synthetic: Sequence[Entry]) -> Markup:
    counts = {provenance: sum(entry.provenance == provenance for entry in real)
              for provenance in ("reproduced", "reported")}
    extra = f" (and {len(synthetic)} synthetic, not ranked)" if synthetic else ""
    return el(
        "section",
        el("h1", "MarsRetrieval leaderboard"),
        el("p", "Vision-language embedding models on the three zero-shot retrieval tasks of ",
           external_link(BENCHMARK_URL, "MarsRetrieval"), f": {len(real)} results{extra}, "
           f"{counts['reproduced']} reproduced and {counts['reported']} reported. Scores in %."),
        id="intro",
    )


def _legend() -> Markup:
    """What the badges and the tables' marks mean."""
    return el("div", _badges(), notation(), id="legend")


def _badges() -> Markup:
    return el(
        "ul",
        el("li", el("span", "reproduced", class_="badge badge-reproduced"),
           " measured by mars-zoo run, with the full fingerprint (model revision, data revisions and "
           "item hashes, software, hardware) on the model's page."),
        el("li", el("span", "reported", class_="badge badge-reported"),
           " copied from a paper or another benchmark; the model's page links the source and names "
           "the exact data it was measured on."),
        el("li", el("span", "zero-shot", class_="badge badge-training-zero-shot"),
           " the published weights; fine-tuned weights are marked as their publishers declare it or, where "
           "mars-zoo fine-tuned them, as measured: clean, or contaminated with the number of benchmark items "
           "found in the training data (", el("a", "methodology", href="methodology.html"), ")."),
        class_="legend")


def _size_section(real: Sequence[Entry]) -> Markup:
    charts = plots.size_charts(real, "size")
    return el("section", el("h2", "Score vs parameter count"),
              stack(charts) if charts else no_data("No result states its parameter count yet."), id="size")


def _downloads() -> Markup:
    items = [el("li", el("a", path.rsplit("/", 1)[1], href=path, download=True), " \u2014 ", text)
             for path, text in DOWNLOADS]
    return el("section", el("h2", "Downloads"), el("ul", items), id="downloads")


def index_page(entries: Sequence[Entry], version: str, history: list[Change] | None = None,
) -> bytes:
    """The front page; `history` is the submissions' changelog (`context.submissions_history`)."""
    real = [entry for entry in entries if not entry.synthetic]
    synthetic = [entry for entry in entries if entry.synthetic]
    body = [_intro(real, synthetic), overview_table(real), _filters(entries), _legend()]
    body += [_task_section(task, real) for task in tasks_of([entry.data for entry in real])]
    body += [_size_section(real), _synthetic_section(synthetic), _downloads(), context_section(real, history)]
    return document("MarsRetrieval leaderboard \u2014 mars-zoo", body, "", version, index=True)

