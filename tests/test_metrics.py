"""The metrics against plain loop implementations written from leaderboard/PROTOCOL.md.

The `reference_*` functions below follow the protocol text line by line, with
loops and Python sorts and no shared code with mars_zoo.scoring.metrics; the vectorised
metrics must agree with them to 1e-9 on random inputs, including inputs full of
exact ties and ground-truth points on distance boundaries.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import torch

from mars_zoo.scoring import metrics

TOL = 1e-9


# ------------------------------------------------------------ reference implementations


def reference_paired(images: np.ndarray, texts: np.ndarray) -> dict:
    """Task 1: S = I Tᵀ (float32, as the published code); rank_i = 1 + #{j != i :
    S[i, j] >= S[i, i]}; text-to-image the same on Sᵀ."""
    scores = (images.astype(np.float32) @ texts.astype(np.float32).T).tolist()
    n = len(scores)
    result = {}
    for direction in ("i2t", "t2i"):
        ranks = []
        for i in range(n):
            rank = 1
            for j in range(n):
                if direction == "i2t":
                    own, other = scores[i][i], scores[i][j]
                else:
                    own, other = scores[i][i], scores[j][i]
                if j != i and other >= own:
                    rank += 1
            ranks.append(rank)
        result[direction] = {
            "r1": sum(1 for r in ranks if r <= 1) / n,
            "r10": sum(1 for r in ranks if r <= 10) / n,
            "mrr": sum(1 / r for r in ranks) / n,
            "medr": float(statistics.median(ranks)),
        }
    return result


def reference_landform(scores: np.ndarray, relevant: np.ndarray) -> dict:
    """Task 2: rank every image by score, highest first, relevant after irrelevant
    among equal scores; AP, Hit@10, R-Precision, nDCG@10 per query; means over
    queries with |R| > 0."""
    per_query = []
    for row, row_relevant in zip(scores.tolist(), relevant.tolist()):
        n_relevant = sum(row_relevant)
        if n_relevant == 0:
            per_query.append(
                {"relevant": 0, "ap": None, "r_precision": None, "ndcg@10": None, "hit@10": None}
            )
            continue
        ranking = sorted(range(len(row)), key=lambda n: (-row[n], row_relevant[n]))
        is_relevant = [row_relevant[n] for n in ranking]
        hits, precision_sum = 0, 0.0
        for r, rel in enumerate(is_relevant, start=1):
            if rel:
                hits += 1
                precision_sum += hits / r
        dcg = sum(1 / math.log2(r + 1) for r, rel in enumerate(is_relevant[:10], start=1) if rel)
        idcg = sum(1 / math.log2(r + 1) for r in range(1, min(n_relevant, 10) + 1))
        per_query.append(
            {
                "relevant": n_relevant,
                "ap": precision_sum / n_relevant,
                "r_precision": sum(is_relevant[:n_relevant]) / n_relevant,
                "ndcg@10": dcg / idcg,
                "hit@10": 1.0 if any(is_relevant[:10]) else 0.0,
            }
        )
    scored = [q for q in per_query if q["relevant"] > 0]
    names = {"map": "ap", "r_precision": "r_precision", "ndcg@10": "ndcg@10", "hit@10": "hit@10"}
    result = {name: sum(q[key] for q in scored) / len(scored) for name, key in names.items()}
    result["per_query"] = per_query
    return result


def reference_geolocalization(scores, tiles, truth, k_max, radius, points) -> dict:
    """Task 3, literally: top K_max tiles; for each K on the grid, precision = share
    of the top K within radius of some ground-truth point, recall = share of points
    within radius of some top-K tile; best F1 (first K); AUPRC by trapezoids over
    (recall, precision) sorted by recall, stable. "Within" is measured in pixels of
    the published evaluator's 2644 x 1322 map, as leaderboard/PROTOCOL.md states."""
    scores, tiles, truth = scores.tolist(), tiles.tolist(), truth.tolist()

    def pixel(lon, lat):
        return (lon + 180) / 360 * 2644 + 158, (90 - lat) / 180 * 1322 + 68

    def within(a, b):
        (ax, ay), (bx, by) = pixel(*a), pixel(*b)
        dx, dy = ax - bx, ay - by
        return math.sqrt(dx * dx + dy * dy) <= radius * (2644 / 360)

    near = [[within(tile, point) for point in truth] for tile in tiles]
    is_hit = [any(row) for row in near]
    ranking = sorted(range(len(tiles)), key=lambda n: (-scores[n], is_hit[n], n))
    k_total = min(k_max, len(tiles))
    ranking = ranking[:k_total]
    step = max(1, k_total // points)
    ks = list(range(step, k_total + 1, step))
    if ks[-1] != k_total:
        ks.append(k_total)
    precisions, recalls, f1s = [], [], []
    for k in ks:
        top = ranking[:k]
        precision = sum(1 for n in top if is_hit[n]) / k
        found = sum(1 for g in range(len(truth)) if any(near[n][g] for n in top))
        recall = found / len(truth) if truth else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        precisions.append(precision)
        recalls.append(recall)
        f1s.append(f1)
    best = 0
    for i, f1 in enumerate(f1s):
        if f1 > f1s[best]:
            best = i
    by_recall = sorted(zip(recalls, precisions), key=lambda point: point[0])
    auprc = 0.0
    for (r0, p0), (r1, p1) in zip(by_recall, by_recall[1:]):
        auprc += (r1 - r0) * (p0 + p1) / 2
    return {
        "f1": f1s[best],
        "precision": precisions[best],
        "recall": recalls[best],
        "k": ks[best],
        "auprc": auprc,
        "curve": {"k": ks, "precision": precisions, "recall": recalls, "f1": f1s},
    }


def assert_close(actual, expected, path="result"):
    """Same structure, same types of leaves, numbers equal to TOL."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), path
        for key in expected:
            assert_close(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, f"{path}[{i}]")
    elif expected is None:
        assert actual is None, path
    else:
        assert type(actual) in (int, float) and not isinstance(actual, bool), (path, type(actual))
        assert abs(actual - expected) <= TOL, (path, actual, expected)


# ---------------------------------------------------------------------- input makers


def unit_rows(rng, rows, dim, decimals=None):
    matrix = rng.standard_normal((rows, dim))
    if decimals is not None:
        matrix = np.round(matrix, decimals)
        matrix[np.all(matrix == 0, axis=1), 0] = 1.0
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def landform_inputs(rng, queries, images, decimals=None):
    scores = rng.uniform(-1, 1, (queries, images))
    if decimals is not None:
        scores = np.round(scores, decimals)
    labels = rng.integers(0, queries + 1, images)  # label `queries` belongs to no query
    relevant = labels[None, :] == np.arange(queries)[:, None]
    relevant[0] = False  # a query without relevant images
    relevant[1, 0] = True  # ...and one that surely has one
    return scores.astype(np.float32), relevant


def geo_inputs(rng, tiles, points, ties):
    """Tiles on the 0.2-degree grid; ground-truth points partly random, partly at
    exact distances from tiles (on the radius, on tile corners and edges, a hair
    inside and outside the radius)."""
    grid = np.stack(np.meshgrid(np.arange(-15, 15), np.arange(-10, 10)), axis=-1).reshape(-1, 2)
    cells = grid[rng.choice(len(grid), size=tiles, replace=False)]
    lonlat = cells * 0.2
    random_points = rng.uniform(-3, 3, (points // 2, 2))
    anchors = lonlat[rng.integers(0, tiles, points - points // 2)]
    offsets = np.array(
        [[0.5, 0], [0, -0.5], [0.3, 0.4], [0.4, -0.3], [0.1, 0.1], [0.2, 0], [0.5 + 1e-12, 0],
         [0.5 - 1e-12, 0], [0.7, 0.1], [0.25, 0.25], [0.0, 0.0], [0.1, 0.5]]
    )
    boundary_points = anchors + offsets[rng.integers(0, len(offsets), len(anchors))]
    truth = np.concatenate([random_points, boundary_points])
    scores = rng.uniform(0, 1, tiles)
    if ties:
        scores = np.round(scores, 1)
    return scores.astype(np.float32), lonlat, truth


# ----------------------------------------------------------------------------- task 1


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("size", [1, 2, 11, 40])
@pytest.mark.parametrize("decimals", [None, 0])
def test_paired_matches_reference(seed, size, decimals):
    rng = np.random.default_rng(seed)
    images = unit_rows(rng, size, 8, decimals)
    texts = unit_rows(rng, size, 8, decimals)
    assert_close(metrics.paired(images, texts), reference_paired(images, texts))


def test_paired_hand_computed():
    # S = [[1, 0, 0], [0, 1, 1], [1, 0, 0]]: image ranks 1, 2 (tie), 3; text ranks 2, 1, 3.
    images = np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32)
    texts = np.array([[1, 0], [0, 1], [0, 1]], dtype=np.float32)
    expected_direction = {"r1": 1 / 3, "r10": 1.0, "mrr": (1 + 1 / 2 + 1 / 3) / 3, "medr": 2.0}
    expected = {"i2t": expected_direction, "t2i": expected_direction}
    assert_close(metrics.paired(images, texts), expected)


def test_paired_median_of_even_count_is_halfway():
    # S = [[1, 0], [1, 0]]: image 0 ranks 1, image 1 ranks 2 (its own score 0 < 1).
    images = np.array([[1, 0], [1, 0]], dtype=np.float32)
    texts = np.array([[1, 0], [0, 1]], dtype=np.float32)
    assert metrics.paired(images, texts)["i2t"]["medr"] == 1.5


def test_paired_constant_embeddings_are_at_the_floor():
    size = 25
    same = np.ones((size, 4), dtype=np.float32) / 2
    result = metrics.paired(same, same)
    for direction in ("i2t", "t2i"):
        assert result[direction] == {"r1": 0.0, "r10": 0.0, "mrr": 1 / size, "medr": float(size)}


def test_paired_from_scores_is_paired():
    rng = np.random.default_rng(7)
    images, texts = unit_rows(rng, 30, 5), unit_rows(rng, 30, 5)
    assert metrics.paired_from_scores(images @ texts.T) == metrics.paired(images, texts)


# ----------------------------------------------------------------------------- task 2


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(3, 1), (4, 9), (5, 60), (3, 400)])
@pytest.mark.parametrize("decimals", [None, 1])
def test_landform_matches_reference(seed, shape, decimals):
    rng = np.random.default_rng(seed)
    scores, relevant = landform_inputs(rng, *shape, decimals)
    assert_close(metrics.landform(scores, relevant), reference_landform(scores, relevant))


def test_landform_float64_scores_match_reference():
    rng = np.random.default_rng(11)
    scores, relevant = landform_inputs(rng, 4, 80, 2)
    scores = scores.astype(np.float64) + 1e-12  # distinct from any float32 value
    assert_close(metrics.landform(scores, relevant), reference_landform(scores, relevant))


def test_landform_hand_computed():
    # Query 0, ranked: 0 (irrelevant), 2 (irrelevant, tied with 1 at 0.8 so first),
    # 1 (relevant, rank 3), 3 (irrelevant), 4 (relevant, rank 5), 5 (relevant, rank 6).
    scores = np.array([[0.9, 0.8, 0.8, 0.5, 0.3, 0.1], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
    relevant = np.array([[False, True, False, False, True, True], [False] * 6])
    dcg = 1 / math.log2(4) + 1 / math.log2(6) + 1 / math.log2(7)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    first = {
        "relevant": 3,
        "ap": (1 / 3 + 2 / 5 + 3 / 6) / 3,
        "r_precision": 1 / 3,
        "ndcg@10": dcg / idcg,
        "hit@10": 1.0,
    }
    empty = {"relevant": 0, "ap": None, "r_precision": None, "ndcg@10": None, "hit@10": None}
    expected = {
        "map": first["ap"],
        "r_precision": first["r_precision"],
        "ndcg@10": first["ndcg@10"],
        "hit@10": 1.0,
        "per_query": [first, empty],
    }
    assert_close(metrics.landform(scores, relevant), expected)


def test_landform_constant_scores_are_at_the_floor():
    images, n_relevant = 50, 8
    relevant = np.zeros((1, images), dtype=bool)
    relevant[0, :n_relevant] = True  # the relevant images come first in gallery order
    result = metrics.landform(np.full((1, images), 0.3), relevant)
    # Worst possible: the relevant images take the last ranks.
    worst_ap = sum(k / (images - n_relevant + k) for k in range(1, n_relevant + 1)) / n_relevant
    assert abs(result["map"] - worst_ap) <= TOL
    assert (result["r_precision"], result["ndcg@10"], result["hit@10"]) == (0.0, 0.0, 0.0)


def test_landform_rejects_bad_input():
    with pytest.raises(ValueError, match="relevant"):
        metrics.landform(np.zeros((2, 3)), np.zeros((2, 3), dtype=bool))
    with pytest.raises(ValueError, match="boolean"):
        metrics.landform(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.landform(np.array([[np.nan, 1.0]]), np.array([[True, False]]))


# ----------------------------------------------------------------------------- task 3


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("radius", [0.5, 0.2, 0.35])
@pytest.mark.parametrize(
    ("tiles", "points", "k_max", "curve_points"),
    [(300, 40, 200, 10), (120, 25, 500, 7), (200, 1, 37, 100), (5, 3, 2, 1)],
)
@pytest.mark.parametrize("ties", [False, True])
def test_geolocalization_matches_reference(seed, radius, tiles, points, k_max, curve_points, ties):
    rng = np.random.default_rng(seed)
    scores, lonlat, truth = geo_inputs(rng, tiles, points, ties)
    expected = reference_geolocalization(scores, lonlat, truth, k_max, radius, curve_points)
    actual = metrics.geolocalization(scores, lonlat, truth, k_max, radius, curve_points)
    assert_close(actual, expected)


@pytest.mark.parametrize("radius", [0.5, 0.13])
def test_geolocalization_points_at_the_radius_anywhere(radius):
    # Off-grid tiles, each with ground-truth points one radius away along the axes:
    # whatever cells the implementation buckets points into, none may be missed.
    rng = np.random.default_rng(21)
    lonlat = rng.uniform(-3, 3, (400, 2))
    steps = np.array([[radius, 0], [-radius, 0], [0, radius], [0, -radius]])
    truth = (lonlat[:, None, :] + steps[None, :, :]).reshape(-1, 2)
    scores = rng.uniform(0, 1, 400)
    expected = reference_geolocalization(scores, lonlat, truth, 400, radius, 4)
    assert_close(metrics.geolocalization(scores, lonlat, truth, 400, radius, 4), expected)


def test_geolocalization_hand_computed():
    # Tile 1 is the only hit (0.3 from the first point) and ties tile 0, so it comes
    # second; the second point is far from every tile.
    lonlat = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    truth = np.array([[1.3, 0.0], [5.0, 5.0]])
    scores = np.array([0.9, 0.9, 0.5, 0.1])
    expected = {
        "f1": 0.5,
        "precision": 0.5,
        "recall": 0.5,
        "k": 2,
        "auprc": 0.5 * 0.5 / 2,
        "curve": {
            "k": [1, 2, 3],
            "precision": [0.0, 0.5, 1 / 3],
            "recall": [0.0, 0.5, 0.5],
            "f1": [0.0, 0.5, 2 * (1 / 3) * 0.5 / (1 / 3 + 0.5)],
        },
    }
    actual = metrics.geolocalization(scores, lonlat, truth, k_max=3, radius=0.5, points=3)
    assert_close(actual, expected)


def test_geolocalization_radius_is_inclusive():
    lonlat = np.array([[12.4, 3.2]])
    truth = np.array([[12.9, 3.2]])  # exactly 0.5 degrees east in float64
    result = metrics.geolocalization(np.array([1.0]), lonlat, truth, k_max=1, radius=0.5, points=1)
    assert (result["precision"], result["recall"]) == (1.0, 1.0)


def test_geolocalization_curve_grid_ends_at_k_max():
    rng = np.random.default_rng(3)
    scores, lonlat, truth = geo_inputs(rng, 250, 10, ties=False)
    result = metrics.geolocalization(scores, lonlat, truth, k_max=231, radius=0.5, points=100)
    curve = result["curve"]
    assert curve["k"] == [2 * i for i in range(1, 116)] + [231]  # step 231 // 100 = 2
    assert len(curve["precision"]) == len(curve["recall"]) == len(curve["f1"]) == 116


def test_geolocalization_constant_scores_are_at_the_floor():
    rng = np.random.default_rng(5)
    scores, lonlat, truth = geo_inputs(rng, 300, 30, ties=False)
    is_hit = np.array(
        [any(np.sqrt(((tile - point) ** 2).sum()) <= 0.5 for point in truth) for tile in lonlat]
    )
    k_max = int((~is_hit).sum())  # exactly as many tiles as there are misses
    result = metrics.geolocalization(np.zeros(300), lonlat, truth, k_max, radius=0.5, points=10)
    assert (result["f1"], result["auprc"]) == (0.0, 0.0)
    assert max(result["curve"]["precision"]) == 0.0 and max(result["curve"]["recall"]) == 0.0


def test_geolocalization_without_ground_truth_scores_zero():
    lonlat = np.array([[0.0, 0.0], [0.2, 0.0]])
    result = metrics.geolocalization(np.array([0.3, 0.1]), lonlat, np.zeros((0, 2)), 2, points=2)
    best = (result["f1"], result["precision"], result["recall"], result["k"], result["auprc"])
    assert best == (0.0, 0.0, 0.0, 1, 0.0)


def test_geolocalization_rejects_bad_input():
    with pytest.raises(ValueError, match="tile_lonlat"):
        metrics.geolocalization(np.zeros(3), np.zeros((2, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="empty"):
        metrics.geolocalization(np.zeros(0), np.zeros((0, 2)), np.zeros((1, 2)))


# --------------------------------------------------------------------- torch inputs


def test_torch_inputs_give_the_numpy_results():
    rng = np.random.default_rng(9)
    images, texts = unit_rows(rng, 20, 6, 1), unit_rows(rng, 20, 6, 1)
    tensors = torch.from_numpy
    assert metrics.paired(tensors(images), tensors(texts)) == metrics.paired(images, texts)

    scores, relevant = landform_inputs(rng, 4, 70, 1)
    expected = metrics.landform(scores, relevant)
    assert metrics.landform(tensors(scores), tensors(relevant)) == expected

    scores, lonlat, truth = geo_inputs(rng, 150, 20, ties=True)
    expected = metrics.geolocalization(scores, lonlat, truth, k_max=100, points=20)
    actual = metrics.geolocalization(
        tensors(scores), tensors(lonlat), tensors(truth), k_max=100, points=20
    )
    assert actual == expected


def test_bfloat16_tensors_are_accepted():
    rng = np.random.default_rng(10)
    images = torch.from_numpy(unit_rows(rng, 12, 4)).bfloat16()
    texts = torch.from_numpy(unit_rows(rng, 12, 4)).bfloat16()
    expected = metrics.paired(images.float().numpy(), texts.float().numpy())
    assert metrics.paired(images, texts) == expected
