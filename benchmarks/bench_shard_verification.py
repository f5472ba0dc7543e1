"""Warm task-3 scoring from a large embedding cache: checking every shard in full against
trusting shards already verified by their stat.

    python benchmarks/bench_shard_verification.py [--rows 400000] [--dim 1024]
        [--queries 15] [--k 20000] [--repeats 3] [--dir /tmp]

Writes a synthetic L2-normalised gallery as the harness's own cache shards (4096 rows
each, with their checksum files), then times what a warm run does before and while
scoring task 3 from them: `CacheEntry.missing()` (the check of every shard), then the
exact top-k search of the queries over the memory-mapped shards. Two sides, timed in
turn within every repeat so that a machine shared with others slows both alike:

- first verification: the record of verified shards deleted, so every shard is read
  and hashed (what a run does with a cache copied elsewhere, or one without the record);
- fast path: the record in place, so every shard is trusted by its stat.

Both read the shards from the page cache (one untimed round first); from a cold disk
the first verification is slower still. Prints the medians of the check alone and of
check plus search, the CPU time of the check, the load average, and whether the fast
path's check meets its target (at most 1% of the first verification's).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import numpy as np

from bench_search import write_gallery
from timing import timed
from mars_zoo.embedding.cache import VERIFIED_NAME
from mars_zoo.scoring.search import top_k

TARGET_CHECK_RATIO = 0.01


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--queries", type=int, default=15)
    parser.add_argument("--k", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the temporary gallery goes (default: $TMPDIR)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    folder = Path(tempfile.mkdtemp(prefix="mars-zoo-bench-verify-", dir=args.dir))
    try:
        entry, _ = write_gallery(folder, args.rows, args.dim, seed=1, one_file=False)
        record = entry.directory / VERIFIED_NAME

        def check(first: bool) -> None:
            if first:
                record.unlink(missing_ok=True)
            assert entry.missing() == [] and record.exists()

        def score() -> None:
            top_k(queries, entry.rows(), args.k)

        sides = {"first verification": True, "fast path": False}
        checks: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
        scores: dict[str, list[float]] = {side: [] for side in sides}
        for round_ in range(args.repeats + 1):
            for side, first in sides.items():
                checked = timed(lambda: check(first))[:2]
                scored = timed(score)
                if round_:  # round 0 fills the page cache
                    checks[side].append(checked)
                    scores[side].append(checked[0] + scored[0])
        gallery_gb = args.rows * args.dim * 4 / 1e9
    finally:
        shutil.rmtree(folder)

    print(f"{args.rows:,} x {args.dim} gallery ({gallery_gb:.2f} GB in {entry.shards} shards), "
          f"{args.queries} queries, k = {args.k}; medians of {args.repeats} rounds, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    medians = {}
    for side in sides:
        wall = statistics.median(value[0] for value in checks[side])
        cpu = statistics.median(value[1] for value in checks[side])
        medians[side] = wall
        print(f"{side:>18}: check {wall:7.3f} s (CPU {cpu:7.3f} s), check + search "
              f"{statistics.median(scores[side]):7.3f} s")
    ratio = medians["fast path"] / medians["first verification"]
    met = ratio <= TARGET_CHECK_RATIO
    print(f"fast-path check / first verification: {ratio:.4f} (target at most {TARGET_CHECK_RATIO}: "
          f"{'ok' if met else 'MISSED'})")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
