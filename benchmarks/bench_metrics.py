"""Time the three metric functions at benchmark size on one CPU core.

    python benchmarks/bench_metrics.py [--repeats 30]

The process pins itself to one core and caps every thread pool at one thread
(set before numpy is imported, since BLAS reads them at load time), warms up,
then prints the median, min and max of each case in milliseconds next to its
target and exits 1 when a median misses its target.

Task 1 is timed twice: from the score matrix (the metric itself) and from the
embeddings, which adds the float32 matrix product S = I Tᵀ. That product is
2 N² D = 8 GFLOP, so on one core it alone takes tens of milliseconds, whatever
the metric code does. The script times the product on its own too, and shows the
end-to-end row next to the 15 ms target without failing on it ("info").

Task 2's target case is a score matrix of 20 class queries x 5,000 images (the
size of Mars-Landforms, 1K-10K images). A 100x larger case, 20 x 100,000 (as if
every class had 5,000 images), is timed too and shown for information.
"""

from __future__ import annotations

import os

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _variable in _THREAD_VARIABLES:
    os.environ[_variable] = "1"
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

from mars_zoo.scoring import metrics  # noqa: E402

PAIRS, DIM = 2_287, 768
CLASSES, IMAGES = 20, 5_000
LARGE_IMAGES = CLASSES * IMAGES  # the information-only case
TILES, K_MAX, GT_POINTS, CURVE_POINTS = 30_000, 20_000, 400, 100


def _unit_rows(rng: np.random.Generator, rows: int, dim: int) -> np.ndarray:
    matrix = rng.standard_normal((rows, dim)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _cases(rng: np.random.Generator) -> list[tuple[str, Callable[[], object], float | None, bool]]:
    """(label, call, target in ms or None, whether missing the target fails the run)."""
    images = _unit_rows(rng, PAIRS, DIM)
    texts = _unit_rows(rng, PAIRS, DIM)
    scores_1 = images @ texts.T

    def landform_case(images: int) -> Callable[[], object]:
        labels = rng.integers(0, CLASSES, images)
        relevant = labels[None, :] == np.arange(CLASSES)[:, None]
        # Cosine similarities of text queries to images sit in a narrow band.
        scores = rng.normal(0.2, 0.05, (CLASSES, images)).astype(np.float32)
        return lambda: metrics.landform(scores, relevant)

    # Distinct tiles of the 0.2-degree grid within +-80 degrees of latitude.
    cells = rng.choice(1800 * 800, size=TILES, replace=False)
    tiles = np.stack([cells % 1800 * 0.2 - 180.0, cells // 1800 * 0.2 - 80.0], axis=1)
    truth = np.stack([rng.uniform(-180, 180, GT_POINTS), rng.uniform(-80, 80, GT_POINTS)], axis=1)
    scores_3 = rng.random(TILES, dtype=np.float32)

    def task_3() -> object:
        return metrics.geolocalization(scores_3, tiles, truth, K_MAX, 0.5, CURVE_POINTS)

    return [
        ("task 1 paired, ranks from S", lambda: metrics.paired_from_scores(scores_1), 15.0, True),
        ("task 1 S = I @ T.T alone (float32 GEMM)", lambda: images @ texts.T, None, False),
        ("task 1 paired from embeddings", lambda: metrics.paired(images, texts), 15.0, False),
        ("task 2 landform", landform_case(IMAGES), 10.0, True),
        (f"task 2 landform, {LARGE_IMAGES:,} images", landform_case(LARGE_IMAGES), 10.0, False),
        ("task 3 geolocalization", task_3, 20.0, True),
    ]


def _time(call: Callable[[], object], repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1e3)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(f"core {sorted(os.sched_getaffinity(0))}, numpy {np.__version__}, {args.repeats} repeats")
    print(
        f"task 1: {PAIRS} pairs, dimension {DIM}; task 2: {CLASSES} class queries x {IMAGES} "
        f"images; task 3: {TILES} tiles, K {K_MAX}, {GT_POINTS} points, {CURVE_POINTS} curve points"
    )
    print(f"{'case (ms)':<40} {'median':>8} {'min':>8} {'max':>8} {'target':>8}")
    missed = []
    for label, call, target, enforced in _cases(np.random.default_rng(args.seed)):
        timings = _time(call, args.repeats, args.warmup)
        median = statistics.median(timings)
        if target is None:
            target_text, verdict = "-", ""
        else:
            target_text = f"{target:.1f}"
            verdict = "ok" if median <= target else ("MISSED" if enforced else "over (info)")
        print(
            f"{label:<40} {median:8.2f} {min(timings):8.2f} {max(timings):8.2f} "
            f"{target_text:>8} {verdict}"
        )
        if enforced and median > target:
            missed.append(label)
    if missed:
        print("missed targets: " + "; ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
