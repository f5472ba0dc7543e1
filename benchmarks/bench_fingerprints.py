"""Time the content revision of a tile gallery laid out like the real one.

    python benchmarks/bench_fingerprints.py [--shards 1440] [--shard-mb 1] [--repeats 5]

The real gallery is about 1.44 million tiles in 1,440 tar shards of 1,000 tiles. Its
revision (`mars_zoo.data.fingerprints.local_revision`) reads every byte once, on the
first run, and afterwards only `stat`s each shard, so two figures matter:

- warm: a run whose shards are unchanged, the case of every run after the first. It
  depends on the number of files only, so it is measured on the real shard count. Target:
  under one second.
- cold: bytes hashed per second on the first run, measured on small shards (a real shard
  is a few hundred MB) and shown with the time it implies for `--gallery-gb` of tiles;
  for information, since it is bounded by the disk and by SHA-256, not by the code.

Also timed: the warm run after one shard was rewritten (only that shard is hashed again).
Prints the median, min and max of `--repeats` runs; exits 1 when the warm median misses
its target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mars_zoo.data.fingerprints import local_revision

WARM_TARGET_S = 1.0


def _timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _summary(name: str, seconds: list[float], extra: str = "") -> str:
    return (f"{name:<34} median {statistics.median(seconds):8.3f} s   min {min(seconds):8.3f}   "
            f"max {max(seconds):8.3f}  {extra}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=1440)
    parser.add_argument("--shard-mb", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gallery-gb", type=float, default=280.0, help="size of the real gallery, for the estimate")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mars-zoo-bench-fingerprints-") as tmp:
        tiles, cache = Path(tmp) / "tiles", Path(tmp) / "cache"
        tiles.mkdir()
        size = int(args.shard_mb * 2**20)
        for number in range(args.shards):
            (tiles / f"tiles-{number:06d}.tar").write_bytes(os.urandom(size))
        total_mb = args.shards * size / 2**20

        cold = []
        for _ in range(args.repeats):
            for sidecar in cache.glob("fingerprints/*.npz"):
                sidecar.unlink()
            cold.append(_timed(lambda: local_revision(tiles, cache)))
        warm = [_timed(lambda: local_revision(tiles, cache)) for _ in range(args.repeats)]
        one_changed = []
        for repeat in range(args.repeats):
            (tiles / "tiles-000007.tar").write_bytes(os.urandom(size))
            one_changed.append(_timed(lambda: local_revision(tiles, cache)))

    rate = total_mb / statistics.median(cold)
    print(f"{args.shards} shards of {args.shard_mb:g} MB ({total_mb:.0f} MB), {args.repeats} runs each")
    print(_summary("cold (every byte hashed)", cold,
                   f"{rate:.0f} MB/s -> {args.gallery_gb * 1024 / rate / 60:.1f} min for {args.gallery_gb:g} GB (info)"))
    verdict = "ok" if statistics.median(warm) < WARM_TARGET_S else "MISSED"
    print(_summary("warm (nothing changed)", warm, f"target < {WARM_TARGET_S:g} s: {verdict}"))
    print(_summary("warm, one shard rewritten", one_changed))
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
