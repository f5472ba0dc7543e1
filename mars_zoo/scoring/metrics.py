"""The MarsRetrieval metrics, as pure functions of arrays (leaderboard/PROTOCOL.md, tasks 1-3).

Every function takes numpy arrays or torch tensors, does no I/O and knows no model,
and returns plain Python numbers and lists, ready for JSON: fractions in [0, 1],
never NaN. Bad input (wrong shapes, NaN or infinite scores) raises `ValueError`: the
harness validates model output before it gets here, so such input is a bug.

Ties never help a model (leaderboard/PROTOCOL.md, common rules): wherever candidates share a
score, the correct ones are ranked after the wrong ones, so a model whose embeddings
are all equal scores at the floor of every metric. Scores are never rounded: only
exactly equal scores count as tied. The published evaluation code orders ties
otherwise (for tasks 2 and 3: faiss's listing, then scores rounded to 6 decimals and
sorted by a numpy quicksort whose handling of the ties depends on the numpy build;
leaderboard/PROTOCOL.md states it exactly). At the benchmark's real sizes that moves a
reported number by a few hundredths of a percentage point at most
(benchmarks/bench_tie_rules.py).

The functions are vectorised: they run on the full benchmark sizes in milliseconds
on one CPU core (see benchmarks/bench_metrics.py).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from mars_zoo.core.protocol import (
    GEO_CURVE_POINTS,
    GEO_K_MAX,
    GEO_MAP_HEIGHT_PX,
    GEO_MAP_SHIFT_X_PX,
    GEO_MAP_SHIFT_Y_PX,
    GEO_MAP_WIDTH_PX,
    GEO_RADIUS_DEG,
)

# nDCG@10 discount of ranks 1..10: 1 / log2(rank + 1).
_NDCG_DEPTH = 10
_DISCOUNT = 1.0 / np.log2(np.arange(2, _NDCG_DEPTH + 2, dtype=np.float64))


def as_numpy(array: Any) -> np.ndarray:
    """A numpy array of a numpy array, a sequence or a torch tensor (any device,
    any dtype; bfloat16 becomes float32, which holds it exactly).

    Duck-typed on `.detach()` so that this module never imports torch.
    """
    if hasattr(array, "detach"):
        tensor = array.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            tensor = tensor.float()
        return tensor.numpy()
    return np.asarray(array)


def _finite_floats(array: Any, name: str) -> np.ndarray:
    """The array as float32 or float64 without changing any value (ties stay ties)."""
    scores = as_numpy(array)
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    if not np.isfinite(scores).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return scores


def _check_ndim(array: np.ndarray, ndim: int, name: str) -> None:
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}.")


# --------------------------------------------------------------------------- task 1


def paired(image_emb: Any, text_emb: Any) -> dict[str, dict[str, float]]:
    """Task 1 metrics of N image-text pairs: row i of each input is pair i.

    The inputs are L2-normalised [N, D] embeddings; S = I Tᵀ is taken in float32,
    as the published code does, and every rank comparison uses those same float32
    values. See `paired_from_scores` for the ranks and metrics.
    """
    return rank_summaries(paired_ranks(image_emb, text_emb))


def paired_ranks(image_emb: Any, text_emb: Any) -> dict[str, np.ndarray]:
    """Each pair's rank in each direction ({"i2t", "t2i"} -> [N] int32), as `paired` ranks them."""
    images = _finite_floats(image_emb, "image_emb").astype(np.float32, copy=False)
    texts = _finite_floats(text_emb, "text_emb").astype(np.float32, copy=False)
    _check_ndim(images, 2, "image_emb")
    _check_ndim(texts, 2, "text_emb")
    if images.shape != texts.shape:
        raise ValueError(
            f"image_emb {images.shape} and text_emb {texts.shape} must have the same shape "
            "(row i of each is pair i)."
        )
    return paired_ranks_from_scores(images @ texts.T)


def paired_from_scores(scores: Any) -> dict[str, dict[str, float]]:
    """Task 1 metrics from the [N, N] score matrix S; see `paired_ranks_from_scores`."""
    return rank_summaries(paired_ranks_from_scores(scores))


def rank_summaries(ranks: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    return {direction: _rank_summary(values) for direction, values in ranks.items()}


def paired_ranks_from_scores(scores: Any) -> dict[str, np.ndarray]:
    """Each pair's rank in each direction from the [N, N] score matrix S, S[i, j] = image i · text j.

    Image-to-text: rank_i = 1 + #{j != i : S[i, j] >= S[i, i]}, so a tie counts
    against the model; text-to-image: the same on Sᵀ. `rank_summaries` gives each
    direction's R@1, R@10 and MRR as fractions and MedR = numpy's median of the ranks, a float that
    ends in .5 when N is even and the two middle ranks differ. The published code
    computes it the same way and prints int(round(medr)), rounding half to even;
    result files keep the float and the leaderboard shows it rounded that way.
    """
    matrix = _finite_floats(scores, "scores")
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"scores must be a non-empty square [N, N] matrix, got {matrix.shape}.")
    diagonal = np.diagonal(matrix)
    # Counting j = i itself (S[i, i] >= S[i, i]) supplies the "1 +". Summing the
    # comparison's bytes as uint8 into int32 is faster than np.count_nonzero.
    at_least = np.greater_equal(matrix, diagonal[:, None])
    image_ranks = at_least.view(np.uint8).sum(axis=1, dtype=np.int32)
    np.greater_equal(matrix, diagonal[None, :], out=at_least)
    text_ranks = at_least.view(np.uint8).sum(axis=0, dtype=np.int32)
    return {"i2t": image_ranks, "t2i": text_ranks}


def _rank_summary(ranks: np.ndarray) -> dict[str, float]:
    ranks = ranks.astype(np.float64)
    return {
        "r1": float(np.mean(ranks <= 1)),
        "r10": float(np.mean(ranks <= 10)),
        "mrr": float(np.mean(1.0 / ranks)),
        "medr": float(np.median(ranks)),
    }


# --------------------------------------------------------------------------- task 1, MTEB's rule


def paired_ranks_by_id(scores: Any, ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Each pair's rank in each direction as MTEB ranks it (`mars_zoo.tasks.mteb_protocol`): by score,
    highest first, and among equal scores by id, the greatest (in code point order, which is
    UTF-8 byte order) first. Pair i's image and caption both have id `ids[i]`. Image-to-text:
    rank_i = 1 + #{j : S[i, j] > S[i, i]} + #{j != i : S[i, j] == S[i, i] and ids[j] > ids[i]};
    text-to-image: the same on Sᵀ."""
    matrix = _finite_floats(scores, "scores")
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(ids):
        raise ValueError(f"scores must be a square [N, N] matrix with one id per pair, got {matrix.shape} "
                         f"and {len(ids)} ids.")
    if len(set(ids)) != len(ids):
        raise ValueError("pair ids must be unique.")
    order = np.empty(len(ids), dtype=np.int64)
    order[sorted(range(len(ids)), key=ids.__getitem__)] = np.arange(len(ids))
    after = order[None, :] > order[:, None]  # [i, j]: ids[j] sorts after ids[i]
    diagonal = np.diagonal(matrix)
    image_ranks = 1 + np.count_nonzero(matrix > diagonal[:, None], axis=1) \
        + np.count_nonzero((matrix == diagonal[:, None]) & after, axis=1)
    text_ranks = 1 + np.count_nonzero(matrix > diagonal[None, :], axis=0) \
        + np.count_nonzero((matrix == diagonal[None, :]) & after.T, axis=0)
    return {"i2t": image_ranks.astype(np.int32), "t2i": text_ranks.astype(np.int32)}


def mteb_rank_summary(ranks: np.ndarray, recall_decimals: int, mrr_cutoff: int) -> dict[str, float]:
    """R@1, R@10, MRR and MedR of one direction's ranks as MTEB reports them: recall_at_k rounded
    to `recall_decimals`; mrr_at_<mrr_cutoff> (a rank beyond the cutoff counts 0) summed in query
    order as MTEB sums it, so that the value is MTEB's to the last bit; MedR (which MTEB does not
    report) numpy's median of the same ranks."""
    count = len(ranks)
    reciprocal = [1.0 / rank if rank <= mrr_cutoff else 0.0 for rank in ranks.tolist()]
    return {
        "r1": round(int(np.count_nonzero(ranks <= 1)) / count, recall_decimals),
        "r10": round(int(np.count_nonzero(ranks <= 10)) / count, recall_decimals),
        "mrr": sum(reciprocal) / count,
        "medr": float(np.median(ranks.astype(np.float64))),
    }


# --------------------------------------------------------------------------- task 2


def landform(scores: Any, relevant: Any) -> dict[str, Any]:
    """Task 2 metrics: one query per row, ranking every image by score.

    `scores` is [Q, N] (query q against image n) and `relevant` a boolean [Q, N]
    (image n is in R(q)). Per query: AP, R-Precision, nDCG@10 (binary gains) and
    Hit@10 as leaderboard/PROTOCOL.md defines them; a query with no relevant image gets None
    for all four and stays out of the means. The ranking is by score, highest
    first, with relevant images after irrelevant ones of equal score.

    Returns {"map", "r_precision", "ndcg@10", "hit@10", "per_query": [{"relevant",
    "ap", "r_precision", "ndcg@10", "hit@10"}, ...]} in query order.
    """
    matrix = _finite_floats(scores, "scores")
    mask = as_numpy(relevant)
    _check_ndim(matrix, 2, "scores")
    if mask.dtype != np.bool_:
        raise ValueError(f"relevant must be a boolean array, got dtype {mask.dtype}.")
    if mask.shape != matrix.shape:
        raise ValueError(f"relevant {mask.shape} must have the shape of scores {matrix.shape}.")
    if not mask.any():
        raise ValueError("No query has a relevant image: landform metrics are undefined.")

    ascending = np.sort(matrix, axis=1)
    per_query = []
    for row, sorted_row, row_mask in zip(matrix, ascending, mask):
        relevant_scores = np.sort(row[row_mask])
        if relevant_scores.size == 0:
            per_query.append(
                {"relevant": 0, "ap": None, "r_precision": None, "ndcg@10": None, "hit@10": None}
            )
            continue
        per_query.append(_query_summary(_relevant_ranks(sorted_row, relevant_scores)))

    scored = [entry for entry in per_query if entry["relevant"] > 0]
    return {
        "map": float(np.mean([entry["ap"] for entry in scored])),
        "r_precision": float(np.mean([entry["r_precision"] for entry in scored])),
        "ndcg@10": float(np.mean([entry["ndcg@10"] for entry in scored])),
        "hit@10": float(np.mean([entry["hit@10"] for entry in scored])),
        "per_query": per_query,
    }


def _relevant_ranks(sorted_row: np.ndarray, relevant_scores: np.ndarray) -> np.ndarray:
    """The 1-based ranks of the relevant items, ascending, under the tie rule.

    Both inputs are sorted ascending: every score of the row, and the scores of its
    relevant items. A group of m relevant items sharing score t is ranked after
    every other item scoring >= t, so it holds the ranks #{score >= t} - m + 1 ..
    #{score >= t}: no argsort of the row is needed, only two binary searches.
    """
    at_least = sorted_row.size - np.searchsorted(sorted_row, relevant_scores, side="left")
    position = np.arange(relevant_scores.size)
    starts_group = np.empty(relevant_scores.size, dtype=bool)
    starts_group[0] = True
    np.not_equal(relevant_scores[1:], relevant_scores[:-1], out=starts_group[1:])
    first_of_group = np.maximum.accumulate(np.where(starts_group, position, 0))
    ranks = at_least - (position - first_of_group)
    return ranks[::-1]


def _query_summary(ranks: np.ndarray) -> dict[str, Any]:
    count = ranks.size
    hits_so_far = np.arange(1, count + 1, dtype=np.float64)
    top = ranks[:_NDCG_DEPTH]
    dcg = float(np.sum(_DISCOUNT[top[top <= _NDCG_DEPTH] - 1]))
    ideal = float(np.sum(_DISCOUNT[: min(count, _NDCG_DEPTH)]))
    return {
        "relevant": int(count),
        "ap": float(np.mean(hits_so_far / ranks)),
        "r_precision": float(np.count_nonzero(ranks <= count) / count),
        "ndcg@10": dcg / ideal,
        "hit@10": float(ranks[0] <= _NDCG_DEPTH),
    }


# --------------------------------------------------------------------------- task 3


def geolocalization(
    scores: Any,
    tile_lonlat: Any,
    gt_lonlat: Any,
    k_max: int = GEO_K_MAX,
    radius: float = GEO_RADIUS_DEG,
    points: int = GEO_CURVE_POINTS,
) -> dict[str, Any]:
    """Task 3 metrics of one query: `scores` [N] over the whole tile gallery.

    The top min(k_max, N) tiles by score are retrieved. A tile is a *hit* when it
    lies within `radius` degrees of some ground-truth point, and a ground-truth point
    is *found* when some retrieved tile lies within `radius` of it. "Within" is
    decided exactly as the published evaluator decides it (leaderboard/PROTOCOL.md,
    task 3): both points are mapped to pixels of its world map (`map_pixels`) and
    sqrt(dx² + dy²) <= radius · 2644 / 360 in float64, inclusive, with no
    wrap-around and no cos(latitude). In exact arithmetic that is the Euclidean test
    in degrees; in floating point it decides points lying exactly `radius` from a
    tile (common on a 0.1° catalogue grid) as the published numbers do.
    Coordinates are taken in float64: pass them as float64 (a float32 12.4 is 4e-7
    degrees off). Among tiles of equal score, non-hits come before hits, then lower
    gallery index first.

    The curve runs over K = step, 2·step, ... up to K_max (plus K_max when off the
    grid), step = max(1, K_max // points): precision(K) = hits among the top K / K,
    recall(K) = found points / all points (0 without ground truth), F1 = 2PR/(P+R)
    or 0. Reported: the best F1 with its precision, recall and first K reaching it,
    and AUPRC, the trapezoidal area under (recall, precision) in recall order.
    Recall can only grow with K, so the K order already is the (stable) recall order.
    """
    values = _finite_floats(scores, "scores")
    tiles = _finite_floats(tile_lonlat, "tile_lonlat").astype(np.float64, copy=False)
    truth = _finite_floats(gt_lonlat, "gt_lonlat").astype(np.float64, copy=False)
    _check_ndim(values, 1, "scores")
    if values.size == 0:
        raise ValueError("scores is empty: the gallery has no tiles.")
    if tiles.shape != (values.size, 2):
        raise ValueError(f"tile_lonlat must be [{values.size}, 2] (lon, lat), got {tiles.shape}.")
    if truth.ndim != 2 or truth.shape[1] != 2:
        raise ValueError(f"gt_lonlat must be [G, 2] (lon, lat), got {truth.shape}.")
    if k_max < 1 or points < 1 or not radius > 0:
        raise ValueError(
            f"Need k_max >= 1, points >= 1 and radius > 0; got {k_max}, {points}, {radius}."
        )

    k = min(k_max, values.size)
    # Every tile scoring at least the k-th best score may enter the top k; which of
    # the tiles tied at that boundary do is decided by the tie rule below.
    if k < values.size:
        boundary = np.partition(values, values.size - k)[values.size - k]
        candidates = np.flatnonzero(values >= boundary)
    else:
        candidates = np.arange(values.size)
    tile_of_pair, point_of_pair = pairs_within_radius(tiles[candidates], truth, radius)
    is_hit = np.zeros(candidates.size, dtype=bool)
    is_hit[tile_of_pair] = True
    # lexsort is stable and `candidates` ascends: equal (score, hit) keep index order.
    ranking = np.lexsort((is_hit, -values[candidates]))[:k]

    hits_in_top = np.cumsum(is_hit[ranking])
    rank_of_candidate = np.full(candidates.size, k)
    rank_of_candidate[ranking] = np.arange(k)
    first_rank = np.full(truth.shape[0], k)
    np.minimum.at(first_rank, point_of_pair, rank_of_candidate[tile_of_pair])
    found_in_top = np.cumsum(np.bincount(first_rank[first_rank < k], minlength=k))

    step = max(1, k // points)
    ks = np.arange(step, k + 1, step)
    if ks[-1] != k:
        ks = np.append(ks, k)
    precision = hits_in_top[ks - 1] / ks
    recall = found_in_top[ks - 1] / truth.shape[0] if truth.shape[0] else np.zeros(ks.size)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(ks.size), where=total > 0)
    best = int(np.argmax(f1))  # the first K reaching the best F1
    auprc = float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) / 2))
    return {
        "f1": float(f1[best]),
        "precision": float(precision[best]),
        "recall": float(recall[best]),
        "k": int(ks[best]),
        "auprc": auprc,
        "curve": {
            "k": ks.tolist(),
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
        },
    }


def pairs_within_radius(tile_lonlat: np.ndarray, gt_lonlat: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Every (tile, ground-truth point) pair lying within `radius` degrees, as two index
    arrays, decided in the published evaluator's map pixels (see `geolocalization`)."""
    return _pairs_within(map_pixels(tile_lonlat), map_pixels(gt_lonlat), radius * (GEO_MAP_WIDTH_PX / 360.0))


def map_pixels(lonlat: np.ndarray) -> np.ndarray:
    """[n, 2] (lon, lat) degrees -> [n, 2] (x, y) pixels of the published evaluator's
    2644 x 1322 world map, in float64 with its operations in its order, so that each
    distance rounds exactly as it does there."""
    lon, lat = lonlat[:, 0], lonlat[:, 1]
    x = (lon + 180) / 360 * GEO_MAP_WIDTH_PX + GEO_MAP_SHIFT_X_PX
    y = (90 - lat) / 180 * GEO_MAP_HEIGHT_PX + GEO_MAP_SHIFT_Y_PX
    return np.stack([x, y], axis=1)


def _pairs_within(a: np.ndarray, b: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """All (i, j) whose Euclidean distance |a[i] - b[j]| is <= radius, as two index arrays.

    Plane points [n, 2] and [g, 2]. Instead of the n x g distance matrix, the points
    of `a` are bucketed into square cells a little wider than `radius` (wide enough
    that rounding in the division cannot put a pair within `radius` two cells
    apart), so each point of `b` is compared only with the points of `a` in its
    3 x 3 cells. The cells only prune; the distance test itself is exact.
    """
    empty = np.zeros(0, dtype=np.intp)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return empty, empty
    width = radius * (1 + 1e-6)
    a_cells = np.floor(a / width).astype(np.int64)
    b_cells = np.floor(b / width).astype(np.int64)
    low = np.minimum(a_cells.min(axis=0), b_cells.min(axis=0)) - 1
    span = np.maximum(a_cells.max(axis=0), b_cells.max(axis=0)) + 2 - low
    if float(span[0]) * float(span[1]) >= 2.0**62:
        raise ValueError(f"radius {radius} is too small for the extent of the coordinates.")
    a_keys = (a_cells[:, 0] - low[0]) * span[1] + (a_cells[:, 1] - low[1])
    b_keys = (b_cells[:, 0] - low[0]) * span[1] + (b_cells[:, 1] - low[1])
    a_order = np.argsort(a_keys)
    a_sorted = a_keys[a_order]

    # For each column offset, the three cells above each other are consecutive keys.
    starts, stops = [], []
    for column in (-1, 0, 1):
        centre = b_keys + column * span[1]
        starts.append(np.searchsorted(a_sorted, centre - 1, side="left"))
        stops.append(np.searchsorted(a_sorted, centre + 1, side="right"))
    start = np.concatenate(starts)
    count = np.concatenate(stops) - start
    owner = np.tile(np.arange(b.shape[0]), 3)
    total = int(count.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    i = a_order[np.repeat(start, count) + offsets]
    j = np.repeat(owner, count)
    delta = a[i] - b[j]
    within = np.sqrt(delta[:, 0] * delta[:, 0] + delta[:, 1] * delta[:, 1]) <= radius
    return i[within], j[within]
