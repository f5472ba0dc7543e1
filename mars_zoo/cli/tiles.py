"""`mars-zoo tiles build`: cut the CTX mosaic into the geo-localization gallery."""

from __future__ import annotations

import argparse
import os

from mars_zoo.cli.commands import add_command, add_group
from mars_zoo.cli.options import MAX_COUNT, MAX_TILE_PX, MAX_WORKERS, absolute_path, int_between
from mars_zoo.data.specs import TILE_SHARD_SIZE
from mars_zoo.core.protocol import GEO_TILE_WIDTH_PX
from mars_zoo.core.reporting import RichReporter


def register(subparsers) -> None:
    commands = add_group(subparsers, "tiles", "build the task 3 tile gallery",
                         "Commands for the task 3 gallery of CTX mosaic tiles.")
    build = add_command(commands, "build", run_build)
    build.add_argument("--ctx", type=absolute_path, required=True, metavar="DIR",
                       help="folder with the mosaic GeoTIFFs (searched recursively)")
    build.add_argument("--out", type=absolute_path, required=True, metavar="DIR",
                       help="output folder for the shards (build state goes to DIR/.build)")
    build.add_argument("--tile-px", type=int_between(1, MAX_TILE_PX), default=GEO_TILE_WIDTH_PX, metavar="N",
                       help=f"tile width in pixels (default {GEO_TILE_WIDTH_PX}, the benchmark's)")
    build.add_argument("--shard-size", type=int_between(1, MAX_COUNT), default=TILE_SHARD_SIZE, metavar="N",
                       help=f"tiles per tar shard (default {TILE_SHARD_SIZE})")
    build.add_argument("--workers", type=int_between(1, MAX_WORKERS), default=os.cpu_count() or 1, metavar="N",
                       help="source files rendered in parallel (default: the number of CPUs)")


def run_build(args: argparse.Namespace) -> int:
    """cut CTX mosaic GeoTIFFs into 0.2° tiles in tar shards

    Cut the Murray Lab CTX mosaic GeoTIFFs under --ctx into 0.2° x 0.2° tiles named by their
    lower-left corner, skipping tiles outside -80..80° latitude (tiles without data are kept, as in
    the published gallery), and write them as tar shards (tiles-000000.tar, ...) with tiles.json to
    --out. A killed build resumes where it stopped; rerunning a finished build does nothing.
    """
    from mars_zoo.data.ctx_tiles import build_tiles

    reporter = RichReporter()
    report = build_tiles(args.ctx, args.out, tile_px=args.tile_px, shard_size=args.shard_size,
                         workers=args.workers, reporter=reporter)
    reporter.info(
        f"{report.tiles} tiles ({report.empty} of them without data) in {report.shards} shards "
        f"in {args.out} from {report.sources} source files ({report.rendered_sources} rendered "
        f"now, {report.shards_written} shards written now); skipped {report.skipped_polar} "
        f"tiles beyond ±80° latitude"
        + (f"; dropped {report.duplicates} duplicate tiles" if report.duplicates else "")
        + "."
    )
    return 0
