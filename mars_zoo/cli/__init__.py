"""The `mars-zoo` command line.

Each command group lives in its own module of this package and exposes
`register(subparsers)`, which adds its commands with `mars_zoo.cli.commands.add_command`:
a command is run by a handler, a function taking the parsed arguments and returning an
exit code, whose docstring is the command's help. Command modules import heavy libraries
only inside their handlers, so `--help` and `list` stay fast.

May import: core, schema, data, models, embedding, scoring, tasks, results, pipeline, leaderboard, discover, adapt
"""

from __future__ import annotations

import argparse
import os
import sys

from mars_zoo import __version__
from mars_zoo.cli import (
    check, contamination, data, finetune, leaderboard, models, mteb, run, search, tiles, validate,
)
from mars_zoo.embedding.distributed import report_failure
from mars_zoo.core.errors import MarsZooError, RanksLost
from rich.markup import escape

from mars_zoo.core.reporting import console_err, print_paragraph

COMMAND_MODULES = (models, run, check, search, data, tiles, validate, leaderboard, mteb, contamination, finetune)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mars-zoo",
        description=(
            "Evaluate vision-language embedding models on MarsRetrieval (paired image-text "
            "retrieval, landform retrieval, global geo-localization), write validated result "
            "files, and build the leaderboard."
        ),
        epilog="Run 'mars-zoo COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"mars-zoo {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


BUG_EXIT_CODE = 70  # EX_SOFTWARE: mars-zoo itself failed
DEBUG_ENV = "MARS_ZOO_DEBUG"  # set to 1 to see the traceback of an unexpected error


def _error(message: str) -> None:
    print_paragraph(console_err, f"[bold red]error:[/] {escape(message)}")


def _fail(message: str, code: int, lost: bool = False) -> int:
    """Say why the command failed, and return its exit code; a rank started by
    `mars-zoo run --nproc` leaves saying it to its launcher (see mars_zoo.embedding.distributed)."""
    if not report_failure(message, code, lost):
        _error(message)
    return code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what a relaunch repeats
    try:
        return args.handler(args)
    except MarsZooError as exc:
        return _fail(str(exc), exc.exit_code, isinstance(exc, RanksLost))
    except KeyboardInterrupt:
        console_err.print("[yellow]interrupted[/]")
        return 130
    except BrokenPipeError:  # e.g. `mars-zoo list --json | head`: the reader left, nothing to say
        return 141
    except Exception as exc:  # the safety net: a bug, said in one paragraph, not a traceback
        if os.environ.get(DEBUG_ENV):
            raise
        detail = " ".join(str(exc).split())[:300]
        return _fail(
            f"mars-zoo {args.command} failed unexpectedly ({type(exc).__name__}: {detail}). This is a "
            f"bug in mars-zoo, please report it with the command you ran; rerun with {DEBUG_ENV}=1 "
            f"to see the traceback.", BUG_EXIT_CODE
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
