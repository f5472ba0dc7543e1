"""How far the way ties are broken can move a reported task-2 or task-3 number, at the real sizes.

    python benchmarks/bench_tie_rules.py [--seeds 3] [--settings fp32:0.02,fp32:0.05,bf16:0.03,fp16:0.03]
        [--quick]

The published evaluation (leaderboard/PROTOCOL.md, common rules: ties) ranks like this:
faiss-cpu's `IndexFlatIP.search` lists the k best gallery rows by float32 score, best first
(task 2: every image; task 3: the top 20,000 tiles), rows of exactly equal score in descending
gallery index (seen with faiss-cpu 1.15.1; `faiss_order` restates it). Each score goes through
`float` and `np.round(., 6)` into a DataFrame, which the evaluator sorts with
`sort_values("similarity", ascending=False)`: pandas' default kind, quicksort, done as a numpy
argsort of the reversed column, reversed back. The rounded column arrives already sorted, so
what happens to rows tied after rounding is up to numpy's quicksort: numpy 2.4's SIMD argsort
(AVX2 or AVX-512 dispatch) leaves a sorted column as it is, so the ranking is faiss's, by the
unrounded float32 scores; numpy's own introsort (the baseline dispatch, e.g. with
NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4 AVX512_ICL AVX512_SPR") moves tied rows about. Task 3's
AUPRC orders the curve's points with `np.argsort(recall)`, the same quicksort on a sorted array.

Each query is ranked four ways and scored:

  a. mars-zoo: `mars_zoo.scoring.metrics` on the float32 scores. Nothing is rounded; only equal float32
     scores tie, and among them the relevant candidates come last.
  b. published: `faiss_order`, then the rounding and pandas' `sort_values` themselves, with this
     process's pandas and numpy; the curve's points in `np.argsort(recall)` order.
  c. best: rounded scores, relevant candidates first among equal ones (then by float32 score):
     the most any order of the rounded ties could give (for F1 and the task-2 numbers; AUPRC,
     whose trapezoids start at the first K's recall, is not monotone in the order).
  d. worst: rounded scores, relevant candidates last: the least.

b, c and d are scored by the plain computation below (the published formulas; scipy's k-d tree
over the published map pixels for task 3), not by mars_zoo's code. Before anything else the
script checks that on a case without ties, even after rounding, all four agree exactly.

The scores are drawn, not computed from embeddings (a 1.4M x 1024 gallery is 5.7 GB): every
candidate's cosine is N(0.2, spread), a relevant one's is shifted up by `separation` x spread
(one separation per task-2 class, drawn; one per task-3 query mode), then made into what a
pipeline would hold, by setting:

  fp32:S  the cosines in float32, as both pipelines take them (float32 products);
  bf16:S  the float32 dot product of two bf16-rounded unit vectors of --bf16-dim dimensions
          whose exact cosine is the drawn one (a model with bf16 embeddings); for task 3 only for
          the tiles within 0.02 of the 20,000th score, the others cannot reach the top (checked);
  fp16:S  the cosines rounded to float16: a stress case neither pipeline computes (both take
          float32 products), where nearly every score is tied exactly.

Task 2: --classes class queries over --images images (Mars-Landforms has 1K-10K images), class
sizes drawn unequal. Task 3: the 0.2-degree grid of tiles within 80 degrees of the equator (1.44M
tiles, in raster order), the five landforms with ground-truth points in regional clusters (counts
in GEO_POINTS, of the size of the published catalogues, an assumption), a tile relevant when
within 0.5 degrees of a point, three query modes of different separation. It prints, per setting,
the tie groups (after rounding, and exact float32 ties) that straddle a cut-off (task 2: rank 10
and |R|; task 3: every K of the curve), how many of those mix relevant and irrelevant candidates
(only those can move a number), and the max and median absolute difference of each reported
number between a and b, a and c, a and d, in percentage points, over every query of every seed
(task 2 also the class mean). Counts are medians over seeds. Needs pandas and scipy (the `bench`
extra).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from mars_zoo.scoring import metrics
from mars_zoo.core.protocol import (
    GEO_CURVE_POINTS as CURVE_POINTS,
    GEO_K_MAX as K_MAX,
    GEO_LANDFORMS,
    GEO_MAP_HEIGHT_PX as MAP_HEIGHT,
    GEO_MAP_SHIFT_X_PX as SHIFT_X,
    GEO_MAP_SHIFT_Y_PX as SHIFT_Y,
    GEO_MAP_WIDTH_PX as MAP_WIDTH,
    GEO_MAX_ABS_LAT as MAX_ABS_LAT,
    GEO_RADIUS_DEG as RADIUS_DEG,
    GEO_TILE_DEG as TILE_DEG,
)

CENTRE = 0.2
DECIMALS = 6  # the published retrievers' np.round(similarity, 6)
ROWS, FULL_COLUMNS = 800, 1800  # 0.2-degree rows from -80 to 80, columns around the planet
GEO_POINTS = dict(zip(GEO_LANDFORMS, (600, 1300, 3000, 1000, 700)))  # assumed catalogue sizes
MODE_SEPARATION = {"text": 0.75, "hybrid": 1.25, "image": 2.0}
CLASS_SEPARATION = (0.5, 3.0)  # each class's separation drawn uniformly from this range
BF16_MARGIN = 0.02
LANDFORM_METRICS = ("ap", "hit@10", "r_precision", "ndcg@10")
GEO_METRICS = ("f1", "auprc")
ORDERS = ("published", "best", "worst")


@dataclass(frozen=True)
class Setting:
    kind: str  # fp32, bf16 or fp16
    spread: float

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.spread:g}"


# ---------------------------------------------------------------- the published ranking


def faiss_order(scores: np.ndarray, k: int) -> np.ndarray:
    """The rows faiss-cpu's IndexFlatIP.search returns, in its order: the k best by float32
    score, best first, rows of exactly equal score in descending index. Which of the rows tied
    exactly at the k-th place faiss keeps depends on how its selection met them (neither the
    lowest nor the highest indices in general); here the lowest are kept."""
    candidates = _at_least_kth(scores, k)
    kept = candidates[np.lexsort((candidates, -scores[candidates]))[:k]]
    return kept[np.lexsort((-kept, -scores[kept]))]


def published_ranking(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows in the order the published evaluator walks them: faiss's list, each score made a
    Python float and rounded to 6 decimals, sorted by pandas as the evaluator calls it."""
    listed = faiss_order(scores, k)
    frame = pd.DataFrame({"row": listed, "similarity": np.round(scores[listed].astype(np.float64), DECIMALS)})
    return frame.sort_values("similarity", ascending=False)["row"].to_numpy()


@dataclass(frozen=True)
class RoundedTop:
    """The rows that can be among a query's k best once every score is rounded to 6 decimals
    (every row whose rounded score is at least the k-th best rounded score), with those scores."""

    rows: np.ndarray
    rounded: np.ndarray

    @classmethod
    def of(cls, scores: np.ndarray, k: int) -> RoundedTop:
        if k >= scores.size:
            rows = np.arange(scores.size)
            return cls(rows, np.round(scores.astype(np.float64), DECIMALS))
        # Rounding keeps order, so the k-th best rounded score is the k-th best score rounded,
        # and no score more than 1e-6 below it rounds up to it.
        boundary = np.round(float(np.partition(scores, scores.size - k)[scores.size - k]), DECIMALS)
        rows = np.flatnonzero(scores >= boundary - 1e-6)
        rounded = np.round(scores[rows].astype(np.float64), DECIMALS)
        keep = rounded >= boundary
        return cls(rows[keep], rounded[keep])

    def ranking(self, scores: np.ndarray, relevant: np.ndarray, relevant_first: bool) -> np.ndarray:
        """The rows best first: by rounded score, relevant rows first (or last) among equal
        ones, then by float32 score. The first k are the ranking; any rows after them are
        ties at the k-th place that were left out."""
        tie_break = ~relevant[self.rows] if relevant_first else relevant[self.rows]
        return self.rows[np.lexsort((-scores[self.rows], tie_break, -self.rounded))]


def _at_least_kth(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the values at least the k-th largest (all of them if k >= their number)."""
    if k >= values.size:
        return np.arange(values.size)
    kth = np.partition(values, values.size - k)[values.size - k]
    return np.flatnonzero(values >= kth)


def ranked_orders(scores: np.ndarray, relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """One query's published, best and worst rankings (the first k rows of each count)."""
    top = RoundedTop.of(scores, k)
    return {"published": published_ranking(scores, k),
            "best": top.ranking(scores, relevant, relevant_first=True),
            "worst": top.ranking(scores, relevant, relevant_first=False)}


def tie_counts(scores: np.ndarray, relevant: np.ndarray, k: int, cutoffs: list[int], best: np.ndarray) -> dict[str, int]:
    """Tie groups straddling a cut-off, after rounding (read off the best ranking, which holds
    every row tied at the k-th place) and exact (float32), and how many of each mix."""
    exact = _at_least_kth(scores, k)
    exact = exact[np.argsort(-scores[exact], kind="stable")]
    counts = {}
    for label, rows, values in (("rounded", best, np.round(scores[best].astype(np.float64), DECIMALS)),
                                ("exact", exact, scores[exact])):
        counts[label], counts[f"{label} mixed"] = straddling(values, relevant[rows], cutoffs)
    return counts


def straddling(values: np.ndarray, relevant: np.ndarray, cutoffs: list[int]) -> tuple[int, int]:
    """(tie groups straddling a cut-off, those of them mixing relevant and irrelevant rows).

    `values` in descending order (any order within ties) and `relevant` alongside. A group of
    equal values straddles the cut-off K when it holds ranks K and K + 1."""
    inside = {float(values[k - 1]) for k in cutoffs if k < values.size and values[k - 1] == values[k]}
    ascending = values[::-1]
    mixed = 0
    for value in inside:
        start = values.size - np.searchsorted(ascending, value, side="right")
        stop = values.size - np.searchsorted(ascending, value, side="left")
        members = relevant[start:stop]
        mixed += bool(members.any() and not members.all())
    return len(inside), mixed


# ---------------------------------------------------------------- plain metric computations


def landform_values(relevant_in_order: np.ndarray) -> dict[str, float]:
    """AP, Hit@10, R-Precision and nDCG@10 of one ranking, written from the published formulas."""
    count = int(relevant_in_order.sum())
    ranks = np.flatnonzero(relevant_in_order) + 1
    found = np.arange(1, count + 1)
    top = ranks[ranks <= 10]
    ideal = np.arange(1, min(count, 10) + 1)
    return {
        "ap": float(np.sum(found / ranks) / count),
        "hit@10": float(ranks[0] <= 10),
        "r_precision": float(np.count_nonzero(ranks <= count) / count),
        "ndcg@10": float(np.sum(1.0 / np.log2(top + 1)) / np.sum(1.0 / np.log2(ideal + 1))),
    }


def map_pixels(lonlat: np.ndarray) -> np.ndarray:
    """(lon, lat) -> pixels of the published evaluator's 2644 x 1322 world map."""
    return np.stack([(lonlat[:, 0] + 180) / 360 * MAP_WIDTH + SHIFT_X,
                     (90 - lonlat[:, 1]) / 180 * MAP_HEIGHT + SHIFT_Y], axis=1)


def geo_values(ranked: np.ndarray, tiles_px: np.ndarray, truth_px: np.ndarray, k_max: int, points: int,
               recall_order: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
    """Best F1 and AUPRC of the first k_max ranked tiles, as the published evaluator computes
    them (a tile within 0.5 degrees of a point in map pixels, the curve every k_max // points),
    its AUPRC over the curve's points in `recall_order(recall)`."""
    top = ranked[:k_max]
    pairs = cKDTree(tiles_px[top]).sparse_distance_matrix(
        cKDTree(truth_px), RADIUS_DEG * MAP_WIDTH / 360.0, output_type="ndarray")
    hit = np.zeros(top.size, dtype=bool)
    hit[pairs["i"]] = True
    first_rank = np.full(len(truth_px), top.size)
    np.minimum.at(first_rank, pairs["j"], pairs["i"])
    ks = curve_ks(top.size, points)
    precision = np.cumsum(hit)[ks - 1] / ks
    recall = np.searchsorted(np.sort(first_rank), ks, side="left") / len(truth_px)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(ks.size), where=total > 0)
    order = recall_order(recall)
    return {"f1": float(f1.max()), "auprc": float(np.trapezoid(precision[order], recall[order]))}


def curve_ks(k: int, points: int) -> np.ndarray:
    """The published curve's K: every k // points, and k."""
    step = max(1, k // points)
    ks = np.arange(step, k + 1, step)
    return ks if ks[-1] == k else np.append(ks, k)


def published_recall_order(recall: np.ndarray) -> np.ndarray:
    """The published evaluator's order of the curve's points: numpy's default (quick)sort."""
    return np.argsort(recall)


def curve_order(recall: np.ndarray) -> np.ndarray:
    """The curve's points in K order (recall never falls as K grows): mars-zoo's order."""
    return np.arange(recall.size)


# ---------------------------------------------------------------- drawn scores


def quantised(rng: np.random.Generator, cosines: np.ndarray, setting: Setting, dim: int,
              exact: np.ndarray | None = None) -> np.ndarray:
    """The drawn cosines as a pipeline holds them (float32), by the setting's kind. For bf16,
    only the rows in `exact` (all when None) go through bf16 vectors."""
    if setting.kind == "fp16":
        return cosines.astype(np.float16).astype(np.float32)
    scores = cosines.astype(np.float32)
    if setting.kind == "bf16":
        rows = np.arange(cosines.size) if exact is None else np.flatnonzero(exact)
        scores[rows] = bf16_products(rng, cosines[rows], dim)
    return scores


def bf16_products(rng: np.random.Generator, cosines: np.ndarray, dim: int, block: int = 16_384) -> np.ndarray:
    """float32 dot products of a bf16-rounded query and bf16-rounded gallery vectors, unit
    vectors of `dim` dimensions whose exact cosines with the query are `cosines`."""
    import torch

    def bf16(array: np.ndarray) -> np.ndarray:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).bfloat16().float().numpy()

    query = rng.standard_normal(dim)
    query /= np.linalg.norm(query)
    query_bf16 = bf16(query)
    out = np.empty(cosines.size, dtype=np.float32)
    for start in range(0, cosines.size, block):
        cos = cosines[start:start + block]
        noise = rng.standard_normal((cos.size, dim))
        noise -= np.outer(noise @ query, query)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        vectors = cos[:, None] * query + np.sqrt(1 - cos * cos)[:, None] * noise
        out[start:start + cos.size] = bf16(vectors) @ query_bf16
    return out


def drawn_cosines(rng: np.random.Generator, relevant: np.ndarray, spread: float, separation) -> np.ndarray:
    """N(CENTRE, spread), relevant entries shifted up by separation x spread, within [-1, 1]."""
    cosines = rng.normal(CENTRE, spread, relevant.shape) + relevant * (np.asarray(separation) * spread)
    return np.clip(cosines, -1.0, 1.0)


# ---------------------------------------------------------------- task 2


def landform_case(rng: np.random.Generator, setting: Setting, classes: int, images: int, dim: int):
    """(scores [classes, images] float32, relevant [classes, images] bool)."""
    labels = rng.choice(classes, size=images, p=rng.dirichlet(np.full(classes, 2.0)))
    labels[:classes] = np.arange(classes)  # every class has an image
    relevant = labels[None, :] == np.arange(classes)[:, None]
    separation = rng.uniform(*CLASS_SEPARATION, size=(classes, 1))
    cosines = drawn_cosines(rng, relevant, setting.spread, separation)
    return quantised(rng, cosines.ravel(), setting, dim).reshape(cosines.shape), relevant


def landform_query(scores: np.ndarray, relevant: np.ndarray) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """One class query: its metric values in the published, best and worst orders, and its ties
    straddling rank 10 or |R|."""
    rankings = ranked_orders(scores, relevant, scores.size)
    values = {order: landform_values(relevant[ranked]) for order, ranked in rankings.items()}
    return values, tie_counts(scores, relevant, scores.size, [10, int(relevant.sum())], rankings["best"])


# ---------------------------------------------------------------- task 3


@dataclass(frozen=True)
class Gallery:
    lonlat: np.ndarray  # [N, 2] float64, each tile's lower-left corner as its name gives it
    pixels: np.ndarray  # [N, 2] the same in the published evaluator's map pixels
    columns: int

    @classmethod
    def grid(cls, columns: int) -> Gallery:
        """The 0.2-degree tiles of `columns` columns from lon -180, rows from lat -80 to 80, in
        raster order (row by row)."""
        lon = np.round(-180 + TILE_DEG * np.arange(columns), 1)
        lat = np.round(-MAX_ABS_LAT + TILE_DEG * np.arange(ROWS), 1)
        lonlat = np.stack([np.tile(lon, ROWS), np.repeat(lat, columns)], axis=1)
        return cls(lonlat, map_pixels(lonlat), columns)

    def near(self, truth: np.ndarray) -> np.ndarray:
        """Which tiles lie within 0.5 degrees of some point (in degrees: how the scores are drawn)."""
        column = np.floor((truth[:, 0] + 180) / TILE_DEG).astype(np.int64)
        row = np.floor((truth[:, 1] + MAX_ABS_LAT) / TILE_DEG).astype(np.int64)
        reach = int(np.ceil(RADIUS_DEG / TILE_DEG)) + 1
        offsets = np.arange(-reach, reach + 1)
        columns = (column[:, None, None] + offsets[None, :, None]).repeat(offsets.size, axis=2)
        rows = (row[:, None, None] + offsets[None, None, :]).repeat(offsets.size, axis=1)
        inside = (columns >= 0) & (columns < self.columns) & (rows >= 0) & (rows < ROWS)
        index = (rows * self.columns + columns)[inside]
        point = np.broadcast_to(np.arange(len(truth))[:, None, None], inside.shape)[inside]
        distance = np.hypot(self.lonlat[index, 0] - truth[point, 0], self.lonlat[index, 1] - truth[point, 1])
        near = np.zeros(len(self.lonlat), dtype=bool)
        near[index[distance <= RADIUS_DEG]] = True
        return near


def ground_truth(rng: np.random.Generator, count: int, columns: int) -> np.ndarray:
    """`count` points in regional clusters of about 50 (2-degree spread) inside the gallery."""
    span = columns * TILE_DEG
    centres = np.stack([rng.uniform(-180, -180 + span, max(1, count // 50)), rng.uniform(-60, 60, max(1, count // 50))], axis=1)
    points = centres[rng.integers(0, len(centres), count)] + rng.normal(0, 2.0, (count, 2))
    points[:, 0] = -180 + np.mod(points[:, 0] + 180, span)
    points[:, 1] = np.clip(points[:, 1], -MAX_ABS_LAT + 1, MAX_ABS_LAT - 1)
    return points


def geo_scores(rng: np.random.Generator, setting: Setting, near: np.ndarray, separation: float, dim: int,
               k_max: int) -> np.ndarray:
    """One query's float32 scores over the gallery."""
    cosines = drawn_cosines(rng, near, setting.spread, separation)
    exact = None
    if setting.kind == "bf16":
        exact = cosines >= np.partition(cosines, cosines.size - k_max)[cosines.size - k_max] - BF16_MARGIN
    scores = quantised(rng, cosines, setting, dim, exact)
    if exact is not None and (~exact).any():
        kth = np.partition(scores, scores.size - k_max)[scores.size - k_max]
        if np.round(float(scores[~exact].max()), DECIMALS) >= np.round(float(kth), DECIMALS):
            raise RuntimeError("bf16 margin too small: a tile outside it reaches the top k_max")
    return scores


def geo_query(scores: np.ndarray, gallery: Gallery, truth: np.ndarray, near: np.ndarray, k_max: int,
              points: int, published_auprc_order: Callable[[np.ndarray], np.ndarray] = published_recall_order,
              ) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """One task-3 query: best F1 and AUPRC by mars-zoo and in the published, best and worst
    orders, and its ties straddling a K of the curve."""
    project = metrics.geolocalization(scores, gallery.lonlat, truth, k_max=k_max, radius=RADIUS_DEG, points=points)
    rankings = ranked_orders(scores, near, k_max)
    truth_px = map_pixels(truth)
    values = {"mars-zoo": {name: project[name] for name in GEO_METRICS}}
    for order, ranked in rankings.items():
        recall_order = published_auprc_order if order == "published" else curve_order
        values[order] = geo_values(ranked, gallery.pixels, truth_px, k_max, points, recall_order)
    cutoffs = curve_ks(min(k_max, scores.size), points).tolist()
    return values, tie_counts(scores, near, k_max, cutoffs, rankings["best"])


# ---------------------------------------------------------------- the run


class Tally:
    """One task's figures over every query of every seed: per metric and order the differences
    |mars-zoo - order|, the class means' differences (task 2's reported numbers), mars-zoo's
    values (for their range), and per seed each tie count summed over the queries."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.queries = 0
        self.differences = {(name, order): [] for name in names for order in ORDERS}
        self.mean_differences = {(name, order): [] for name in names for order in ORDERS}
        self.levels = {name: [] for name in names}
        self.ties: dict[str, list[int]] = {}

    def add_seed(self, values: list[dict[str, dict[str, float]]], ties: list[dict[str, int]]) -> None:
        """One seed's queries: each query's values per order (mars-zoo included) and tie counts."""
        self.queries += len(values)
        for name in self.names:
            own = np.array([query["mars-zoo"][name] for query in values])
            self.levels[name].extend(own.tolist())
            for order in ORDERS:
                other = np.array([query[order][name] for query in values])
                self.differences[(name, order)].extend(np.abs(own - other).tolist())
                self.mean_differences[(name, order)].append(abs(own.mean() - other.mean()))
        for label in ties[0]:
            self.ties.setdefault(label, []).append(sum(query[label] for query in ties))


def landform_seed(rng: np.random.Generator, setting: Setting, args: argparse.Namespace, tally: Tally) -> None:
    scores, relevant = landform_case(rng, setting, args.classes, args.images, args.bf16_dim)
    own = metrics.landform(scores, relevant)["per_query"]
    values, ties = [], []
    for row, row_relevant, project in zip(scores, relevant, own):
        query_values, query_ties = landform_query(row, row_relevant)
        values.append({"mars-zoo": project, **query_values})
        ties.append(query_ties)
    tally.add_seed(values, ties)


def geo_seed(rng: np.random.Generator, setting: Setting, args: argparse.Namespace, gallery: Gallery,
             geo_truth: dict, tally: Tally) -> None:
    values, ties = [], []
    for truth, near in geo_truth.values():
        for separation in MODE_SEPARATION.values():
            scores = geo_scores(rng, setting, near, separation, args.bf16_dim, K_MAX)
            query_values, query_ties = geo_query(scores, gallery, truth, near, K_MAX, CURVE_POINTS)
            values.append(query_values)
            ties.append(query_ties)
    tally.add_seed(values, ties)


def run_setting(setting: Setting, args: argparse.Namespace, gallery: Gallery, geo_truth: dict) -> dict[str, Tally]:
    tallies = {"task 2": Tally(LANDFORM_METRICS), "task 3": Tally(GEO_METRICS)}
    for seed in range(args.seeds):
        rng = np.random.default_rng([seed, round(setting.spread * 1e6), ("fp32", "bf16", "fp16").index(setting.kind)])
        landform_seed(rng, setting, args, tallies["task 2"])
        geo_seed(rng, setting, args, gallery, geo_truth, tallies["task 3"])
    return tallies


def report(setting: Setting, tallies: dict[str, Tally]) -> None:
    print(f"\nsetting {setting.name}")
    for task, tally in tallies.items():
        ties = {label: statistics.median(counts) for label, counts in tally.ties.items()}
        print(f"  {task}, {tally.queries} queries: tie groups straddling a cut-off per seed (median): "
              f"after rounding {ties['rounded']:g} ({ties['rounded mixed']:g} mixed), "
              f"exact float32 {ties['exact']:g} ({ties['exact mixed']:g} mixed)")
        print(f"  {'metric (pp)':<13} {'mars-zoo':>13}"
              + "".join(f" {'|a-' + letter + '| max':>11} {'median':>7}" for letter in "bcd"))
        for name in tally.names:
            level = np.array(tally.levels[name]) * 100
            cells = "".join(f" {max(tally.differences[(name, order)]) * 100:11.4f}"
                            f" {statistics.median(tally.differences[(name, order)]) * 100:7.4f}" for order in ORDERS)
            print(f"  {name:<13} {level.min():6.2f}-{level.max():6.2f}{cells}")
        if task == "task 2":
            print("  class means (mAP, Hit@10, R-Precision, nDCG@10), max over seeds of |a-b|, |a-c|, |a-d|: "
                  + "; ".join(" ".join(f"{max(tally.mean_differences[(name, order)]) * 100:.4f}" for order in ORDERS)
                              for name in tally.names))


def check_tie_free() -> tuple[bool, float]:
    """On scores distinct even after rounding: whether every order gives mars-zoo's numbers
    exactly and no tie is counted, the published AUPRC taken over the curve in K order; and
    how far the published `np.argsort(recall)` order moves that AUPRC (in percentage points),
    which on numpy's own introsort reorders equal recalls even without ties in score."""
    rng = np.random.default_rng(7)
    scores = (0.1 + rng.permutation(4 * 600) * 1e-5).astype(np.float32).reshape(4, 600)
    relevant = rng.random(scores.shape) < 0.2
    relevant[:, 0] = True
    agree = True
    for row, row_relevant, project in zip(scores, relevant, metrics.landform(scores, relevant)["per_query"]):
        values, ties = landform_query(row, row_relevant)
        agree &= all({name: project[name] for name in LANDFORM_METRICS} == values[order] for order in ORDERS)
        agree &= not any(ties.values())
    gallery = Gallery.grid(40)
    truth = ground_truth(rng, 150, gallery.columns)
    scores = (0.05 + rng.permutation(len(gallery.lonlat)) * 1e-5).astype(np.float32)
    near = gallery.near(truth)
    values, ties = geo_query(scores, gallery, truth, near, 2_000, CURVE_POINTS, published_auprc_order=curve_order)
    agree &= all(values[order] == values["mars-zoo"] for order in ORDERS) and not any(ties.values())
    published, _ = geo_query(scores, gallery, truth, near, 2_000, CURVE_POINTS)
    return agree, abs(published["published"]["auprc"] - values["mars-zoo"]["auprc"]) * 100


def sort_dispatch() -> str:
    """numpy's SIMD targets in use (its sort picks among them), for the record."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:
        return "unknown"
    enabled = [target for target in __cpu_dispatch__ if __cpu_features__.get(target)]
    return ", ".join(enabled) or "baseline only"


def parse_settings(text: str) -> list[Setting]:
    settings = []
    for item in text.split(","):
        kind, _, spread = item.partition(":")
        if kind not in ("fp32", "bf16", "fp16") or not spread:
            raise SystemExit(f"--settings: {item!r} is not KIND:SPREAD with KIND fp32, bf16 or fp16")
        settings.append(Setting(kind, float(spread)))
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--settings", default="fp32:0.02,fp32:0.05,bf16:0.03,fp16:0.03")
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--columns", type=int, default=FULL_COLUMNS,
                        help="task-3 gallery columns of 0.2 degrees (1800: the whole planet, 1.44M tiles)")
    parser.add_argument("--bf16-dim", type=int, default=256)
    parser.add_argument("--quick", action="store_true",
                        help="one seed, 1,000 images, 100 columns (80,000 tiles), points / 10: a smoke run")
    args = parser.parse_args(argv)
    points = GEO_POINTS
    if args.quick:
        args.seeds, args.images, args.classes, args.columns = 1, 1_000, 5, 100
        points = {name: count // 10 for name, count in GEO_POINTS.items()}
    settings = parse_settings(args.settings)

    print(f"numpy {np.__version__} (SIMD dispatch: {sort_dispatch()}), pandas {pd.__version__}; "
          f"load average {os.getloadavg()[0]:.2f}")
    agree, auprc_moved = check_tie_free()
    if not agree:
        print("without ties the four orders disagree: the computations here are wrong")
        return 1
    print("without ties (even after rounding) all four orders give mars-zoo's numbers exactly: checked; "
          f"the published np.argsort(recall) moves that case's AUPRC by {auprc_moved:.4f} pp here")

    gallery = Gallery.grid(args.columns)
    rng = np.random.default_rng(2026)
    geo_truth = {}
    for landform, count in points.items():
        truth = ground_truth(rng, count, args.columns)
        geo_truth[landform] = (truth, gallery.near(truth))
    print(f"task 2: {args.classes} classes x {args.images:,} images; task 3: {len(gallery.lonlat):,} tiles, "
          f"top {K_MAX:,}, ground truth " + ", ".join(f"{name} {len(truth)} points ({int(near.sum()):,} tiles)"
                                                       for name, (truth, near) in geo_truth.items())
          + f"; {args.seeds} seed(s); a = mars-zoo, b = published, c = best, d = worst order")
    started = time.perf_counter()
    for setting in settings:
        report(setting, run_setting(setting, args, gallery, geo_truth))
    print(f"\n{time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
