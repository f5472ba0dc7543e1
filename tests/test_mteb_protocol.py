"""Task 1 under MTEB's protocol (`--paired-protocol mteb`, mars_zoo/tasks/mteb_protocol.py).

What each test proves, and what it does not:

- The rank rule and the numbers are checked against a computation written out here from mteb
  2.26.24's own expressions (`_evaluators/retrieval_metrics.py`: `sorted(doc_scores.items(),
  key=lambda item: (item[1], item[0]), reverse=True)`, recall rounded to 5 decimals, MRR as
  `sum(...) / len(...)`), on score matrices full of ties. That pytrec_eval orders ties the same way
  (by document id, greatest first) is not shown here: mteb is not installed in this environment.
  `benchmarks/mteb_parity.py` installs mteb 2.26.24 in a side folder and compares mteb's own
  evaluation (pytrec_eval included) with `mars-zoo run --paired-protocol mteb` on 2,247 pairs
  with transparent, palette, 16-bit, CMYK and EXIF-rotated images: every number equal.
- The image preparation is checked against PIL called directly (open, load, EXIF transpose):
  the model gets each image in its stored mode, as MTEB's evaluator hands it to a wrapper.
- An end-to-end run with a fake model checks that the run uses both (its metrics equal the
  independent computation on independently decoded images) and that the preparation keys the
  image cache while captions stay shared.
- The parity benchmark's data (its builder, without mteb) is read whole by mars-zoo and holds
  the odd images it is meant to.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageOps

from mars_zoo.scoring import metrics
from mars_zoo.data import hub_format
from mars_zoo.data.arrow_splits import ArrowSplit
from mars_zoo.data.image_sources import DatasetImageSource
from mars_zoo.data.images import MTEB_PREPARATION, PUBLISHED_PREPARATION
from mars_zoo.data.specs import PAIRS_FROZEN
from mars_zoo.tasks.mteb_protocol import MRR_CUTOFF, RECALL_DECIMALS
from mars_zoo.models.plugin_manager import PluginInfo, build_plugin_manager
from mars_zoo.models.registry import Registry
from mars_zoo.core.reporting import Reporter
from mars_zoo.results.consistency import consistency_problems
from mars_zoo.results.validation import validate_file
from mars_zoo.pipeline.runner import RunConfig, run


def mteb_expected(scores: np.ndarray, ids: list[str]) -> dict[str, dict[str, float]]:
    """MTEB's numbers of an [N, N] image x caption score matrix, computed as mteb 2.26.24 does:
    each query's candidates sorted by (score, id) in reverse, the rank of its own pair's."""
    out = {}
    for direction, rows in (("i2t", scores), ("t2i", scores.T)):
        ranks = []
        for query, row in zip(ids, rows):
            ranking = sorted(zip(ids, row.tolist()), key=lambda item: (item[1], item[0]), reverse=True)
            ranks.append(1 + [doc for doc, _ in ranking].index(query))
        out[direction] = {
            "r1": round(sum(float(rank <= 1) for rank in ranks) / len(ranks), 5),
            "r10": round(sum(float(rank <= 10) for rank in ranks) / len(ranks), 5),
            "mrr": sum(1.0 / rank if rank <= 2247 else 0.0 for rank in ranks) / len(ranks),
            "medr": float(np.median(ranks)),
        }
    return out


def mars_zoo_mteb(scores: np.ndarray, ids: list[str]) -> dict[str, dict[str, float]]:
    ranks = metrics.paired_ranks_by_id(scores, ids)
    return {direction: metrics.mteb_rank_summary(values, RECALL_DECIMALS, MRR_CUTOFF)
            for direction, values in ranks.items()}


IDS = ["b7", "B7", "a10", "a9", "10", "9", "z", "Ä", "pair-0003", "pair-12", "x", "ab", "a"]


def score_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    n = len(IDS)
    with_match_ties = rng.normal(0, 1, (n, n)).astype(np.float32)
    with_match_ties[rng.random((n, n)) < 0.4] = np.float32(0.5)
    np.fill_diagonal(with_match_ties, np.float32(0.5))
    return {
        "constant": np.full((n, n), 0.3, dtype=np.float32),
        "three levels": (rng.integers(0, 3, (n, n)) / 4).astype(np.float32),
        "ties with the match": with_match_ties,
        "no ties": rng.normal(0, 1, (n, n)).astype(np.float32),
    }


@pytest.mark.parametrize("case", list(score_cases()))
def test_mteb_rule_equals_mtebs_own_sort_on_tied_scores(case):
    scores = score_cases()[case]
    assert mars_zoo_mteb(scores, IDS) == mteb_expected(scores, IDS)


def test_under_mtebs_rule_a_constant_model_is_not_at_the_floor_and_recall_is_rounded():
    """The published rule puts every tied match last (R@1 = 0); MTEB's puts a tied match after
    the ids greater than its own, so the pair with the greatest id ranks first: R@1 = 1/13,
    reported as round(1/13, 5)."""
    scores = score_cases()["constant"]
    assert metrics.paired_from_scores(scores)["i2t"]["r1"] == 0
    ours = mars_zoo_mteb(scores, IDS)
    assert ours["i2t"]["r1"] == ours["t2i"]["r1"] == 0.07692 != 1 / 13
    mrr = sum(1 / rank for rank in range(1, 14)) / 13  # every rank from 1 to 13 once
    assert ours["i2t"]["mrr"] == pytest.approx(mrr, abs=1e-15) and ours["i2t"]["mrr"] != round(mrr, 5)


# --------------------------------------------------------------------------- images


def _bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def odd_images() -> dict[str, bytes]:
    """Images whose stored mode, size or orientation a preparation could change."""
    rng = np.random.default_rng(3)
    rgb = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), "RGB")
    alpha = Image.fromarray(rng.integers(0, 256, (37, 53), dtype=np.uint8), "L")
    rgba, la = rgb.copy(), rgb.convert("L")
    rgba.putalpha(alpha)
    la.putalpha(alpha)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotated 90 degrees
    return {
        "rgb": _bytes(rgb, "PNG"),
        "rgba": _bytes(rgba, "PNG"),
        "la": _bytes(la, "PNG"),
        "palette": _bytes(rgb.quantize(colors=16), "PNG", transparency=3),
        "grey16": _bytes(Image.fromarray(rng.integers(0, 65536, (20, 31), dtype=np.uint16)), "PNG"),
        "cmyk": _bytes(rgb.convert("CMYK"), "JPEG", quality=90),
        "exif": _bytes(rgb, "JPEG", quality=90, exif=exif.tobytes()),
        "dot": _bytes(Image.new("RGB", (2, 1), (200, 10, 30)), "PNG"),
        "wide": _bytes(rgb.resize((301, 5)), "PNG"),
    }


def stored(data: bytes) -> Image.Image:
    """An image as stored, PIL called directly: opened, loaded, turned upright by its EXIF tag."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return ImageOps.exif_transpose(image)


def test_mtebs_preparation_hands_the_model_each_image_in_its_stored_mode():
    from datasets import Dataset, Features
    from datasets import Image as ImageFeature

    images = odd_images()
    table = Dataset.from_dict({"image": [{"bytes": data, "path": None} for data in images.values()]},
                              features=Features({"image": ImageFeature()}))
    mteb = DatasetImageSource(ArrowSplit.of(table), "image", list(images), "a test table", preparation=MTEB_PREPARATION)
    published = DatasetImageSource(ArrowSplit.of(table), "image", list(images), "a test table",
                                   preparation=PUBLISHED_PREPARATION)
    for index, (name, data) in enumerate(images.items()):
        seen, expected = mteb[index], stored(data)
        assert (seen.mode, seen.size) == (expected.mode, expected.size), name
        assert np.array_equal(np.asarray(seen), np.asarray(expected)), name
        assert (published[index].mode, published[index].size) == ("RGB", (512, 512)), name
    assert {mteb[index].mode for index in range(len(images))} >= {"RGBA", "LA", "P", "CMYK", "RGB"}
    assert mteb[list(images).index("exif")].size == (37, 53)  # 53 x 37 stored, rotated upright


# --------------------------------------------------------------------------- a run


@pytest.fixture(scope="module")
def registry():
    import fake_models

    pm = build_plugin_manager()
    pm.add(fake_models, PluginInfo("fake", "test", "tests", "0"))
    return Registry(pm)


KEYS = ["q-3", "Q-10", "a", "b-2", "b-10", "zeta", "ü", "0", "9", "pair"]  # not in index order


@pytest.fixture(scope="module")
def pairs_copy(tmp_path_factory):
    """A frozen-pairs copy in the Hub layout whose images are the odd ones (generated, so marked
    synthetic)."""
    root = tmp_path_factory.mktemp("mteb-pairs")
    folder = root / PAIRS_FROZEN.name
    records = [{"key": key, "image": data, "ori_caption": f"caption {key}", "refined_caption": f"a {name} scene {key}",
                "source_url": f"http://x.invalid/{key}", "resolved_url": f"http://x.invalid/{key}",
                "recovery_method": "direct"}
               for key, (name, data) in zip(KEYS, list(odd_images().items()) + [("again", odd_images()["rgba"])])]
    hub_format.write_pairs_frozen(folder, records)
    hub_format.mark_synthetic(folder)
    return root, records


def evaluate(registry, model, data_dir, cache, out, protocol):
    config = RunConfig(model=model, out=out, tasks=("paired",), data_dir=data_dir, cache_dir=cache,
                       paired_protocol=protocol)
    return run(config, registry, Reporter())


@pytest.mark.parametrize("model", ["fake/good", "fake/constant"])
def test_a_run_under_mtebs_protocol_scores_stored_images_by_mtebs_rule(registry, pairs_copy, tmp_path, model):
    import fake_models

    root, records = pairs_copy
    result, _ = evaluate(registry, model, root, tmp_path / "cache", tmp_path / "r.json", "mteb")
    assert validate_file(tmp_path / "r.json") == []
    paired = result["tasks"]["paired"]
    assert paired["image_preparation"] == MTEB_PREPARATION and paired["dataset"]["missing"] == []
    if model == "fake/good":
        images = np.stack([fake_models.image_features(stored(record["image"])) for record in records])
        texts = np.stack([fake_models.text_features(record["refined_caption"]) for record in records])
    else:
        images = texts = np.ones((len(records), fake_models.DIM))
    unit = [(array / np.linalg.norm(array, axis=1, keepdims=True)).astype(np.float32) for array in (images, texts)]
    assert paired["metrics"] == mteb_expected(unit[0] @ unit[1].T, [record["key"] for record in records])


def test_the_preparation_keys_the_image_cache_and_captions_are_shared(registry, pairs_copy, tmp_path):
    root, _ = pairs_copy
    cache = tmp_path / "cache"
    _, first = evaluate(registry, "fake/good", root, cache, tmp_path / "m.json", "mteb")
    assert first.stats.calls["image"] > 0 and first.stats.calls["text"] > 0
    published, other = evaluate(registry, "fake/good", root, cache, tmp_path / "p.json", "marsretrieval")
    assert other.stats.calls["image"] > 0 and other.stats.calls["text"] == 0
    assert published["tasks"]["paired"]["image_preparation"] == PUBLISHED_PREPARATION
    again, warm = evaluate(registry, "fake/good", root, cache, tmp_path / "m2.json", "mteb")
    assert warm.stats.calls == {"image": 0, "text": 0}
    assert again["tasks"]["paired"]["metrics"] == json.loads((tmp_path / "m.json").read_text())["tasks"]["paired"]["metrics"]


# --------------------------------------------------------------------------- result files


def test_rounded_recall_is_consistent_only_in_a_result_measured_under_mtebs_protocol(mini_run):
    """MTEB writes recall rounded to 5 decimals, so under its preparation round(k / N, 5) is a
    count of queries and k / N itself is not; under the paper's it is the other way round."""
    result = json.loads(json.dumps(mini_run))
    paired = result["tasks"]["paired"]
    assert list(consistency_problems(result)) == []
    exact = {direction: dict(values) for direction, values in paired["metrics"].items()}
    paired["image_preparation"] = MTEB_PREPARATION
    problems = {problem.field for problem in consistency_problems(result)}
    assert {"tasks.paired.metrics.t2i.r10", "tasks.paired.metrics.i2t.r10"} <= problems
    for values in paired["metrics"].values():
        values.update(r1=round(values["r1"], RECALL_DECIMALS), r10=round(values["r10"], RECALL_DECIMALS))
    assert list(consistency_problems(result)) == []
    paired["image_preparation"] = PUBLISHED_PREPARATION
    assert {problem.field for problem in consistency_problems(result)} >= {"tasks.paired.metrics.t2i.r10"}
    paired["metrics"] = exact
    assert list(consistency_problems(result)) == []


def test_the_parity_benchmarks_pairs_are_read_whole_and_keep_their_odd_modes(mini_dir, tmp_path, monkeypatch):
    """The copy `benchmarks/mteb_parity.py` hands both sides (here 80 of its 2,247 rows) is one
    mars-zoo reads whole under MTEB's preparation, with the odd images it is meant to have."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from mteb_parity import write_pairs

    from mars_zoo.data.benchmark import open_benchmark

    write_pairs(tmp_path / "data" / PAIRS_FROZEN.name, mini_dir / PAIRS_FROZEN.name, 80)
    pairs = open_benchmark(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache").paired(preparation=MTEB_PREPARATION)
    assert (len(pairs.keys), pairs.missing) == (80, []) and len(set(pairs.captions)) == 80
    modes = {pairs.images[index].mode for index in range(len(pairs.keys))}
    assert modes >= {"RGB", "RGBA", "LA", "P", "L", "CMYK"} and modes & {"I;16", "I"}
