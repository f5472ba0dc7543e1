"""Bootstrap confidence intervals: equal to an independent bootstrap, seeded, and checked by validate."""

import copy

import numpy as np
import pytest

from mars_zoo.results.validation import validate_result
from mars_zoo.scoring.uncertainty import intervals

def reference(values, seed, statistic=np.mean):
    """The percentile bootstrap written out: 1000 draws of n indices with replacement, 2.5 / 97.5 %."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(values), size=(1000, len(values)))
    return list(np.percentile(statistic(values[draws], axis=1), [2.5, 97.5]))


@pytest.fixture(scope="module")
def result(mini_run):
    return mini_run


def test_intervals_of_a_run_equal_an_independent_bootstrap(result):
    paired = result["tasks"]["paired"]
    seed = result["run"]["seed"]
    assert all(section["confidence"]["seed"] == seed for section in result["tasks"].values())
    for direction, values in paired["per_query"].items():
        ranks = np.array(values["rank"], dtype=np.float64)
        assert len(ranks) == paired["dataset"]["items"]
        got = paired["confidence"]["metrics"][direction]
        assert got["r1"] == reference(ranks <= 1, seed)
        assert got["r10"] == reference(ranks <= 10, seed)
        assert got["mrr"] == reference(1 / ranks, seed)
        assert got["medr"] == reference(ranks, seed, np.median)
    landform = result["tasks"]["landform"]
    rows = [row for row in landform["per_class"] if row["relevant"] > 0]
    for metric, key in (("map", "ap"), ("r_precision", "r_precision"), ("ndcg@10", "ndcg@10"), ("hit@10", "hit@10")):
        assert landform["confidence"]["metrics"][metric] == reference([row[key] for row in rows], seed)
    geo = result["tasks"]["geolocalization"]
    assert "wide" in geo["confidence"]["warning"]
    for mode, metrics in geo["confidence"]["metrics"].items():
        for key in ("f1", "auprc"):
            values = [row[key] for row in geo["per_landform"] if row["mode"] == mode]
            assert len(values) == 5 and metrics[key] == reference(values, seed)
    assert validate_result(result) == []


def test_intervals_are_seeded_and_deterministic():
    values = np.random.default_rng(0).random(50)
    assert intervals({"x": values}, 3) == intervals({"x": values}, 3)
    assert intervals({"x": values}, 3) != intervals({"x": values}, 4)
    low, high = intervals({"x": values}, 3)["x"]
    assert low < values.mean() < high


@pytest.mark.parametrize("edit, field", [
    (lambda r: r["tasks"]["paired"]["confidence"]["metrics"]["t2i"].update(r1=[0.9, 0.95]), "confidence.metrics.t2i.r1"),
    (lambda r: r["tasks"]["landform"]["confidence"]["metrics"].update(map=[0.5, 0.1]), "confidence.metrics.map"),
    (lambda r: r["tasks"]["paired"]["per_query"]["i2t"]["rank"].reverse() or
     r["tasks"]["paired"]["per_query"]["i2t"]["rank"].__setitem__(0, 1), "metrics.i2t"),
    (lambda r: r["tasks"]["paired"]["per_query"]["t2i"]["rank"].pop(), "per_query.t2i.rank"),
    (lambda r: r["tasks"]["geolocalization"]["confidence"].update(seed=r["run"]["seed"] + 1), "confidence.seed"),
])
def test_validate_refuses_inconsistent_intervals_and_per_query_values(result, edit, field):
    broken = copy.deepcopy(result)
    edit(broken)
    problems = validate_result(broken)
    assert any(field in problem for problem in problems), problems

