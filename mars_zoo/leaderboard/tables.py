"""Pre-rendered, sortable HTML tables.

Every row is in the HTML, so the page is complete without JavaScript; the script only
reorders rows (by each cell's `data-sort`) and hides rows that fail the filters (by the row's
`data-family`, `data-modality` and `data-provenance`). Secondary columns (provenance, parameter
count, how scores were measured) carry the class `secondary`, which the stylesheet hides on narrow
screens, header and cells alike, so that a phone shows the model and its numbers first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from mars_zoo.leaderboard.columns import NUMBER as NUMBER_KIND
from mars_zoo.leaderboard.columns import (PROTOCOL_BADGES, RANK, Column, Detail, Task, format_interval,
                                          format_value, intervals_overlap, sort_key)
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
    mark_best: bool = False  # the best value of the column is shown in bold
    secondary: bool = False  # hidden on narrow screens (the model's page has it)

    @property
    def spoken(self) -> str:
        """What the column holds, in words (its group and label, or its tooltip)."""
        return self.title or " ".join(filter(None, (self.group, self.label)))


@dataclass(frozen=True)
class Cell:
    content: Any
    sort: str = ""
    class_: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Row:
    cells: Sequence[Cell]
    attributes: dict[str, str] = field(default_factory=dict)


MODEL_HEADER = Header("Model", "", TEXT, "lower")


def metric_header(column: Column) -> Header:
    unit = {RANK: " (lower is better; rounded half to even)", NUMBER_KIND: f" ({column.better} is better)"}.get(
        column.kind, " (%)")
    return Header(column.label, column.group, NUMBER, column.better, f"{column.group}: {column.label}{unit}",
                  mark_best=True)


OVERLAP_MARK = "\u2248"
OVERLAP_NOTE = "95% intervals overlap with the next better result: their order may be chance"


def metric_cell(value: float | None, kind: str, interval: tuple[float, float] | None = None,
                overlaps: bool = False) -> Cell:
    """The formatted value; the tooltip keeps a rounded rank's raw value and the 95% interval, and
    `overlaps` marks a value whose interval overlaps the one of the row above."""
    rounded = kind == RANK and value is not None and not float(value).is_integer()
    notes = [f"{float(value)!r} before rounding" if rounded else None,
             format_interval(interval, kind) if interval and value is not None else None,
             OVERLAP_NOTE if overlaps else None]
    content = format_value(value, kind)
    if overlaps:
        content = [content, el("span", OVERLAP_MARK, class_="ci-overlap", title=OVERLAP_NOTE)]
    return Cell(content, sort_key(value), "num" if value is not None else "num missing",
                "; ".join(note for note in notes if note) or None)


def detail_header(detail: Detail) -> Header:
    return Header(detail.label, "", TEXT, "lower", detail.explanation, secondary=True)


def detail_cell(value: str | None) -> Cell:
    return Cell("\u2013" if value is None else value, value or "", "detail" if value else "detail missing")


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
    return el("tr", cells, class_="groups")


def sort_label(header: Header, best_first: bool = True) -> str:
    """The sort button's accessible name: what it sorts and in which order the click puts it
    (the script keeps it current after each click)."""
    if header.type == TEXT:
        order = "A to Z" if best_first else "Z to A"
    else:
        order = f"{header.better if best_first else ('lower' if header.better == 'higher' else 'higher')} first"
    return f"Sort by {header.spoken}, {order}"


def _best_rows(headers: Sequence[Header], rows: Sequence[Row]) -> dict[int, set[int]]:
    """Column index -> the rows holding that column's best value (for columns that mark it)."""
    best: dict[int, set[int]] = {}
    for column, header in enumerate(headers):
        if not header.mark_best:
            continue
        values = {index: float(row.cells[column].sort) for index, row in enumerate(rows) if row.cells[column].sort}
        if values:
            target = (max if header.better == "higher" else min)(values.values())
            best[column] = {index for index, value in values.items() if value == target}
    return best


def table(table_id: str, caption: Any, headers: Sequence[Header], rows: Sequence[Row],
          *, sortable: bool = True, filterable: bool = False, named_by: str | None = None) -> Markup:
    """A table whose header buttons sort it (with JavaScript) and whose rows carry filter data.
    It sits in a scrolling region that keyboards can reach; filterable tables are followed by
    the message shown when the filters leave no row. `named_by` is the id of a heading that,
    with the caption, names the region where captions repeat on a page."""
    head_cells = []
    for index, header in enumerate(headers):
        label = (el("button", header.label, type="button", class_="sort", aria_label=sort_label(header),
                    data_spoken=header.spoken)
                 if sortable else escape(header.label))
        kind = "num" if header.type == NUMBER else "model-col" if header == MODEL_HEADER else None
        head_cells.append(el("th", label, scope="col", title=header.title, data_col=index,
                             data_type=header.type, data_better=header.better,
                             class_=" ".join(filter(None, (kind, SECONDARY if header.secondary else None))) or None))
    head = el("thead", _group_row(headers), el("tr", head_cells, class_="labels"))
    best = _best_rows(headers, rows)
    body_rows = [
        el("tr", [el("td", cell.content, data_sort=cell.sort, title=cell.title,
                     class_=" ".join(filter(None, (cell.class_, "best" if index in best.get(column, ()) else None,
                                                   SECONDARY if headers[column].secondary else None)))
                     or None)
                  for column, cell in enumerate(row.cells)],
           **{name.replace("-", "_"): value for name, value in row.attributes.items()})
        for index, row in enumerate(rows)
    ]
    classes = " ".join(filter(None, ["board", "sortable" if sortable else "", "filterable" if filterable else ""]))
    caption_id = f"{table_id}-caption"
    region = el("div", el("table", el("caption", caption, id=caption_id), head, el("tbody", body_rows),
                          id=table_id, class_=classes),
                class_="table-scroll", tabindex=0, role="region", aria_labelledby=f"{named_by} {caption_id}" if named_by else caption_id)
    if not filterable:
        return region
    return join([region, el("p", "No model matches the filters.", class_="no-match", hidden=True,
                            data_for=table_id)])


def format_parameters(count: int | None) -> str:
    if count is None:
        return "?"
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
        return Cell("\u2013", "", "num", apart)
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
                              overlaps and column.key == task.headline) for column in task.columns]
        rows.append(Row(cells, entry_attributes(entry)))
    return rows


def task_headers(task: Task, with_rank: bool) -> list[Header]:
    headers = [Header("#", "", NUMBER, "lower", "Rank by " + task.headline_column.group + " "
                      + task.headline_column.label)] if with_rank else []
    headers += [MODEL_HEADER, PROVENANCE_HEADER,
                Header("Params", "", NUMBER, "higher", "Parameter count", secondary=True)]
    headers += [detail_header(detail) for detail in task.details]
    return headers + [metric_header(column) for column in task.columns]
