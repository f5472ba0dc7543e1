"""The one place that talks to the terminal below the CLI.

Library code reports progress through a `Reporter`; the CLI passes a rich-backed
one, tests and library users get the silent default. Nothing else prints.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console()
console_err = Console(stderr=True)


def printable(text: str) -> str:
    """`text` with every unprintable character (newline, escape, bidi control, undecodable
    byte) written as its Python escape, so that a file or model name shown in a message can
    neither forge lines nor colour the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)

def print_paragraph(target: Console, markup: str) -> None:
    """One paragraph of rich markup: wrapped at spaces to a terminal's width (a word longer
    than the width folds), one line where the output is a file or a pipe, so that a log keeps
    each message whole on the line a search finds it."""
    target.print(markup, highlight=False, soft_wrap=not target.is_terminal)


Advance = Callable[[int], None]


class Reporter:
    """Silent reporter: the default for library use and tests."""

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Advance]:
        yield lambda n=1: None

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


class RichReporter(Reporter):
    """Progress bars and messages on stderr, so stdout stays clean for --json."""

    def __init__(self, console: Console = console_err) -> None:
        self.console = console

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Advance]:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n=1: bar.advance(task, n)

    def info(self, message: str) -> None:
        # Messages carry names from plugins, data and paths: never read them as markup.
        self.console.print(message, markup=False, highlight=False)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)
