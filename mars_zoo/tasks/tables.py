"""What `mars-zoo run` prints of a task's section: one table, as data (the command line prints
it to fit the terminal). Each column says how much it is needed: `None` never leaves the table
(a task's headline metric), a lower number leaves before a higher one on a narrow terminal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from rich.markup import escape

TEXT, NUMBER = "left", "right"  # how a column's cells are justified


@dataclass(frozen=True)
class Summary:
    """A table: its title, its columns as (header, priority, justification), its rows of cells
    in rich markup (values escaped), and an optional caption."""

    title: str
    columns: Sequence[tuple[str, int | None, str]]
    rows: Sequence[Sequence[str]]
    caption: str | None = None


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _flat(metrics: dict[str, Any]) -> dict[str, Any]:
    """{'t2i.r1': value, 'map': value}: a section's metrics by their declared names."""
    return {f"{name}.{key}" if isinstance(value, dict) else name: inner
            for name, value in metrics.items()
            for key, inner in (value.items() if isinstance(value, dict) else [(None, value)])}


def declared_summary(section: dict[str, Any]) -> Summary:
    """The table of a task that prints none of its own: each metric it declares, with the
    direction that is better, as the section states it."""
    declaration, values = section["declaration"], _flat(section["metrics"])
    rows = [[escape(name), direction, escape(str(values.get(name, "-")))]
            for name, direction in declaration["metrics"].items()]
    return Summary(escape(f"{declaration['title']} ({declaration['name']})"),
                   (("metric", None, TEXT), ("better", 1, TEXT), ("value", None, NUMBER)), rows)
