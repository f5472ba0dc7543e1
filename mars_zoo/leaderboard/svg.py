"""Small static SVG charts, drawn at build time and inlined into the pages.

Three shapes cover the leaderboard: horizontal grouped bars (scores per model), lines on the
unit square (precision-recall curves) and a scatter with a log x axis (score vs parameters).
Each chart is drawn twice, once per `Layout` (a wide one and a narrow one with its own text
sizes, fewer ticks and labels above the bars), and the stylesheet shows the drawing the page
width calls for: a phone gets text at its real size instead of a wide drawing scaled down, with
no script. Curves and points are named by direct labels at their ends, moved apart so that
none overlap; bars and points carry the result's 95% interval as a whisker. Text is measured
conservatively (`text_width`) and names are cut with an ellipsis to the room they get, the full
name kept in their tooltip, so that no text leaves its drawing. Coordinates are
rounded to 0.1 px so the output is byte-stable; colours come from a fixed palette; styling is by
presentation attributes and CSS classes (the site's Content Security Policy forbids inline
styles). All text goes through `el`, so labels are escaped.

A model's colour is a hash of its name (`model_styles`), so it keeps its colour from one build to
the next whichever other models are on the board; models that share a colour are told apart by
the dash of their curves and the shape of their points, and every curve and point is named.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from mars_zoo.leaderboard.columns import MISSING
from mars_zoo.leaderboard.html import Markup, el, join
from mars_zoo.leaderboard.text_width import fit, text_width

# Colours told apart with the common colour-vision deficiencies (after Okabe and Ito, the yellow
# and orange darkened), each at least 3:1 against the white chart background. Series that share
# a colour differ in dash pattern and point shape, so no two curves or points of a chart look alike.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#aa3377", "#8c6d00", "#333333")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "12 4", "8 3 2 3 2 3")
SHAPES = ("circle", "square", "diamond", "triangle", "triangle-down", "hexagon")
NICE_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0)
SWATCH = 14.0  # the line or square that shows a series' colour and dash before its name


@dataclass(frozen=True)
class Layout:
    """One drawing of every chart: its widths, text sizes and tick counts."""

    name: str
    width: float  # charts that take the whole column (bars, scatter)
    panel: float  # small multiples (precision-recall curves)
    font: float  # ticks, labels, legends
    small: float  # the values at the bars' ends
    title: float
    ticks: int  # intervals on a value axis
    label_width: float  # the most room (px) of a direct label of small multiples, half a legend entry's
    wide_label_width: float  # the most room of a direct label of charts that take the whole column
    bar: float  # the thickness of one bar
    plot: float  # the height of a line chart's or scatter's plot area
    labels_above: bool  # bar charts put a group's label above its bars rather than beside them

    @property
    def left(self) -> float:
        """Room left of a plot for the rotated axis title and tick labels such as '12.5%'."""
        return round(5 * self.font + 8)

    def column(self, series: Sequence[Series], room: float) -> tuple[float, float]:
        """The width of the direct labels' column right of a plot (swatch, gap and the longest
        name, at most `room`) and the room a name gets in it."""
        longest = max((text_width(entry.label or entry.name, self.font) for entry in series), default=0.0)
        names = min(longest, room)
        return SWATCH + 4 + names, names


WIDE = Layout("wide", width=800, panel=460, font=11, small=10, title=13, ticks=4, label_width=110,
              wide_label_width=190, bar=12, plot=260, labels_above=False)
NARROW = Layout("narrow", width=360, panel=360, font=12, small=11, title=13, ticks=2, label_width=90,
                wide_label_width=105, bar=14, plot=200, labels_above=True)
LAYOUTS = (WIDE, NARROW)


@dataclass(frozen=True)
class Series:
    """One named, coloured set of values: bar lengths, curve points or scatter points, with
    each value's 95% interval where known."""

    name: str
    color: str
    values: Sequence[float | None] = ()
    points: Sequence[tuple[float, float]] = ()
    key: str | None = None  # the result it shows (an `Entry.key`), so the filters can hide it
    dash: str = ""  # stroke-dasharray of its curve; empty for a solid line
    intervals: Sequence[tuple[float, float] | None] = ()  # one per value (bars) or point (scatter)
    metric: str | None = None  # the column key its values are read from, named on its whiskers
    label: str | None = None  # the short name of its direct label (default: the name)
    shape: str = "circle"  # of its points, in a scatter (SHAPES)


def style(index: int) -> tuple[str, str]:
    """The colour and dash pattern of the index-th series of a chart (metrics, query modes):
    distinct for the first 36."""
    return PALETTE[index % len(PALETTE)], DASHES[(index // len(PALETTE)) % len(DASHES)]


def colour_of(name: str) -> str:
    """A model's colour, from its name alone (the first 8 bytes of its SHA-256)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return PALETTE[int.from_bytes(digest[:8], "big") % len(PALETTE)]


def model_styles(names: Iterable[str]) -> dict[str, tuple[str, str, str]]:
    """Name -> (colour, dash, shape). The colour is `colour_of(name)`, the same in every build; the
    names of one colour, in name order, take the dashes and shapes in turn, so that two models of
    a build look alike only when more than six share a colour (their labels still name them)."""
    by_colour: dict[str, list[str]] = defaultdict(list)
    for name in sorted(set(names)):
        by_colour[colour_of(name)].append(name)
    return {name: (colour, DASHES[index % len(DASHES)], SHAPES[index % len(SHAPES)])
            for colour, members in by_colour.items() for index, name in enumerate(members)}


def marker(shape: str, x: float, y: float, radius: float, colour: str, *children: Markup) -> Markup:
    """A point of `shape` (SHAPES, also its class) centred on (x, y), about as large as a circle of `radius`."""
    if shape == "circle":
        return el("circle", *children, cx=_n(x), cy=_n(y), r=_n(radius), fill=colour, class_=shape)
    if shape == "square":
        side = radius * 1.7
        return el("rect", *children, x=_n(x - side / 2), y=_n(y - side / 2), width=_n(side), height=_n(side),
                  fill=colour, class_=shape)
    corners = {"diamond": (4, 90), "triangle": (3, -90), "triangle-down": (3, 90), "hexagon": (6, 0)}[shape]
    size = radius * (1.35 if corners[0] == 3 else 1.2)
    points = [(x + size * math.cos(math.radians(corners[1] + 360 * k / corners[0])),
               y + size * math.sin(math.radians(corners[1] + 360 * k / corners[0]))) for k in range(corners[0])]
    return el("polygon", *children, points=" ".join(f"{_n(px)},{_n(py)}" for px, py in points), fill=colour,
              class_=shape)


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _percent(value: float) -> str:
    return f"{value * 100:.2f}%"


def _tick_percent(value: float) -> str:
    return f"{value * 100:.4g}%"


def _interval_text(interval: tuple[float, float] | None) -> str:
    return f" (95% CI {_percent(interval[0])} to {_percent(interval[1])})" if interval else ""


def nice_max(value: float) -> float:
    """The smallest 'round' axis end >= value on a fraction scale (0.13 -> 0.2)."""
    for step in NICE_STEPS:
        if value <= step + 1e-12:
            return step
    return math.ceil(value)


def spread(wanted: Sequence[float], gap: float, low: float, high: float) -> list[float]:
    """Positions (y, downwards) for labels that want to sit at `wanted`, at least `gap` apart,
    each as near its mark as the others allow (greedy): top to bottom each label is pushed
    below the one before it, then bottom to top back above `high` and the one after it, then
    once more down so that none is above `low` (labels that do not fit run on below `high`)."""
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    ys = [min(max(wanted[i], low), high) for i in order]
    for index in range(1, len(ys)):
        ys[index] = max(ys[index], ys[index - 1] + gap)
    for index in range(len(ys) - 1, -1, -1):
        ys[index] = min(ys[index], high if index == len(ys) - 1 else ys[index + 1] - gap)
    for index in range(len(ys)):
        ys[index] = max(ys[index], low) if index == 0 else max(ys[index], ys[index - 1] + gap)
    placed = [0.0] * len(wanted)
    for rank, index in enumerate(order):
        placed[index] = ys[rank]
    return placed


def _title_lines(title: str, layout: Layout, width: float) -> list[str]:
    """The chart title (bold) wrapped at words to the drawing's width, at most two lines, each
    cut to fit."""
    room = width - 16
    lines: list[str] = []
    for word in title.split(" "):
        if lines and text_width(lines[-1] + " " + word, layout.title, bold=True) <= room:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > 2:
        lines = [lines[0], " ".join(lines[1:])]
    return [fit(line, room, layout.title, bold=True) for line in lines]


def _heading(title: str, layout: Layout, width: float) -> tuple[list[Markup], float]:
    """The chart title's lines and the y below which the chart's content starts."""
    lines = _title_lines(title, layout, width)
    step = layout.title * 1.3
    markup = [el("text", line, x=8, y=_n(18 + step * index), class_="chart-title", font_size=_n(layout.title))
              for index, line in enumerate(lines)]
    return markup, 18 + step * (len(lines) - 1) + 12


def _frame(chart_id: str, title: str, layout: Layout, width: float, height: float, body: list[Markup],
           **attributes) -> Markup:
    title_id = f"{chart_id}-title"
    return el(
        "svg",
        el("title", title, id=title_id),
        *body,
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {_n(width)} {_n(height)}",
        width=_n(width),
        height=_n(height),
        role="img",
        aria_labelledby=title_id,
        class_=f"chart chart-{layout.name}",
        id=chart_id,
        font_size=_n(layout.font),
        **attributes,
    )


def _each_layout(chart_id: str, draw: Callable[[Layout, str], Markup]) -> Markup:
    """The chart drawn once per layout (the wide one keeps `chart_id`); CSS shows one."""
    return el("div", [draw(layout, chart_id if layout is WIDE else f"{chart_id}-{layout.name}")
                      for layout in LAYOUTS], class_="chart-box")


def _legend(series: Sequence[Series], x: float, y: float, width: float, layout: Layout) -> tuple[list[Markup], float]:
    """Colour squares with names, left to right, wrapping; returns the markup and the height used."""
    items, cx, cy = [], x, y
    line = layout.font * 1.5
    for entry in series:
        label = fit(entry.name, min(layout.label_width * 2, width - SWATCH - 4), layout.font)
        span = SWATCH + 4 + text_width(label, layout.font) + 14
        if cx + span > x + width and cx > x:
            cx, cy = x, cy + line
        swatch = el("rect", x=_n(cx), y=_n(cy - layout.font * 0.8), width=10, height=10, fill=entry.color)
        items.append(el("g", swatch, el("text", el("title", entry.name), label, x=_n(cx + SWATCH), y=_n(cy),
                                        class_="legend")))
        cx += span
    return items, (cy - y) + line if series else 0


def _whisker(start: tuple[float, float], end: tuple[float, float], metric: str | None) -> Markup:
    """The 95% interval as a line with end caps across it, from `start` to `end`."""
    (x1, y1), (x2, y2) = start, end
    horizontal = y1 == y2
    caps = [el("line", x1=_n(x - 3 * (not horizontal)), y1=_n(y - 3 * horizontal), x2=_n(x + 3 * (not horizontal)),
               y2=_n(y + 3 * horizontal), class_="ci-cap") for x, y in (start, end)]
    return el("g", el("line", x1=_n(x1), y1=_n(y1), x2=_n(x2), y2=_n(y2), class_="ci", data_metric=metric), caps)


def bar_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series],
              keys: Sequence[str] = ()) -> Markup:
    """Horizontal bars: one group per label, one bar per series; values are fractions
    (shown in percent), None draws no bar and says MISSING; a value's interval is a whisker. With
    `keys` (one per label) each group is a `g` the script can hide and move up, the chart
    shrinking to the groups left."""
    return _each_layout(chart_id, lambda layout, svg_id: _bars(layout, svg_id, title, labels, series, keys))


def _bars(layout: Layout, chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series],
          keys: Sequence[str]) -> Markup:
    width, bar, gap = layout.width, layout.bar, 10.0
    value_room = text_width("100.00%", layout.small) + 8
    # Above the bars, the first tick's label (centred on the axis' start) sets the left margin.
    left, right = ((max(8.0, text_width("0%", layout.font) / 2 + 2), value_room) if layout.labels_above
                   else (290.0, value_room + 12))
    label_height = layout.font * 1.4 if layout.labels_above else 0.0
    group = label_height + bar * len(series) + gap
    values = [v for s in series for v in s.values if v is not None]
    values += [interval[1] for s in series for interval in s.intervals if interval]
    scale_max = nice_max(max(values, default=0.0) or 0.01)
    span = width - left - right
    label_room = width - 16 if layout.labels_above else left - 16

    def x_of(value: float) -> float:
        return left + span * value / scale_max

    body, head = _heading(title, layout, width)
    legend, legend_height = _legend(series, left, head + 10, width - left - 8, layout)
    top = head + 10 + legend_height + 4
    bottom = top + group * len(labels)
    body += legend
    for tick in range(layout.ticks + 1):
        x = x_of(scale_max * tick / layout.ticks)
        body.append(el("line", x1=_n(x), y1=_n(top - 4), x2=_n(x), y2=_n(bottom), class_="grid"))
        body.append(el("text", _tick_percent(scale_max * tick / layout.ticks), x=_n(x), y=_n(bottom + 16),
                       class_="tick", text_anchor="middle"))
    for row, label in enumerate(labels):
        shown = fit(label, label_room, layout.font)
        name = (el("text", el("title", label), shown, x=8, y=_n(layout.font), class_="label")
                if layout.labels_above else
                el("text", el("title", label), shown, x=_n(left - 8), y=_n(group / 2),
                   class_="label", text_anchor="end", dominant_baseline="middle"))
        marks = [name]
        for index, entry in enumerate(series):
            value = entry.values[row]
            interval = entry.intervals[row] if entry.intervals else None
            y = label_height + index * bar
            if value is None:
                marks.append(el("text", MISSING, x=_n(left + 4), y=_n(y + bar - 2), class_="value",
                                font_size=_n(layout.small)))
                continue
            marks.append(el("rect", el("title", f"{label} \u2014 {entry.name}: {_percent(value)}"
                                                f"{_interval_text(interval)}"),
                            x=_n(left), y=_n(y), width=_n(max(x_of(value) - left, 0.5)),
                            height=_n(bar - 1), fill=entry.color))
            end = x_of(value)
            if interval:
                middle = y + (bar - 1) / 2
                marks.append(_whisker((x_of(interval[0]), middle), (x_of(interval[1]), middle), entry.metric))
                end = max(end, x_of(interval[1]))
            marks.append(el("text", _percent(value), x=_n(end + 4), y=_n(y + bar - 2), class_="value",
                            font_size=_n(layout.small)))
        body.append(el("g", marks, transform=f"translate(0 {_n(top + row * group)})",
                       data_entry=keys[row] if keys else None))
    placement = {"data_top": _n(top), "data_group": _n(group)} if keys else {}
    return _frame(chart_id, title, layout, width, bottom + 26, body, **placement)


def _axes(left: float, top: float, size_x: float, size_y: float, x_label: str, y_label: str,
          x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[tuple[float, str]], font: float) -> list[Markup]:
    """Grid lines at the given (position in [0, 1], label) ticks, and the axis titles; the x
    tick labels sit low enough to clear the lowest y tick label beside them."""
    body: list[Markup] = []
    bottom = top + size_y
    for position, label in x_ticks:
        x = left + size_x * position
        body.append(el("line", x1=_n(x), y1=_n(top), x2=_n(x), y2=_n(bottom), class_="grid"))
        body.append(el("text", label, x=_n(x), y=_n(bottom + font * 1.7), class_="tick", text_anchor="middle"))
    for position, label in y_ticks:
        y = bottom - size_y * position
        body.append(el("line", x1=_n(left), y1=_n(y), x2=_n(left + size_x), y2=_n(y), class_="grid"))
        body.append(el("text", label, x=_n(left - 6), y=_n(y), class_="tick", text_anchor="end",
                       dominant_baseline="middle"))
    body.append(el("text", x_label, x=_n(left + size_x / 2), y=_n(bottom + font * 3.2), class_="axis",
                   text_anchor="middle"))
    middle = top + size_y / 2
    body.append(el("text", y_label, x=_n(font), y=_n(middle), class_="axis", text_anchor="middle",
                   dominant_baseline="middle", transform=f"rotate(-90 {_n(font)} {_n(middle)})"))
    return body


def _direct_labels(ends: Sequence[tuple[Series, float, float]], x: float, top: float, bottom: float,
                   layout: Layout, room: float, points: bool = False) -> tuple[list[Markup], float]:
    """Each series' short name in a column at `x`, as near its curve end or point (x, y) as
    the other names allow (`spread` between `top` and `bottom`), joined to it by a thin line in its colour and led by
    a swatch of its colour and dash (with `points`, its point's shape), cut to `room`. Returns the
    markup and the lowest y used."""
    gap = layout.font * 1.35
    placed = spread([y for _, _, y in ends], gap, top, bottom)
    body = []
    for (entry, end_x, end_y), y in zip(ends, placed):
        label = fit(entry.label or entry.name, room, layout.font)
        body.append(el("g",
                       el("line", x1=_n(end_x + 3), y1=_n(end_y), x2=_n(x - 2), y2=_n(y), stroke=entry.color,
                          class_="leader"),
                       marker(entry.shape, x + SWATCH / 2, y, 4, entry.color) if points else
                       el("line", x1=_n(x), y1=_n(y), x2=_n(x + SWATCH), y2=_n(y), stroke=entry.color,
                          stroke_width=2, stroke_dasharray=entry.dash or None),
                       el("text", el("title", entry.name), label, x=_n(x + SWATCH + 4), y=_n(y),
                          dominant_baseline="middle", class_="direct"),
                       data_entry=entry.key))
    return body, max(placed, default=top) + layout.font


def line_chart(chart_id: str, title: str, series: Sequence[Series], x_label: str, y_label: str) -> Markup:
    """Curves on the unit square (x and y in [0, 1]), e.g. precision against recall, each
    named at its end."""
    return _each_layout(chart_id, lambda layout, svg_id: _lines(layout, svg_id, title, series, x_label, y_label))


def _lines(layout: Layout, chart_id: str, title: str, series: Sequence[Series], x_label: str,
           y_label: str) -> Markup:
    width, left = layout.panel, layout.left
    column, room = layout.column(series, layout.label_width)
    size_x, size_y = width - left - 10 - column, layout.plot
    body, top = _heading(title, layout, width)
    top += layout.font / 2
    ticks = [(t / layout.ticks, f"{t / layout.ticks:g}") for t in range(layout.ticks + 1)]
    body += _axes(left, top, size_x, size_y, x_label, y_label, ticks, ticks, layout.font)

    def position(x: float, y: float) -> tuple[float, float]:
        return left + size_x * x, top + size_y * (1 - y)

    ends = []
    for entry in series:
        points = [position(x, y) for x, y in entry.points]
        body.append(el("polyline", el("title", entry.name), points=" ".join(f"{_n(x)},{_n(y)}" for x, y in points),
                       fill="none", stroke=entry.color, stroke_width=2, stroke_dasharray=entry.dash or None,
                       class_="curve", data_entry=entry.key))
        if points:
            ends.append((entry, *points[-1]))
    labels, lowest = _direct_labels(ends, left + size_x + 10, top, top + size_y, layout, room)
    body += labels
    return _frame(chart_id, title, layout, width, max(top + size_y + layout.font * 3.8, lowest + 6), body)


def scatter_chart(chart_id: str, title: str, series: Sequence[Series], x_label: str, y_label: str) -> Markup:
    """Points with a log10 x axis (e.g. parameter count) and a fraction y axis (percent), each
    named in a column at the right; a point's interval is a vertical whisker."""
    return _each_layout(chart_id, lambda layout, svg_id: _scatter(layout, svg_id, title, series, x_label, y_label))


def _scatter(layout: Layout, chart_id: str, title: str, series: Sequence[Series], x_label: str,
             y_label: str) -> Markup:
    width, left = layout.width, layout.left
    column, room = layout.column(series, layout.wide_label_width)
    size_x, size_y = width - left - 10 - column, layout.plot
    points = [p for entry in series for p in entry.points]
    highs = [interval[1] for entry in series for interval in entry.intervals if interval]
    low = math.floor(math.log10(min(x for x, _ in points)))
    high = max(math.ceil(math.log10(max(x for x, _ in points))), low + 1)
    step = max(math.ceil((high - low) / (layout.ticks * 2)), 1)  # at most twice the value ticks
    high = low + step * math.ceil((high - low) / step)
    y_max = nice_max(max([y for _, y in points] + highs) or 0.01)
    body, top = _heading(title, layout, width)
    top += layout.font / 2

    def position(x: float, y: float) -> tuple[float, float]:
        return (left + size_x * (math.log10(x) - low) / (high - low), top + size_y * (1 - y / y_max))

    x_ticks = [((e - low) / (high - low), _power_label(e)) for e in range(low, high + 1, step)]
    y_ticks = [(t / layout.ticks, _tick_percent(y_max * t / layout.ticks)) for t in range(layout.ticks + 1)]
    body += _axes(left, top, size_x, size_y, x_label, y_label, x_ticks, y_ticks, layout.font)
    ends = []
    for entry in series:
        for index, (x, y) in enumerate(entry.points):
            cx, cy = position(x, y)
            interval = entry.intervals[index] if entry.intervals else None
            whisker = interval and _whisker(position(x, interval[0]), position(x, interval[1]), entry.metric)
            title = el("title", f"{entry.name}: {_percent(y)}{_interval_text(interval)} at {x:,.0f} parameters")
            body.append(el("g", whisker, marker(entry.shape, cx, cy, 5, entry.color, title), data_entry=entry.key))
            ends.append((entry, cx + 3, cy))
    labels, lowest = _direct_labels(ends, left + size_x + 10, top, top + size_y, layout, room, points=True)
    body += labels
    return _frame(chart_id, title, layout, width, max(top + size_y + layout.font * 3.8, lowest + 6), body)


def _power_label(exponent: int) -> str:
    """10**exponent as people write parameter counts: 1K, 100M, 10B."""
    suffixes = {1: "K", 2: "M", 3: "B", 4: "T"}
    if exponent // 3 not in suffixes:
        return f"1e{exponent}"
    return f"{10 ** (exponent % 3)}{suffixes[exponent // 3]}"


def no_data(text: str) -> Markup:
    """What a chart slot shows when there is nothing to plot."""
    return el("p", text, class_="no-data")


def stack(charts: Sequence[Markup]) -> Markup:
    return el("div", join(charts), class_="charts")
