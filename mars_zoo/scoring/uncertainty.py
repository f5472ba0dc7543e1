"""95% bootstrap confidence intervals of each task's metrics, over its queries.

Each metric is a mean (MedR a median) of per-query values that the result file keeps: task 1's
ranks of every pair (`tasks.paired.per_query`), task 2's per-class rows, task 3's per-landform
rows. The interval is the percentile bootstrap: draw RESAMPLES samples of the n queries with
replacement, take the statistic of each, report its 2.5th and 97.5th percentiles (numpy's
default, linear interpolation). The draws are

    numpy.random.default_rng(seed).integers(0, n, size=(RESAMPLES, n))

made afresh for each group of queries (a task 1 direction, task 2, a task 3 mode) with the run's
--seed, and shared by the metrics of that group, so the same seed gives the same intervals.
Task 3 has five landforms: five values give wide intervals, and the section says so.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

LEVEL = 0.95
PERCENTILES = (2.5, 97.5)  # the middle 95 %, written out: (1 - 0.95) / 2 * 100 is 2.5000000000000022
RESAMPLES = 1000
FEW_QUERIES_WARNING = ("Only {n} landforms per query mode: a bootstrap over five values gives wide intervals, "
                       "and differences between models within them say little.")

Statistic = Callable[..., np.ndarray]


def intervals(columns: Mapping[str, Any], seed: int, statistics: Mapping[str, Statistic] | None = None
              ) -> dict[str, list[float]]:
    """{name: [low, high]} for per-query value columns of equal length n (the queries)."""
    arrays = {name: np.asarray(values, dtype=np.float64) for name, values in columns.items()}
    sizes = {array.size for array in arrays.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"per-query columns must be non-empty and of one length, got sizes {sorted(sizes)}")
    (n,) = sizes
    draws = np.random.default_rng(seed).integers(0, n, size=(RESAMPLES, n))
    result = {}
    for name, array in arrays.items():
        statistic = (statistics or {}).get(name, np.mean)
        low, high = np.percentile(statistic(array[draws], axis=1), PERCENTILES)
        result[name] = [float(low), float(high)]
    return result


def _record(over: str, seed: int, metrics: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"level": LEVEL, "resamples": RESAMPLES, "seed": seed, "over": over, **extra, "metrics": metrics}


def paired_per_query(ranks: Mapping[str, np.ndarray]) -> dict[str, dict[str, list[int]]]:
    """Task 1's per-query values: each direction's rank of every pair, in pair order."""
    return {direction: {"rank": [int(rank) for rank in values]} for direction, values in ranks.items()}


def paired_confidence(per_query: Mapping[str, Mapping[str, list[int]]], seed: int) -> dict[str, Any]:
    metrics = {}
    for direction, values in per_query.items():
        ranks = np.asarray(values["rank"], dtype=np.float64)
        metrics[direction] = intervals(
            {"r1": ranks <= 1, "r10": ranks <= 10, "mrr": 1.0 / ranks, "medr": ranks}, seed, {"medr": np.median})
    return _record("pairs", seed, metrics)


LANDFORM_METRICS = {"map": "ap", "r_precision": "r_precision", "ndcg@10": "ndcg@10", "hit@10": "hit@10"}


def landform_confidence(per_class: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    scored = [row for row in per_class if row["relevant"] > 0]  # as the means: classes without images stay out
    columns = {metric: [row[key] for row in scored] for metric, key in LANDFORM_METRICS.items()}
    return _record("class queries", seed, intervals(columns, seed))


def geo_confidence(per_landform: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    metrics, counts = {}, set()
    for mode in dict.fromkeys(row["mode"] for row in per_landform):
        rows = [row for row in per_landform if row["mode"] == mode]
        counts.add(len(rows))
        metrics[mode] = intervals({key: [row[key] for row in rows] for key in ("f1", "auprc")}, seed)
    return _record("landforms", seed, metrics, warning=FEW_QUERIES_WARNING.format(n=min(counts)))

