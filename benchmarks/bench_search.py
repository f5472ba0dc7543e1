"""Task-3 search straight from the embedding cache shards against faiss-cpu.

    python benchmarks/bench_search.py [--sizes 100000,400000,1400000] [--dim 1024]
        [--queries 15] [--k 20000] [--repeats 3] [--dir /tmp]

For each gallery size, writes a synthetic L2-normalised float32 gallery into a temporary
folder as the harness's own cache shards (and, up to --one-file-up-to rows, as one .npy file), then
times, with every core:

- shards: what a run does, opening the cache's shards (`CacheEntry.rows()`, one memory
  map per shard, whose pages are faulted in by the search) and `mars_zoo.scoring.search.top_k`
  over them;
- one file: `top_k` over the one memory-mapped .npy file, opened likewise;
- faiss: faiss-cpu's `IndexFlatIP.search` (exact inner product; the index holds the
  gallery in memory, so building it is not timed).

All three return each query's best k tiles (checked to agree, up to float32 rounding at
the k-th place). It prints, per size, the median wall and CPU seconds of `--repeats`
rounds, each timing the sides in turn after one untimed warm-up round (so the files sit
in the page cache for all sides and a busy machine slows all alike), the ratio
shards/faiss of the wall medians (target at most 0.35 at 1.4M x 1024), the extra memory
of the search from the shards as a fraction of the gallery's size (target at most 0.1):
the peak of numpy's allocations during the search, measured by tracemalloc in a separate
run, and the load average before and after. Then each target, met or missed; exits 1 if
one is missed. Needs `pip install faiss-cpu` (the `bench` extra), free disk of twice the
gallery and, at 1.4M x 1024, about 12 GB of free memory (the shards' page cache and
faiss's copy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np

from mars_zoo.embedding.cache import DEFAULT_SHARD_SIZE, CacheEntry
from mars_zoo.scoring.search import top_k
from timing import timed

TARGET_RATIO = 0.35
TARGET_ROWS = 1_400_000
TARGET_MEMORY = 0.1


def write_gallery(folder: Path, rows: int, dim: int, seed: int, one_file: bool) -> tuple[CacheEntry, Path | None]:
    """The gallery as cache shards and, if asked, as one .npy file, written shard by shard."""
    entry = CacheEntry(folder / "shards", {"benchmark": "search"}, rows, DEFAULT_SHARD_SIZE)
    path = folder / "gallery.npy" if one_file else None
    single = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim)) if one_file else None
    rng = np.random.default_rng(seed)
    for shard in range(entry.shards):
        start, stop = entry.shard_range(shard)
        block = rng.standard_normal((stop - start, dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        entry.write(shard, block)
        if single is not None:
            single[start:stop] = block
    if single is not None:
        single.flush()
    return entry, path


def interleaved_medians(functions: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each function, timed in turn within every repeat
    (after one untimed warm-up round: page cache, thread pools), so that a machine
    shared with others slows every side alike."""
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in functions}
    for round_ in range(repeats + 1):
        for name, function in functions.items():
            wall, cpu, _ = timed(function)
            if round_:
                timings[name].append((wall, cpu))
    return {
        name: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
        for name, values in timings.items()
    }


def peak_extra_bytes(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def faiss_index(gallery):
    import faiss

    index = faiss.IndexFlatIP(gallery.shape[1])
    for _, block in gallery.blocks(DEFAULT_SHARD_SIZE * 16):
        index.add(np.ascontiguousarray(block))
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,400000,1400000")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--queries", type=int, default=15)
    parser.add_argument("--k", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the temporary gallery goes (default: $TMPDIR)")
    parser.add_argument("--one-file-up-to", type=int, default=400_000,
                        help="time the one-file copy only up to this size: at 1.4M x 1024 both copies "
                        "and faiss's in-memory index (17 GB) need not fit in the page cache")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    print(f"{args.queries} queries, k = {args.k}, dim {args.dim}, {os.cpu_count()} cores; medians of "
          f"{args.repeats} rounds, wall seconds (CPU seconds)")
    print(f"{'tiles':>9}  {'shards':>13}  {'one file':>13}  {'faiss':>13}  {'shards/faiss':>12}  "
          f"{'extra memory':>12}  load average")
    ratio_at_target = None
    worst_memory = 0.0
    for rows in (int(size) for size in args.sizes.split(",")):
        load_before = os.getloadavg()[0]
        folder = Path(tempfile.mkdtemp(prefix="mars-zoo-bench-search-", dir=args.dir))
        try:
            entry, single_path = write_gallery(folder, rows, args.dim, rows, rows <= args.one_file_up_to)
            index = faiss_index(entry.rows())
            found = top_k(queries, entry.rows(), args.k)
            _, faiss_found = index.search(queries, args.k)
            # Both are exact up to float32 rounding, which can swap tiles at the k-th place.
            for a, b in zip(found, faiss_found):
                assert len(set(a.indices.tolist()) & set(b.tolist())) >= 0.999 * args.k
            sides = {
                "faiss": lambda: index.search(queries, args.k),
                "shards": lambda: top_k(queries, entry.rows(), args.k),
            }
            if single_path is not None:
                sides["one file"] = lambda: top_k(queries, np.load(single_path, mmap_mode="r"), args.k)
            seconds = interleaved_medians(sides, args.repeats)
            index.reset()  # frees its copy of the gallery
            extra = peak_extra_bytes(lambda: top_k(queries, entry.rows(), args.k)) / (rows * args.dim * 4)
        finally:
            shutil.rmtree(folder)
        ratio = seconds["shards"][0] / seconds["faiss"][0]
        worst_memory = max(worst_memory, extra)
        if rows >= TARGET_ROWS:
            ratio_at_target = ratio if ratio_at_target is None else max(ratio_at_target, ratio)
        cells = [f"{seconds[side][0]:.3f} ({seconds[side][1]:.2f})" if side in seconds else "-"
                 for side in ("shards", "one file", "faiss")]
        print(f"{rows:>9,}  {cells[0]:>13}  {cells[1]:>13}  {cells[2]:>13}  {ratio:>12.3f}  {extra:>12.3f}  "
              f"{load_before:.2f} -> {os.getloadavg()[0]:.2f}")
    missed = False
    if ratio_at_target is None:
        print(f"target shards/faiss <= {TARGET_RATIO} at {TARGET_ROWS:,} tiles: not measured (no such size)")
    else:
        missed = ratio_at_target > TARGET_RATIO
        print(f"target shards/faiss <= {TARGET_RATIO} at {TARGET_ROWS:,} tiles: {ratio_at_target:.3f}, "
              f"{'MISSED' if missed else 'met'}")
    memory_missed = worst_memory > TARGET_MEMORY
    print(f"target extra memory <= {TARGET_MEMORY} x the gallery: {worst_memory:.3f} at worst, "
          f"{'MISSED' if memory_missed else 'met'}")
    return 1 if missed or memory_missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
