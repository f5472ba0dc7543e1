"""Task 3 numbers against the published evaluator, on ground truth that hits its rounding.

`published_evaluate` restates, without any code of mars_zoo, the arithmetic of the
released MarsRetrieval evaluator (leaderboard/PROTOCOL.md, task 3): every point is mapped
to pixels of a 2644 x 1322 map, x = (lon + 180) / 360 * 2644 + 158 and
y = (90 - lat) / 180 * 1322 + 68 in float64; nearest-neighbour distances come from a k-d
tree over those pixels, a hit being a distance <= 0.5 * (2644 / 360); for each K of the
curve the top-K tiles are evaluated afresh; the best F1 is the first strictly greater one;
AUPRC is the trapezoidal area over (recall, precision) ordered by `np.argsort(recall)`.

Catalogue points on a 0.1 degree grid lie exactly 0.5 degrees from many tiles (offsets
(0.5, 0), (0.3, 0.4), ...), and there floating-point rounding decides: the same test in
degrees decides some of those pairs the other way. The cases below are built so that it
does (checked in the test), and `mars_zoo.scoring.metrics.geolocalization` must give the
published F1, precision, recall, K and AUPRC to 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from mars_zoo.scoring import metrics

TOL = 1e-9
RADIUS_DEG = 0.5
# Offsets (in tenths of a degree) of catalogue points exactly 0.5 degrees from a tile corner.
BOUNDARY_TENTHS = [(5, 0), (-5, 0), (0, 5), (0, -5), (3, 4), (-3, 4), (3, -4), (-3, -4),
                   (4, 3), (-4, 3), (4, -3), (-4, -3)]


def published_pixels(lonlat: np.ndarray) -> np.ndarray:
    lon, lat = np.asarray(lonlat[:, 0]), np.asarray(lonlat[:, 1])
    return np.stack([(lon + 180) / 360 * 2644 + 158, (90 - lat) / 180 * 1322 + 68], axis=1)


def published_coverage(truth_px: np.ndarray, top_px: np.ndarray) -> tuple[float, float, float]:
    radius_px = RADIUS_DEG * (2644 / 360.0)
    found = int((cKDTree(top_px).query(truth_px, k=1)[0] <= radius_px).sum())
    hits = int((cKDTree(truth_px).query(top_px, k=1)[0] <= radius_px).sum())
    recall, precision = found / len(truth_px), hits / len(top_px)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def published_evaluate(ranked_lonlat: np.ndarray, truth: np.ndarray, k_max: int, points: int) -> dict:
    """The published evaluator on tiles already in descending score order."""
    truth_px, ranked_px = published_pixels(truth), published_pixels(ranked_lonlat)
    k_top = min(len(ranked_px), k_max)
    step = max(1, k_top // points)
    ks = list(range(step, k_top + 1, step))
    if ks[-1] != k_top:
        ks.append(k_top)
    best, precisions, recalls = None, [], []
    for k in ks:
        precision, recall, f1 = published_coverage(truth_px, ranked_px[:k])
        if best is None or f1 > best["f1"]:
            best = {"k": k, "f1": f1, "precision": precision, "recall": recall}
        precisions.append(precision)
        recalls.append(recall)
    order = np.argsort(np.array(recalls))
    r, p = np.array(recalls)[order], np.array(precisions)[order]
    return {**best, "auprc": float(np.sum(np.diff(r) * (p[1:] + p[:-1]) / 2.0))}


def tenths_to_degrees(tenths: np.ndarray) -> np.ndarray:
    """Coordinates as a catalogue CSV or a tile name gives them: the float64 nearest to
    the one-decimal number."""
    return np.array([[float(f"{lon / 10:.1f}"), float(f"{lat / 10:.1f}")] for lon, lat in tenths])


def grid_case(seed: int, tiles: int, points: int, lon_range: tuple[int, int], lat_range: tuple[int, int]):
    """A sparse gallery of tiles (lower-left corners on the 0.2 degree grid) and catalogue
    points on the 0.1 degree grid, most of them exactly 0.5 degrees from some tile."""
    rng = np.random.default_rng(seed)
    lon_cells = np.arange(lon_range[0] // 2, lon_range[1] // 2)
    lat_cells = np.arange(lat_range[0] // 2, lat_range[1] // 2)
    cells = np.stack(np.meshgrid(lon_cells, lat_cells), axis=-1).reshape(-1, 2)
    tile_tenths = 2 * cells[rng.choice(len(cells), size=tiles, replace=False)]
    anchors = tile_tenths[rng.integers(0, tiles, points)]
    offsets = np.array(BOUNDARY_TENTHS)[rng.integers(0, len(BOUNDARY_TENTHS), points)]
    truth_tenths = anchors + offsets
    stray = rng.random(points) < 0.2  # some points anywhere on the 0.1 degree grid
    truth_tenths[stray] = np.stack(
        [rng.integers(*lon_range, stray.sum()), rng.integers(*lat_range, stray.sum())], axis=1
    )
    scores = rng.permutation(tiles).astype(np.float64) / tiles  # no ties: the order is the score order
    return scores, tenths_to_degrees(tile_tenths), tenths_to_degrees(truth_tenths)


def disagreements(tiles: np.ndarray, truth: np.ndarray) -> int:
    """Tile-point pairs that the test in degrees and the test in map pixels decide differently."""
    delta = tiles[:, None, :] - truth[None, :, :]
    in_degrees = np.sqrt(delta[..., 0] ** 2 + delta[..., 1] ** 2) <= RADIUS_DEG
    pixel_delta = published_pixels(tiles)[:, None, :] - published_pixels(truth)[None, :, :]
    in_pixels = np.sqrt(pixel_delta[..., 0] ** 2 + pixel_delta[..., 1] ** 2) <= RADIUS_DEG * 2644 / 360
    return int((in_degrees != in_pixels).sum())


CASES = [
    # seed, tiles, points, lon range and lat range in tenths of a degree, k_max, curve points
    (0, 1500, 300, (-1800, -1500), (-700, -400), 1000, 100),
    (1, 1500, 300, (-100, 100), (-100, 100), 900, 100),
    (2, 1500, 300, (1200, 1500), (400, 700), 1500, 100),
    (3, 2000, 400, (1500, 1800), (-790, -500), 1200, 37),
    (4, 800, 200, (-900, -600), (100, 400), 20_000, 100),  # fewer tiles than the protocol's K_max
]


@pytest.mark.parametrize(("seed", "tiles", "points", "lon_range", "lat_range", "k_max", "curve"), CASES)
def test_geolocalization_gives_the_published_numbers_on_a_tenth_degree_grid(
    seed, tiles, points, lon_range, lat_range, k_max, curve
):
    scores, lonlat, truth = grid_case(seed, tiles, points, lon_range, lat_range)
    assert disagreements(lonlat, truth) > 0, "the case must hit the rounding it is about"
    expected = published_evaluate(lonlat[np.argsort(-scores)], truth, k_max, curve)
    actual = metrics.geolocalization(scores, lonlat, truth, k_max=k_max, radius=RADIUS_DEG, points=curve)
    for key in ("f1", "precision", "recall", "auprc"):
        assert math.isclose(actual[key], expected[key], rel_tol=0, abs_tol=TOL), (key, actual[key], expected[key])
    assert actual["k"] == expected["k"]


def test_points_exactly_half_a_degree_away_are_decided_in_map_pixels():
    # Two tiles, each with one catalogue point 0.3 east and 0.4 north of it (a 3-4-5
    # triangle: exactly 0.5 degrees). In map pixels the first pair is outside the radius
    # and the second inside; in degrees it is the other way round.
    tiles = np.array([[-179.8, -69.8], [-180.0, -50.0]])
    truth = np.array([[-179.5, -69.4], [-179.7, -49.6]])
    tile_px, truth_px = published_pixels(tiles), published_pixels(truth)
    radius_px = RADIUS_DEG * (2644 / 360.0)
    assert [math.dist(tile_px[i], truth_px[i]) <= radius_px for i in (0, 1)] == [False, True]
    assert [math.dist(tiles[i], truth[i]) <= RADIUS_DEG for i in (0, 1)] == [True, False]
    result = metrics.geolocalization(np.array([0.9, 0.1]), tiles, truth, k_max=2, radius=RADIUS_DEG, points=2)
    assert result["curve"] == {"k": [1, 2], "precision": [0.0, 0.5], "recall": [0.0, 0.5], "f1": [0.0, 0.5]}
