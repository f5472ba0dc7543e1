"""Task 1: ranking the pairs from the score matrix against the product that makes it.

    python benchmarks/bench_paired_ranks.py [--pairs 2247] [--dim 1024] [--repeats 7]

Times, in turn within each of `--repeats` rounds (after one untimed warm-up), the float32
product S = I Tᵀ of N L2-normalised pairs and `mars_zoo.scoring.metrics.paired_from_scores(S)`
(both directions' ranks, R@1, R@10, MRR, MedR), and prints their medians and the ratio
ranks / product (target at most 1.3).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from mars_zoo.scoring.metrics import paired_from_scores

TARGET_RATIO = 1.3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2247)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    images, texts = (rng.standard_normal((args.pairs, args.dim), dtype=np.float32) for _ in range(2))
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    scores = images @ texts.T
    product, ranks = [], []
    for round_ in range(args.repeats + 1):
        started = time.perf_counter()
        images @ texts.T
        middle = time.perf_counter()
        paired_from_scores(scores)
        done = time.perf_counter()
        if round_:
            product.append(middle - started)
            ranks.append(done - middle)
    ratio = statistics.median(ranks) / statistics.median(product)
    print(f"{args.pairs} pairs x {args.dim}: product {statistics.median(product) * 1e3:.1f} ms, "
          f"ranks {statistics.median(ranks) * 1e3:.1f} ms (medians of {args.repeats}); "
          f"ratio {ratio:.2f}, target at most {TARGET_RATIO}: {'ok' if ratio <= TARGET_RATIO else 'MISSED'}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
