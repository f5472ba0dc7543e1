"""How a command joins the `mars-zoo` parser: one call, its words taken from its handler.

A command's handler is the function that runs it, and its docstring is the command's help,
as click reads it: the first line is the summary `mars-zoo --help` lists, the rest is the
description the command's own `--help` prints (argparse rewraps it to the terminal). So a
command's words are written once, beside the code that does what they say, and every
command and command group is added the same way.
"""

from __future__ import annotations

import argparse
import inspect
from typing import Callable

Handler = Callable[[argparse.Namespace], int]


def add_command(subparsers, name: str, handler: Handler, **options) -> argparse.ArgumentParser:
    """Add command `name`, run by `handler` (which returns the exit code); `options` go to
    argparse (e.g. an epilog). Returns the command's parser, for its arguments."""
    doc = inspect.getdoc(handler)
    if not doc:
        raise TypeError(f"command {name!r}: its handler {handler.__qualname__} needs a docstring, its help")
    summary, _, description = doc.partition("\n\n")
    parser = subparsers.add_parser(name, help=summary, description=description or _sentence(summary), **options)
    parser.set_defaults(handler=handler)
    return parser


def add_group(subparsers, name: str, summary: str, description: str | None = None, metavar: str = "SUBCOMMAND"):
    """Add command group `name` (`mars-zoo data download`, ...); its commands are added to
    what this returns, with `add_command`. `metavar` names them in the usage line."""
    group = subparsers.add_parser(name, help=summary, description=description or _sentence(summary))
    return group.add_subparsers(dest=f"{name}_command", metavar=metavar, required=True)


def _sentence(summary: str) -> str:
    return summary[0].upper() + summary[1:] + "."
