"""Indexing a tar-shard tile gallery, cold and from the cache, against a bare pass.

    python benchmarks/bench_gallery_index.py [--sizes 300000,1400000] [--repeats 3] [--dir /tmp]

For each size, writes a synthetic gallery (the same tiny PNG under every tile name, shards
of 1,000 tiles as the real gallery has) into a temporary folder, then times, medians of
`--repeats`:

- building the index (`gallery_index.build_index`: every member header, names checked
  against the tile rule and for duplicates, coordinates);
- a bare pass over the same shards: `os.scandir`, one `os.pread` per 512-byte header, the
  tile-name regex on each name, nothing kept but the count (target: build at most 2x this);
- opening the gallery as a run does when it was indexed before (`read_tile_gallery` with
  the cache filled: the cached index, the completeness check and the gallery's revision;
  target under 2 s at 1.4M tiles).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from mars_zoo.data import gallery_index, hub_format
from mars_zoo.data.tile_gallery import _placed_tiles, read_tile_gallery
from mars_zoo.data.tile_names import tile_name
from mars_zoo.reporting import Reporter

_NAME = re.compile(rb"^E(_?)(\d+)_(\d)_N(_?)(\d+)_(\d)\.png$")


def write_gallery(folder: Path, tiles: int) -> list[Path]:
    png = hub_format.encode_image(np.zeros((4, 4), np.uint8))
    names = (tile_name(-180 + (i % 3600) / 10, -90 + (i // 3600) / 10) for i in range(tiles))
    return hub_format.write_tile_shards(folder, ((name, png) for name in names), shard_size=1000)


def bare_pass(folder: Path) -> int:
    count = 0
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not entry.name.endswith(".tar"):
            continue
        fd = os.open(entry.path, os.O_RDONLY)
        position = 0
        while True:
            header = os.pread(fd, 512, position)
            if len(header) < 512 or not header[0]:
                break
            size = int(header[124:135], 8)
            count += _NAME.match(header[:100].rstrip(b"\0")) is not None
            position += 512 + -(-size // 512) * 512
        os.close(fd)
    return count


def median_seconds(function, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300000,1400000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args(argv)
    print(f"medians of {args.repeats} runs, {os.cpu_count()} cores")
    print(f"{'tiles':>9} {'build s':>8} {'bare s':>7} {'ratio':>6} {'cached open s':>13}")
    met = True
    for tiles in (int(size) for size in args.sizes.split(",")):
        folder = Path(tempfile.mkdtemp(prefix="mars-zoo-bench-index-", dir=args.dir))
        try:
            shards = write_gallery(folder / "tiles", tiles)
            assert bare_pass(folder / "tiles") == tiles
            build = median_seconds(
                lambda: gallery_index.build_index(
                    shards, folder / "tiles", Reporter(), lambda names, where, _: _placed_tiles(names, where)
                ),
                args.repeats,
            )
            bare = median_seconds(lambda: bare_pass(folder / "tiles"), args.repeats)
            opened = lambda: read_tile_gallery(folder / "tiles", "bench", True, Reporter(), folder / "cache")  # noqa: E731
            assert len(opened().images) == tiles  # fills the cache
            cached = median_seconds(opened, args.repeats)
        finally:
            shutil.rmtree(folder)
        print(f"{tiles:>9,} {build:>8.2f} {bare:>7.2f} {build / bare:>6.2f} {cached:>13.2f}")
        met = met and build / bare <= 2 and (tiles < 1_400_000 or cached < 2)
    print(f"targets: build at most 2x the bare pass, cached open under 2 s at 1.4M: {'ok' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
