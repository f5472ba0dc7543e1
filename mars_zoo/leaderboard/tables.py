"""Pre-rendered, sortable HTML tables.

Every row is in the HTML, so the page is complete without JavaScript; the script only
reorders rows (by each cell's `data-sort`) and hides rows that fail the filters (by the row's
`data-family`, `data-modality` and `data-provenance`). Secondary columns (provenance, parameter
count, how scores were measured) carry the class `secondary`, which the stylesheet hides on narrow
screens, header and cells alike, so that a phone shows the model and its numbers first.

Uncertainty is printed, not hidden in tooltips: a value's 95% interval is a quiet second line
under it, a value whose interval overlaps the one of the next better result carries
`OVERLAP_MARK`, and in a column that marks its best, every value statistically tied with the
best (its interval overlapping the best's) is bold with it. `NOTATION` says all this on the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from mars_zoo.leaderboard.columns import NUMBER as NUMBER_KIND
from mars_zoo.leaderboard.columns import (MISSING, NOT_APPLICABLE, PROTOCOL_BADGES, RANK, Column, Detail, Task,
                                          format_interval, format_value, intervals_overlap, sort_key)
from mars_zoo.leaderboard.entries import Entry
from mars_zoo.leaderboard.html import Markup, el, escape, join
from mars_zoo.leaderboard.training import training_mark

NUMBER, TEXT = "number", "text"


@dataclass(frozen=True)
class Header:
    label: str
    group: str = ""
    type: str = NUMBER
    better: str = "higher"  # the first click sorts best first
    title: str | None = None
    mark_best: bool = False  # the best value of the column, and those tied with it, are shown in bold
    secondary: bool = False  # hidden on narrow screens (the model's page has it)
    headline: bool = False  # the metric the table is ranked by, marked in its header
    attributes: Mapping[str, Any] = field(default_factory=dict)  # more attributes of its <th>

    @property
    def spoken(self) -> str:
        """What the column holds, in words (its group and label, or its tooltip)."""
        return self.title or " ".join(filter(None, (self.group, self.label)))


@dataclass(frozen=True)
class Cell:
    """One body cell. `interval` is its value's 95% interval and `pool` names the results it
    may be compared with (a task's protocol): the best of a column is found within each pool."""

    content: Any
    sort: str = ""
    class_: str | None = None
    title: str | None = None
    interval: tuple[float, float] | None = None
    pool: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)  # more attributes of its <td>


@dataclass(frozen=True)
class Row:
    cells: Sequence[Cell]
    attributes: dict[str, str] = field(default_factory=dict)


MODEL_HEADER = Header("Model", "", TEXT, "lower")


def metric_header(column: Column, headline: bool = False) -> Header:
    """A metric's column; the task's headline metric, which its rows are ranked by, is marked."""
    unit = {RANK: " (lower is better; rounded half to even)", NUMBER_KIND: f" ({column.better} is better)"}.get(
        column.kind, " (%)")
    ranked = "; the task's headline metric: rows are ranked by it" if headline else ""
    return Header(column.label, column.group, NUMBER, column.better, f"{column.group}: {column.label}{unit}{ranked}",
                  mark_best=True, headline=headline)


OVERLAP_MARK = "\u2248"
OVERLAP_NOTE = "95% intervals overlap with the next better result: their order may be chance"
TIED_NOTE = "statistically tied with the best: the 95% intervals overlap"
NOTATION = (
    ("12.34", "a score in percent (MedR and K: ranks); its 95% bootstrap interval over the queries is the "
              "small line under it, where the result file has one"),
    (OVERLAP_MARK, "a statistical tie: the value's 95% interval overlaps the one of the next better result "
                   "ranked with it, so the order of the two may be chance"),
    ("bold", "the best value of a column, and every value tied with it (its 95% interval overlaps the best's)"),
    (MISSING, "not measured, not reported or not stated"),
    (NOT_APPLICABLE, "not applicable: the model has no text input for a text task"),
)


def notation(tie: str | None = None, bold: str | None = None) -> Markup:
    """The key to the tables' marks (NOTATION), shown once near the top of the pages that use them;
    `tie` and `bold` replace the meanings of OVERLAP_MARK and bold on a page that uses them otherwise."""
    replaced = {OVERLAP_MARK: tie, "bold": bold}
    items = [el("div", el("dt", el("strong", sign) if sign == "bold" else sign), el("dd", replaced.get(sign) or meaning))
             for sign, meaning in NOTATION]
    return el("dl", items, class_="notation")


def interval_line(interval: tuple[float, float], kind: str) -> Markup:
    """The quiet second line of a value: its 95% interval, '11.20\u201314.31'."""
    low, high = (format_value(end, kind) for end in interval)
    return el("span", f"{low}\u2013{high}", class_="ci-range", title=format_interval(interval, kind))


def metric_cell(value: float | None, kind: str, interval: tuple[float, float] | None = None,
                overlaps: bool = False, pool: str | None = None) -> Cell:
    """The formatted value with its 95% interval on a second line; the tooltip keeps a rounded
    rank's raw value, and `overlaps` marks a value whose interval overlaps the one of the row
    above. `pool` is what the value may be compared with (`Cell.pool`)."""
    rounded = kind == RANK and value is not None and not float(value).is_integer()
    shown = interval if value is not None else None
    notes = [f"{float(value)!r} before rounding" if rounded else None,
             format_interval(shown, kind) if shown else None,
             OVERLAP_NOTE if overlaps else None]
    content = [format_value(value, kind),
               overlaps and el("span", OVERLAP_MARK, class_="ci-overlap", title=OVERLAP_NOTE),
               shown and interval_line(shown, kind)]
    return Cell(content, sort_key(value), "num" if value is not None else "num missing",
                "; ".join(note for note in notes if note) or None, shown, pool)


def detail_header(detail: Detail) -> Header:
    return Header(detail.label, "", TEXT, "lower", detail.explanation, secondary=True)


def detail_cell(value: str | None) -> Cell:
    return Cell(MISSING if value is None else value, value or "", "detail" if value else "detail missing")


def details_note(task: Task) -> Markup | None:
    """The footnote that explains the task's detail columns, shown under its tables."""
    if not task.details:
        return None
    return el("p", [detail.explanation for detail in task.details], class_="table-note")


FILTERS = (("family", "Family"), ("modality", "Modalities"), ("size", "Size"), ("license", "Licence"),
           ("open", "Open weights"), ("provenance", "Provenance"), ("training", "Training"))


def filter_values(entry: Entry) -> dict[str, str]:
    """The value of each filter (FILTERS) for one result."""
    return {"family": entry.family, "modality": entry.modalities, "size": entry.size_band,
            "license": entry.license, "open": entry.open_weights, "provenance": entry.provenance,
            "training": training_mark(entry.data).label}


def entry_attributes(entry: Entry) -> dict[str, str]:
    """What the script filters a row by: the filter values, the name for the search box, and
    the entry's key (shared with its chart marks); synthetic rows are not counted."""
    attributes = {f"data-{name}": value for name, value in filter_values(entry).items()}
    attributes.update({"data-entry": entry.key, "data-name": entry.name.lower()})
    if entry.synthetic:
        attributes["data-synthetic"] = "yes"
    return attributes


SECONDARY = "secondary"


def _group_row(headers: Sequence[Header]) -> Markup | None:
    """The row of group names over the labels; a cell spans only columns that hide together on
    narrow screens, so that the groups stay over their columns there."""
    if not any(header.group for header in headers):
        return None
    cells, index = [], 0
    while index < len(headers):
        group, secondary, span = headers[index].group, headers[index].secondary, 1
        while index + span < len(headers) and (headers[index + span].group,
                                                headers[index + span].secondary) == (group, secondary):
            span += 1
        options = {"colspan": span if span > 1 else None, "class_": SECONDARY if secondary else None}
        cells.append(el("th", group, scope="colgroup", **options) if group else el("td", **options))
        index += span
    if len(cells) == 1:  # one group over every column says what the caption says, and reads as a caption
        return None
    return el("tr", cells, class_="groups")


def sort_order(header: Header) -> str:
    """The order the first click on the column's sort button gives, the best first (the script
    keeps it current after each click)."""
    return "A to Z" if header.type == TEXT else f"{header.better} first"


def sort_button(header: Header) -> Markup:
    """The header's label as a button. Its accessible name starts with the label people see, followed
    (for screen readers only) by what the column holds and the order a click gives."""
    hidden = el("span", f", {header.spoken}, sort {sort_order(header)}", class_="sr-only sort-order")
    return el("button", header.label, hidden, type="button", class_="sort", data_spoken=header.spoken)


def _best_rows(headers: Sequence[Header], rows: Sequence[Row]) -> dict[int, dict[int, bool]]:
    """Column index -> {row: tied} for the rows shown bold in columns that mark their best: the rows
    holding the best value within their pool (tied False), and those whose 95% interval overlaps
    the interval of such a row (tied True)."""
    best: dict[int, dict[int, bool]] = {}
    for column, header in enumerate(headers):
        if not header.mark_best:
            continue
        pools: dict[str | None, list[tuple[int, Cell]]] = {}
        for index, row in enumerate(rows):
            if row.cells[column].sort:
                pools.setdefault(row.cells[column].pool, []).append((index, row.cells[column]))
        marked = best.setdefault(column, {})
        for cells in pools.values():
            target = (max if header.better == "higher" else min)(float(cell.sort) for _, cell in cells)
            leaders = [cell for _, cell in cells if float(cell.sort) == target]
            for index, cell in cells:
                if float(cell.sort) == target:
                    marked[index] = False
                elif any(intervals_overlap(cell.interval, leader.interval) for leader in leaders):
                    marked[index] = True
    return best


def table(table_id: str, caption: Any, headers: Sequence[Header], rows: Sequence[Row],
          *, sortable: bool = True, filterable: bool = False, named_by: str | None = None,
          classes: Sequence[str] = ()) -> Markup:
    """A table whose header buttons sort it (with JavaScript) and whose rows carry filter data.
    It sits in a scrolling region that keyboards can reach; filterable tables are followed by
    the message shown when the filters leave no row. `named_by` is the id of a heading that,
    with the caption, names the region where captions repeat on a page."""
    head_cells = []
    for index, header in enumerate(headers):
        label = sort_button(header) if sortable else escape(header.label)
        kind = "num" if header.type == NUMBER else "model-col" if header == MODEL_HEADER else None
        head_cells.append(el("th", label, scope="col", title=header.title, data_col=index,
                             data_type=header.type, data_better=header.better,
                             class_=" ".join(filter(None, (kind, SECONDARY if header.secondary else None,
                                                           "headline" if header.headline else None))) or None,
                             **header.attributes))
    head = el("thead", _group_row(headers), el("tr", head_cells, class_="labels"))
    best = _best_rows(headers, rows)
    body_rows = [
        el("tr", [el("td", cell.content, data_sort=cell.sort, title=_title(cell, best.get(column, {}).get(index)),
                     class_=" ".join(filter(None, (cell.class_, "best" if index in best.get(column, ()) else None,
                                                   SECONDARY if headers[column].secondary else None)))
                     or None, **_interval_attributes(cell), **cell.attributes)
                  for column, cell in enumerate(row.cells)],
           **{name.replace("-", "_"): value for name, value in row.attributes.items()})
        for index, row in enumerate(rows)
    ]
    names = " ".join(filter(None, ["board", "sortable" if sortable else "", "filterable" if filterable else "",
                                   *classes]))
    caption_id = f"{table_id}-caption"
    region = el("div", el("table", el("caption", el("span", caption, class_="caption-text"), id=caption_id), head,
                          el("tbody", body_rows),
                          id=table_id, class_=names),
                class_="table-scroll", tabindex=0, role="region", aria_labelledby=f"{named_by} {caption_id}" if named_by else caption_id)
    if not filterable:
        return region
    return join([region, el("p", "No model matches the filters.", class_="no-match", hidden=True,
                            data_for=table_id)])


def _title(cell: Cell, tied: bool | None) -> str | None:
    """The cell's tooltip; a value bold for its tie with the best says so."""
    return "; ".join(filter(None, (cell.title, TIED_NOTE if tied else None))) or None


def _interval_attributes(cell: Cell) -> dict[str, str]:
    """The 95% interval in full precision, for the comparison page's script."""
    if cell.interval is None:
        return {}
    return {"data_low": repr(float(cell.interval[0])), "data_high": repr(float(cell.interval[1]))}


def format_parameters(count: int | None) -> str:
    if count is None:
        return MISSING
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= size:
            return f"{count / size:.1f}{suffix}"
    return str(count)


def badge(text: str, kind: str) -> Markup:
    return el("span", text, class_=f"badge badge-{kind}")


def short_revision(revision: str) -> str:
    """A commit hash cut to its first 7 characters (as git shows it); names such as a tag stay."""
    return revision[:7] if len(revision) > 12 and all(c in "0123456789abcdef" for c in revision) else revision


PROVENANCE_HEADER = Header("Provenance", "", TEXT, "lower", secondary=True)


def provenance_cell(entry: Entry) -> Cell:
    return Cell(badge(entry.provenance, entry.provenance), entry.provenance)


def model_cell(entry: Entry, prefix: str, provenance: bool = False, mark: Markup | None = None) -> Cell:
    """The model's name linking to its page, with revision and where the result came from.
    `provenance` adds the provenance badge that narrow screens show under the name in place of
    the table's provenance column (PROVENANCE_HEADER, hidden there); `mark` a badge of its own
    (a row ranked apart, `protocol_badge`). Weights trained on Mars data carry their training marker."""
    training = training_mark(entry.data)
    details = [entry.revision and el("span", f"@ {short_revision(entry.revision)}", class_="revision",
                                     title=entry.revision),
               not entry.submitted and badge("local file", "local"), mark, training.flagged and training.badge(),
               provenance and el("span", badge(entry.provenance, entry.provenance), class_="provenance-mark")]
    family, slash, name = entry.name.partition("/")  # a narrow column breaks the name after the family
    link = el("a", family, slash, slash and el("wbr"), name, href=prefix + entry.page + "#" + entry.anchor,
              class_="model")
    return Cell([link, " ", details], entry.name.lower(), "model-cell")


def protocol_badge(task: Task, result: dict[str, Any]) -> Markup:
    """The badge of a number measured under another protocol than the paper's, its tooltip saying
    why it is ranked apart (`Task.apart`)."""
    return el("span", PROTOCOL_BADGES.get(task.protocol_of(result), "other protocol"), class_="badge badge-protocol",
              title=task.apart(result))


GROUP_STRIDE = 10**6  # more rows than any leaderboard holds


def rank_cell(task: Task, entry: Entry, rank: int | None, group: int) -> Cell:
    """The row's rank within its protocol group (`entries.ranked`; a row ranked apart says why in
    its tooltip, and its model cell carries the `protocol_badge`). Sorting by the column keeps the
    groups in order: the sort value is group x GROUP_STRIDE + rank."""
    apart = task.apart(entry.data)
    if rank is None:
        return Cell(MISSING, "", "num", apart)
    return Cell(rank, str(group * GROUP_STRIDE + rank), "num", apart)


def task_rows(task: Task, ranked_entries: Sequence[tuple[int | None, Entry]], prefix: str,
              with_rank: bool) -> list[Row]:
    rows = []
    above = None  # the headline interval of the row above in the same group, for the overlap mark
    groups: dict[str | None, int] = {}  # protocol -> its group's place, in the order `ranked` gives
    for rank, entry in ranked_entries:
        protocol = task.protocol_of(entry.data)
        if protocol not in groups:
            groups[protocol], above = len(groups), None
        headline = task.headline_column.interval(entry.data)
        overlaps, above = with_rank and intervals_overlap(above, headline), headline
        cells = []
        if with_rank:
            cells.append(rank_cell(task, entry, rank, groups[protocol]))
        cells += [
            model_cell(entry, prefix, provenance=True,
                       mark=protocol_badge(task, entry.data) if task.apart(entry.data) else None),
            provenance_cell(entry),
            Cell(format_parameters(entry.model.get("parameters")), sort_key(entry.model.get("parameters")), "num"),
        ]
        cells += [detail_cell(detail.value(entry.data)) for detail in task.details]
        cells += [metric_cell(column.value(entry.data), column.kind, column.interval(entry.data),
                              overlaps and column.key == task.headline, protocol) for column in task.columns]
        rows.append(Row(cells, entry_attributes(entry)))
    return rows


def task_headers(task: Task, with_rank: bool) -> list[Header]:
    headers = [Header("#", "", NUMBER, "lower", f"Rank by {task.headline_name}")] if with_rank else []
    headers += [MODEL_HEADER, PROVENANCE_HEADER,
                Header("Params", "", NUMBER, "higher", "Parameter count", secondary=True)]
    headers += [detail_header(detail) for detail in task.details]
    return headers + [metric_header(column, column.key == task.headline) for column in task.columns]
