"""Tables that fit the terminal: the one way every command prints a table.

A table that does not fit is worse than a shorter one: rich squeezes every column until
numbers, model names and paths break across lines ("21" / ".1" / "8"). So each column says
how much it is needed, and columns are dropped, least needed first, until what remains fits
the console's width without breaking a value; a line under the table names what was left out
and how to see it. Only prose columns (descriptions, details) wrap, and only at spaces.
`--wide` (where a command offers it) keeps every column and lets rich fold what must.

Free of model libraries, like the rest of the CLI's front end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

ALWAYS = None  # the priority of a column that is never dropped


@dataclass(frozen=True)
class Column:
    """One column: `priority` ranks how much it is needed (columns of the lowest priority are
    dropped first; `ALWAYS` never); `prose` lets its cells wrap at spaces, any other cell is
    printed whole or not at all."""

    header: str
    priority: int | None = ALWAYS
    prose: bool = False
    justify: str = "left"


def _table(title: str, columns: Sequence[Column], caption: str | None, fold: bool) -> Table:
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  collapse_padding=True, title_justify="left", caption_justify="left")
    for column in columns:
        whole = not column.prose and not fold
        table.add_column(escape(column.header), justify=column.justify, no_wrap=whole, overflow="fold")
    return table


def _narrowest(column: Column, cells: Sequence[str]) -> int:
    """The fewest terminal cells `column` takes without breaking a value (a prose cell: its
    longest word)."""
    texts = [column.header, *(Text.from_markup(cell).plain for cell in cells)]
    if column.prose:
        return max(cell_len(word) for text in texts for word in text.split() or [""])
    return max(cell_len(line) for text in texts for line in text.splitlines() or [""])


def fitted_columns(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """The indices of the columns kept: the least needed dropped, one at a time, until the
    table's narrowest rendering without a broken value fits `width`."""
    narrowest = [_narrowest(column, [row[i] for row in rows]) for i, column in enumerate(columns)]
    kept = list(range(len(columns)))
    droppable = sorted((i for i, c in enumerate(columns) if c.priority is not ALWAYS),
                       key=lambda i: (columns[i].priority, -i))
    # Neighbouring columns are two cells apart (a padding cell and box.SIMPLE_HEAD's blank
    # divider; paddings collapse, edges are neither drawn nor padded).
    while sum(narrowest[i] for i in kept) + 2 * (len(kept) - 1) > width and droppable:
        kept.remove(droppable.pop(0))
    return kept


def print_table(console: Console, title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]], *,
                sections: Sequence[int] = (), caption: str | None = None, wide: bool = False,
                wide_hint: str = "widen the terminal") -> list[str]:
    """Print `rows` (cells in rich markup, values escaped by the caller) under `title`, with a
    section line before each row index in `sections`; return the headers left out."""
    kept = list(range(len(columns))) if wide else fitted_columns(columns, rows, console.width)
    table = _table(title, [columns[i] for i in kept], caption, fold=wide)
    for index, row in enumerate(rows):
        if index in sections:
            table.add_section()
        table.add_row(*(row[i] for i in kept))
    console.print(table)
    hidden = [columns[i].header for i in range(len(columns)) if i not in kept]
    if hidden:
        console.print(f"[dim]not shown at {console.width} columns: {escape(', '.join(hidden))} "
                      f"({escape(wide_hint)})[/]")
    return hidden
