"""Small static SVG charts, drawn at build time and inlined into the pages.

Three shapes cover the leaderboard: horizontal grouped bars (scores per model), lines on the
unit square (precision-recall curves) and a scatter with a log x axis (score vs parameters).
Coordinates are rounded to 0.1 px so the output is byte-stable; colours come from a fixed
palette; styling is by presentation attributes and CSS classes (the site's Content Security
Policy forbids inline styles). All text goes through `el`, so labels are escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from mars_zoo.leaderboard.html import Markup, el, join

# Colours told apart with the common colour-vision deficiencies (after Okabe and Ito, the yellow
# and orange darkened), each at least 3:1 against the white chart background. After six
# models the colours come back with a dash pattern, so no two curves of a chart look alike.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#aa3377", "#8c6d00", "#333333")
DASHES = ("", "6 3", "2 3", "8 3 2 3")
LABEL_CHARS = 40
NICE_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Series:
    """One named, coloured set of values: bar lengths, curve points or scatter points."""

    name: str
    color: str
    values: Sequence[float | None] = ()
    points: Sequence[tuple[float, float]] = ()
    key: str | None = None  # the result it shows (an `Entry.key`), so the filters can hide it
    dash: str = ""  # stroke-dasharray of its curve; empty for a solid line


def style(index: int) -> tuple[str, str]:
    """The colour and dash pattern of the index-th series: distinct for the first 24."""
    return PALETTE[index % len(PALETTE)], DASHES[(index // len(PALETTE)) % len(DASHES)]


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "\u2026"


def _percent(value: float) -> str:
    return f"{value * 100:.2f}%"


def _tick_percent(value: float) -> str:
    return f"{value * 100:.4g}%"


def nice_max(value: float) -> float:
    """The smallest 'round' axis end >= value on a fraction scale (0.13 -> 0.2)."""
    for step in NICE_STEPS:
        if value <= step + 1e-12:
            return step
    return math.ceil(value)


def _frame(chart_id: str, title: str, width: float, height: float, body: list[Markup], **attributes) -> Markup:
    title_id = f"{chart_id}-title"
    return el(
        "svg",
        el("title", title, id=title_id),
        el("text", title, x=8, y=18, class_="chart-title"),
        *body,
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {_n(width)} {_n(height)}",
        width=_n(width),
        height=_n(height),
        role="img",
        aria_labelledby=title_id,
        class_="chart",
        id=chart_id,
        **attributes,
    )


def _legend(series: Sequence[Series], x: float, y: float, width: float,
            lines: bool = False) -> tuple[list[Markup], float]:
    """Swatches (short lines with the series' dash, for curves) laid out left to right,
    wrapping; returns the markup and the height used."""
    items, cx, cy = [], x, y
    for entry in series:
        label = _short(entry.name)
        span = 18 + 6.5 * len(label) + 14
        if cx + span > x + width and cx > x:
            cx, cy = x, cy + 16
        swatch = (el("line", x1=_n(cx), y1=_n(cy - 4), x2=_n(cx + 12), y2=_n(cy - 4), stroke=entry.color,
                     stroke_width=2, stroke_dasharray=entry.dash or None) if lines
                  else el("rect", x=_n(cx), y=_n(cy - 9), width=10, height=10, fill=entry.color))
        items.append(el("g", swatch,
                        el("text", el("title", entry.name), label, x=_n(cx + 14), y=_n(cy), class_="legend"),
                        data_entry=entry.key))
        cx += span
    return items, (cy - y) + 16 if series else 0


def bar_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series],
              keys: Sequence[str] = ()) -> Markup:
    """Horizontal bars: one group per label, one bar per series; values are fractions
    (shown in percent), None draws no bar and says n/a. With `keys` (one per label) each
    group is a `g` the script can hide and move up, the chart shrinking to the groups left."""
    width, left, right = 800.0, 290.0, 70.0
    bar, gap = 12.0, 10.0
    legend, legend_height = _legend(series, left, 40, width - left - right)
    top = 40 + legend_height + 4
    group = bar * len(series) + gap
    plot_height = group * len(labels)
    height = top + plot_height + 26
    values = [v for s in series for v in s.values if v is not None]
    scale_max = nice_max(max(values, default=0.0) or 0.01)
    span = width - left - right

    def x_of(value: float) -> float:
        return left + span * value / scale_max

    body: list[Markup] = list(legend)
    for tick in range(5):
        value = scale_max * tick / 4
        x = x_of(value)
        body.append(el("line", x1=_n(x), y1=_n(top - 4), x2=_n(x), y2=_n(top + plot_height), class_="grid"))
        body.append(el("text", _tick_percent(value), x=_n(x), y=_n(top + plot_height + 16),
                       class_="tick", text_anchor="middle"))
    for row, label in enumerate(labels):
        y0 = top + row * group
        marks = [el("text", el("title", label), _short(label), x=_n(left - 8), y=_n(group / 2), class_="label",
                    text_anchor="end", dominant_baseline="middle")]
        for index, entry in enumerate(series):
            value = entry.values[row]
            y = index * bar
            if value is None:
                marks.append(el("text", "n/a", x=_n(left + 4), y=_n(y + bar - 2), class_="value"))
                continue
            marks.append(el("rect", el("title", f"{label} \u2014 {entry.name}: {_percent(value)}"),
                            x=_n(left), y=_n(y), width=_n(max(x_of(value) - left, 0.5)),
                            height=_n(bar - 1), fill=entry.color))
            marks.append(el("text", _percent(value), x=_n(x_of(value) + 4), y=_n(y + bar - 2), class_="value"))
        body.append(el("g", marks, transform=f"translate(0 {_n(y0)})", data_entry=keys[row] if keys else None))
    layout = {"data_top": _n(top), "data_group": _n(group)} if keys else {}
    return _frame(chart_id, title, width, height, body, **layout)


def _axes(left: float, top: float, size_x: float, size_y: float, x_label: str, y_label: str,
          x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[tuple[float, str]]) -> list[Markup]:
    """Grid lines at the given (position in [0, 1], label) ticks, and the axis titles."""
    body: list[Markup] = []
    bottom = top + size_y
    for position, label in x_ticks:
        x = left + size_x * position
        body.append(el("line", x1=_n(x), y1=_n(top), x2=_n(x), y2=_n(bottom), class_="grid"))
        body.append(el("text", label, x=_n(x), y=_n(bottom + 14), class_="tick", text_anchor="middle"))
    for position, label in y_ticks:
        y = bottom - size_y * position
        body.append(el("line", x1=_n(left), y1=_n(y), x2=_n(left + size_x), y2=_n(y), class_="grid"))
        body.append(el("text", label, x=_n(left - 6), y=_n(y + 4), class_="tick", text_anchor="end"))
    body.append(el("text", x_label, x=_n(left + size_x / 2), y=_n(bottom + 30), class_="axis",
                   text_anchor="middle"))
    body.append(el("text", y_label, x=_n(12), y=_n(top + size_y / 2), class_="axis", text_anchor="middle",
                   transform=f"rotate(-90 12 {_n(top + size_y / 2)})"))
    return body


def line_chart(chart_id: str, title: str, series: Sequence[Series], x_label: str, y_label: str) -> Markup:
    """Curves on the unit square (x and y in [0, 1]), e.g. precision against recall."""
    width, left, top, size = 340.0, 46.0, 30.0, 260.0
    ticks = [(t / 4, f"{t / 4:g}") for t in range(5)]
    body = _axes(left, top, size, size, x_label, y_label, ticks, ticks)
    for entry in series:
        points = " ".join(f"{_n(left + size * x)},{_n(top + size * (1 - y))}" for x, y in entry.points)
        body.append(el("polyline", el("title", entry.name), points=points, fill="none",
                       stroke=entry.color, stroke_width=2, stroke_dasharray=entry.dash or None, class_="curve",
                       data_entry=entry.key))
    legend, legend_height = _legend(series, 8, top + size + 50, width - 16, lines=True)
    body += legend
    return _frame(chart_id, title, width, top + size + 44 + legend_height, body)


def scatter_chart(chart_id: str, title: str, series: Sequence[Series], x_label: str, y_label: str) -> Markup:
    """Points with a log10 x axis (e.g. parameter count) and a fraction y axis (percent)."""
    width, left, top, size_x, size_y = 900.0, 60.0, 30.0, 560.0, 260.0  # room for labels on the right
    points = [p for entry in series for p in entry.points]
    low = math.floor(math.log10(min(x for x, _ in points)))
    high = max(math.ceil(math.log10(max(x for x, _ in points))), low + 1)
    y_max = nice_max(max(y for _, y in points) or 0.01)

    def position(x: float, y: float) -> tuple[float, float]:
        return (left + size_x * (math.log10(x) - low) / (high - low), top + size_y * (1 - y / y_max))

    x_ticks = [((e - low) / (high - low), _power_label(e)) for e in range(low, high + 1)]
    y_ticks = [(t / 4, _tick_percent(y_max * t / 4)) for t in range(5)]
    body = _axes(left, top, size_x, size_y, x_label, y_label, x_ticks, y_ticks)
    for entry in series:
        for x, y in entry.points:
            cx, cy = position(x, y)
            body.append(el("g", el("circle", el("title", f"{entry.name}: {_percent(y)} at {x:,.0f} parameters"),
                                    cx=_n(cx), cy=_n(cy), r=5, fill=entry.color),
                           el("text", _short(entry.name), x=_n(cx + 8), y=_n(cy + 4), class_="value"),
                           data_entry=entry.key))
    return _frame(chart_id, title, width, top + size_y + 44, body)


def _power_label(exponent: int) -> str:
    names = {3: "1K", 6: "1M", 9: "1B", 12: "1T"}
    return names.get(exponent, f"1e{exponent}")


def no_data(text: str) -> Markup:
    """What a chart slot shows when there is nothing to plot."""
    return el("p", text, class_="no-data")


def stack(charts: Sequence[Markup]) -> Markup:
    return el("div", join(charts), class_="charts")
