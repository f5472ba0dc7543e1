"""The tie rule (leaderboard/PROTOCOL.md, common rules: ties) on cases built by hand, against
the published rule as benchmarks/bench_tie_rules.py computes it.

Each case holds an exact float32 tie between a relevant and an irrelevant candidate and a tie
that only rounding to 6 decimals creates, across a cut-off. mars-zoo's numbers must be the hand
computation with exact ties counted against the model and nothing rounded; the published order
(faiss lists exact ties in descending gallery index, then pandas sorts the rounded scores and
keeps that order) must come out better, by the hand-computed amount; the best and worst orders
of the rounded ties bracket both.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from mars_zoo.scoring import metrics

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_tie_rules.py"
TOL = 1e-12


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_tie_rules", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def f32(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


# Images 0-6 irrelevant, clearly first. 7 (relevant) and 8 round to 0.800000, 7 the higher;
# 9, 10 and 11 (relevant, the lowest) round to 0.700000, ranks 10-12 across the cut-off at 10;
# 12 and 13 (relevant) tie exactly at 0.5; 14 is irrelevant.
LANDFORM_SCORES = f32(0.90, 0.89, 0.88, 0.87, 0.86, 0.85, 0.84, 0.8000004, 0.8000003,
                      0.7000004, 0.7000003, 0.7000001, 0.5, 0.5, 0.05)
LANDFORM_RELEVANT = np.zeros(15, dtype=bool)
LANDFORM_RELEVANT[[7, 11, 13]] = True
IDCG_3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)


def landform_by_hand(ranks: list[int]) -> dict[str, float]:
    """The four task-2 numbers of three relevant images at these ranks."""
    return {
        "ap": sum((found + 1) / rank for found, rank in enumerate(ranks)) / 3,
        "hit@10": float(ranks[0] <= 10),
        "r_precision": sum(rank <= 3 for rank in ranks) / 3,
        "ndcg@10": sum(1 / math.log2(rank + 1) for rank in ranks if rank <= 10) / IDCG_3,
    }


# mars-zoo rounds nothing (7 is 8th, 11 is 12th) and puts 13 after 12 (the exact tie): 14th.
MARS_ZOO = landform_by_hand([8, 12, 14])
# Published: faiss lists 13 before 12 (descending index); the rounded groups keep their order.
PUBLISHED = landform_by_hand([8, 12, 13])
BEST = landform_by_hand([8, 10, 13])  # relevant first in every rounded group
WORST = landform_by_hand([9, 12, 14])  # relevant last in every rounded group


def test_landform_counts_exact_ties_against_the_model_and_rounds_nothing():
    result = metrics.landform(LANDFORM_SCORES[None, :], LANDFORM_RELEVANT[None, :])["per_query"][0]
    assert {name: result[name] for name in MARS_ZOO} == pytest.approx(MARS_ZOO, abs=TOL)


def test_the_published_order_of_landform_ties_is_better_by_the_hand_computed_amount(bench):
    values, ties = bench.landform_query(LANDFORM_SCORES, LANDFORM_RELEVANT)
    assert values["published"] == pytest.approx(PUBLISHED, abs=TOL)
    assert values["best"] == pytest.approx(BEST, abs=TOL)
    assert values["worst"] == pytest.approx(WORST, abs=TOL)
    assert WORST["ap"] < MARS_ZOO["ap"] < PUBLISHED["ap"] < BEST["ap"]
    assert BEST["ndcg@10"] > MARS_ZOO["ndcg@10"]
    # Only the rounded group 9-11 straddles a cut-off (rank 10), and it mixes.
    assert ties == {"rounded": 1, "rounded mixed": 1, "exact": 0, "exact mixed": 0}


# Task 3: seven tiles 10 degrees apart on the equator, K_max 5 and a curve point at every K.
# Tiles 0 (a hit, the higher) and 1 round to 0.900000; 2 and 3 (a hit) tie exactly at 0.8;
# 4 (a hit, the lower) and 5 round to 0.600000, ranks 5-6 across K = 5; 6 (a hit) is last.
TILES = np.array([[10.0 * tile, 0.0] for tile in range(7)])
GEO_SCORES = f32(0.9000004, 0.9000001, 0.8, 0.8, 0.6000001, 0.6000004, 0.1)
TRUTH = np.array([[0.1, 0.0], [30.1, 0.0], [40.1, 0.0], [60.1, 0.0], [80.0, 0.0]])
HITS = np.array([True, False, False, True, True, False, True])


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def geo_by_hand(hit_in_order: list[bool]) -> dict[str, float]:
    """Best F1 and AUPRC of the top five tiles, K = 1..5, each hit finding its own point of five."""
    precision = [sum(hit_in_order[:k]) / k for k in range(1, 6)]
    recall = [sum(hit_in_order[:k]) / 5 for k in range(1, 6)]
    area = sum((recall[i + 1] - recall[i]) * (precision[i + 1] + precision[i]) / 2 for i in range(4))
    return {"f1": max(f1(p, r) for p, r in zip(precision, recall)), "auprc": area}


GEO_MARS_ZOO = geo_by_hand([True, False, False, True, False])  # tiles 0, 1, 2, 3, 5
GEO_PUBLISHED = geo_by_hand([True, False, True, False, False])  # tiles 0, 1, 3, 2, 5
GEO_BEST = geo_by_hand([True, False, True, False, True])  # tiles 0, 1, 3, 2, 4
GEO_WORST = geo_by_hand([False, True, False, True, False])  # tiles 1, 0, 2, 3, 5


def test_geolocalization_counts_exact_ties_against_the_model_and_rounds_nothing():
    result = metrics.geolocalization(GEO_SCORES, TILES, TRUTH, k_max=5, radius=0.5, points=5)
    assert {"f1": result["f1"], "auprc": result["auprc"]} == pytest.approx(GEO_MARS_ZOO, abs=TOL)
    assert (result["k"], GEO_MARS_ZOO["f1"]) == (4, pytest.approx(4 / 9, abs=TOL))


def test_the_published_order_of_tile_ties_is_better_by_the_hand_computed_amount(bench):
    gallery = bench.Gallery(TILES, bench.map_pixels(TILES), columns=len(TILES))
    values, ties = bench.geo_query(GEO_SCORES, gallery, TRUTH, HITS, k_max=5, points=5)
    assert values["mars-zoo"] == pytest.approx(GEO_MARS_ZOO, abs=TOL)
    assert values["published"] == pytest.approx(GEO_PUBLISHED, abs=TOL)
    assert values["best"] == pytest.approx(GEO_BEST, abs=TOL)
    assert values["worst"] == pytest.approx(GEO_WORST, abs=TOL)
    assert GEO_MARS_ZOO["f1"] < GEO_PUBLISHED["f1"] < GEO_BEST["f1"]
    # Every group straddles a K and mixes: 0-1 (K = 1, tied once rounded), 2-3 (K = 3,
    # tied exactly) and 4-5 (K = 5, tied once rounded).
    assert ties == {"rounded": 3, "rounded mixed": 3, "exact": 1, "exact mixed": 1}


def test_without_ties_the_benchmark_s_orders_give_the_metrics_numbers_exactly(bench):
    agree, _ = bench.check_tie_free()
    assert agree


def test_where_every_tie_is_exact_mars_zoo_scores_the_worst_order(bench):
    """Scores rounded to float16 tie exactly in large groups; rounding to 6 decimals adds no tie,
    so mars-zoo's numbers must be those of the rounded ranking with relevant candidates last."""
    rng = np.random.default_rng(3)
    setting = bench.Setting("fp16", 0.03)
    scores, relevant = bench.landform_case(rng, setting, classes=4, images=2_000, dim=16)
    for row, row_relevant, project in zip(scores, relevant, metrics.landform(scores, relevant)["per_query"]):
        values, ties = bench.landform_query(row, row_relevant)
        assert values["worst"] == pytest.approx({name: project[name] for name in bench.LANDFORM_METRICS}, abs=TOL)
        assert ties["rounded"] == ties["exact"]
    gallery = bench.Gallery.grid(60)
    truth = bench.ground_truth(rng, 100, gallery.columns)
    near = gallery.near(truth)
    geo = bench.geo_scores(rng, setting, near, separation=1.5, dim=16, k_max=2_000)
    values, ties = bench.geo_query(geo, gallery, truth, near, k_max=2_000, points=100)
    assert values["worst"] == pytest.approx(values["mars-zoo"], abs=TOL)
    assert values["best"]["f1"] > values["mars-zoo"]["f1"]
    assert ties["rounded mixed"] == ties["exact mixed"] > 0


def test_the_quick_run_prints_every_setting(bench, capsys):
    assert bench.main(["--quick", "--settings", "fp32:0.03"]) == 0
    out = capsys.readouterr().out
    assert "all four orders give mars-zoo's numbers exactly: checked" in out
    assert "setting fp32:0.03" in out and out.count("queries: tie groups straddling") == 2
