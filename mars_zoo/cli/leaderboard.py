"""`mars-zoo leaderboard build|serve`: the static leaderboard site."""

from __future__ import annotations

import argparse
from pathlib import Path

from mars_zoo.cli.commands import add_command, add_group
from mars_zoo.cli.options import int_between

DEFAULT_SUBMISSIONS = Path("submissions")
DEFAULT_SITE = Path("leaderboard/site")


def register(subparsers) -> None:
    commands = add_group(subparsers, "leaderboard", "build or serve the static leaderboard",
                         "Build the static leaderboard from result files, or serve a built one locally.")

    build = add_command(commands, "build", run_build)
    build.add_argument("--submissions", type=Path, default=DEFAULT_SUBMISSIONS, metavar="DIR",
                       help=f"submissions folder (default: {DEFAULT_SUBMISSIONS})")
    build.add_argument("--include", type=Path, action="extend", nargs="+", default=[], metavar="FILE",
                       help="also show these result files, e.g. a local mini run; synthetic "
                       "results are shown apart, marked SYNTHETIC, never ranked")
    build.add_argument("--out", type=Path, default=DEFAULT_SITE, metavar="DIR",
                       help=f"output folder, replaced as a whole (default: {DEFAULT_SITE})")

    serve = add_command(commands, "serve", run_serve)
    serve.add_argument("--dir", type=Path, default=DEFAULT_SITE, metavar="DIR",
                       help=f"built site (default: {DEFAULT_SITE})")
    serve.add_argument("--port", type=int_between(0, 65535), default=8000, metavar="N",
                       help="port (default: 8000; 0 picks a free one)")


def run_build(args: argparse.Namespace) -> int:
    """build the site from submissions

    Validate every result file and write the static site: HTML pages with the tables pre-rendered,
    SVG plots, JSON and CSV downloads. Reads only JSON (never plugin code); the output is
    byte-identical for the same inputs and works from file://.
    """
    from mars_zoo.leaderboard.build import build_site
    from mars_zoo.core.reporting import RichReporter

    build_site(args.submissions, args.out, include=args.include, reporter=RichReporter())
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """serve a built site on 127.0.0.1

    Serve a built site with Python's http.server on 127.0.0.1 (loopback only).
    """
    from mars_zoo.leaderboard.serve import serve
    from mars_zoo.core.reporting import RichReporter

    serve(args.dir, args.port, reporter=RichReporter())
    return 0
