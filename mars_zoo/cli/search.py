"""`mars-zoo search MODEL "QUERY"`: find tiles of the gallery in words or by example, on a map."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from rich.markup import escape

from mars_zoo.cli.commands import add_command
from mars_zoo.cli.terminal_table import Column, print_table
from mars_zoo.cli.leaderboard import DEFAULT_SITE
from mars_zoo.cli.options import (
    MAX_COUNT, absolute_path, add_data_options, add_embedding_options, add_plugins_dir_option, int_between,
    settings_values,
)
from mars_zoo.core.protocol import GEO_LANDFORMS, GEO_QUERY_MODES
from mars_zoo.core.reporting import RichReporter, console, printable

SHOWN_IN_TERMINAL = 10


# The hits table; where the terminal is narrow, the coordinates go before the score.
HIT_COLUMNS = (Column("rank", justify="right"), Column("tile"), Column("lon", priority=1, justify="right"),
               Column("lat", priority=1, justify="right"), Column("score", priority=2, justify="right"))


def register(subparsers) -> None:
    parser = add_command(subparsers, "search", search_command, epilog='Example: mars-zoo search openclip/tiny-random "pitted cones" --benchmark mini --out hits/')
    parser.add_argument("model", help="model name as shown by 'mars-zoo list'")
    parser.add_argument("query", nargs="?", default=None,
                        help="what to look for, in words (e.g. \"alluvial fans\"); optional with --image")
    parser.add_argument("--image", dest="images", type=absolute_path, action="append", default=[], metavar="FILE",
                        help="an example image of what to look for; repeatable")
    parser.add_argument("--mode", choices=GEO_QUERY_MODES, default=None,
                        help="text, image or hybrid (default: hybrid with a query and images, else whichever was given)")
    parser.add_argument("--k", type=int_between(1, MAX_COUNT), default=100, help="how many tiles to return; default: %(default)s")
    parser.add_argument("--landform", choices=GEO_LANDFORMS, default=None,
                        help="compare the hits with this landform's catalogue (default: the landform the query names, if any)")
    parser.add_argument("--out", type=absolute_path, default=None, metavar="DIR",
                        help="folder for search.html, hits.csv and hits.geojson (default: mars-zoo-search/<query>)")
    parser.add_argument("--thumbnails", type=int_between(0, 1000), default=24,
                        help="how many of the best tiles the page shows as pictures; default: %(default)s")
    parser.add_argument("--leaderboard", default=str(DEFAULT_SITE), metavar="DIR_OR_URL",
                        help="the leaderboard the page links back to: a site folder built by 'mars-zoo leaderboard "
                             "build' (linked relative to --out) or an http(s) address; default: %(default)s")
    parser.add_argument("--json", action="store_true", help="print the hits as JSON on stdout (progress stays on stderr)")
    add_data_options(parser)
    add_embedding_options(parser)
    add_plugins_dir_option(parser)


def default_out(query: str | None, images: list[Path]) -> Path:
    from mars_zoo.core.safe_paths import path_under

    words = query or (images[0].stem if images else "search")
    slug = re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")[:60] or "search"
    return path_under(Path("mars-zoo-search"), slug, field="the search's default folder",
                      fix="name the folder with --out").absolute()


def search_command(args: argparse.Namespace) -> int:
    """search the tile gallery in words or with example images

    Rank every tile of the geo-localization gallery against a query, built as task 3 builds its
    queries: the prompt ensemble over QUERY (text), the mean of the example images (image), or task
    3's hybrid of both. Gallery embeddings come from the same cache as 'mars-zoo run', so a model
    evaluated once searches for free. Writes a self-contained map page (search.html), hits.csv and
    hits.geojson into --out; --json prints the hits.
    """
    from mars_zoo.discover.outputs import write_outputs
    from mars_zoo.discover.searcher import SearchConfig, run_search
    from mars_zoo.models.registry import load_registry

    config = SearchConfig(
        model=args.model,
        text=args.query,
        images=tuple(args.images),
        mode=args.mode,
        k=args.k,
        landform=args.landform,
        **settings_values(args),
    )
    out = args.out or default_out(args.query, args.images)
    reporter = RichReporter()
    result = run_search(config, load_registry(args.plugins_dir, reporter), reporter)
    written = write_outputs(result, out, args.thumbnails, args.leaderboard)
    if args.json:
        print(json.dumps({**result.summary(), "files": {name: str(path) for name, path in written.items()}}))
        return 0
    _print_hits(result)
    console.print(f"[green]map page:[/] {escape(str(written['search.html']))}")
    console.print(f"[green]tables:[/] {escape(str(written['hits.csv']))}, {escape(str(written['hits.geojson']))}")
    return 0


def _print_hits(result) -> None:
    rows = [[str(hit.rank), escape(printable(hit.tile)), f"{hit.lon:g}", f"{hit.lat:g}", f"{hit.score:.4f}"]
            for hit in result.hits[:SHOWN_IN_TERMINAL]]
    print_table(console, f"best {min(SHOWN_IN_TERMINAL, len(result.hits))} of {len(result.hits)} hits "
                f"({result.gallery_size:,} tiles searched, mode {result.query['mode']})", HIT_COLUMNS, rows,
                wide_hint="hits.csv has every column")
    if result.coverage:
        c = result.coverage
        console.print(f"against the {escape(c.landform)} catalogue ({c.points} points): precision {c.precision:.3f}, "
                      f"recall {c.recall:.3f}")
    if result.synthetic:
        console.print("[yellow]synthetic gallery (mini benchmark): these hits say nothing about Mars[/]")
