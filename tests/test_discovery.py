"""`mars-zoo search` on the mini benchmark: the hits are a brute-force ranking of the
cached embeddings, the query is built as task 3 builds it, the files are valid, and the
page is inert, self-contained and works from file://.

Expected values are computed here from first principles: the three prompts written out,
the encoder called directly, the published evaluator's pixel arithmetic, the tile
naming rule parsed with its own regular expression.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import geojson
import numpy as np
import pytest

from browser_support import open_page
from mars_zoo.cache import EmbeddingCache, embeddings_dir
from mars_zoo.cli import main
from mars_zoo.data.benchmark import default_cache_dir, open_benchmark
from mars_zoo.embed import Embedder, EmbedOptions
from mars_zoo.registry import load_registry
from mars_zoo.reporting import Reporter

MODEL = "openclip/tiny-random"
PROMPTS = ("a photo of {}, a type of martian terrain", "a satellite photo of {}.",
           "a high-resolution remote sensing image of {} on Mars.")
HOSTILE = "pitted cones <img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script> & 'q'"
TILE = re.compile(r"^E(_?)(\d+)_(\d)_N(_?)(\d+)_(\d)\.png$")


def unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def search_json(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["search", MODEL, *args, "--benchmark", "mini", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def encoder():
    return load_registry().get(MODEL).load("cpu", "fp32")


@pytest.fixture(scope="module")
def gallery(mini_dir):
    """The tiles and their embeddings as the cache holds them (read with no model call)."""
    registry = load_registry()
    spec = registry.get(MODEL)
    main(["run", MODEL, "--benchmark", "mini", "--tasks", "geolocalization", "--out",
          str(mini_dir.parent / "discovery-warmup.json")])
    data = open_benchmark("mini", data_dir=None, tiles_dir=None, revisions={}, cache_dir=default_cache_dir(),
                          reporter=Reporter()).geolocalization()
    embedder = Embedder(spec, registry.plugin_code(spec), EmbedOptions(),
                        EmbeddingCache(embeddings_dir(default_cache_dir())), Reporter())
    embeddings = embedder.images(data.gallery.images, data.gallery.source, "gallery")
    assert embedder.stats.calls["image"] == 0, "the gallery should come from the cache"
    return list(data.gallery.images.ids), unit(embeddings), data


def expected_top(gallery, query: np.ndarray, k: int) -> list[tuple[str, float]]:
    ids, embeddings, _ = gallery
    scores = embeddings @ query
    order = sorted(range(len(ids)), key=lambda i: (-scores[i], i))[:k]
    return [(ids[i], float(scores[i])) for i in order]


def text_query(encoder, text: str) -> np.ndarray:
    embedded = unit(encoder.encode_text([p.format(text) for p in PROMPTS]).detach().numpy())
    return unit(embedded.mean(axis=0))


def image_embeddings(encoder, paths) -> np.ndarray:
    from PIL import Image
    import torch

    batch = torch.stack([encoder.image_transform(Image.open(p).convert("RGB")) for p in paths])
    return unit(encoder.encode_image(batch).detach().numpy())


def assert_hits_equal(hits: list[dict], expected: list[tuple[str, float]]) -> None:
    assert [hit["tile"] for hit in hits] == [tile for tile, _ in expected]
    np.testing.assert_allclose([hit["score"] for hit in hits], [score for _, score in expected], atol=1e-5)
    assert [hit["rank"] for hit in hits] == list(range(1, len(hits) + 1))


def test_text_search_is_a_brute_force_ranking_of_the_cached_gallery(capsys, tmp_path, gallery, encoder):
    found = search_json(capsys, "pitted cones", "--k", "25", "--out", str(tmp_path))
    assert found["query"]["mode"] == "text" and len(found["hits"]) == 25
    assert found["model_calls"]["image"] == 0  # the gallery came from the run's cache
    assert_hits_equal(found["hits"], expected_top(gallery, text_query(encoder, "pitted cones"), 25))


def query_images(mini_dir, landform: str) -> list[Path]:
    return sorted((mini_dir / "Mars-Global-Geolocalization" / "image_queries" / landform).iterdir())


def test_image_and_hybrid_queries_follow_task_3(capsys, tmp_path, gallery, encoder, mini_dir):
    paths = query_images(mini_dir, "yardangs")
    images = [arg for path in paths for arg in ("--image", str(path))]
    examples = image_embeddings(encoder, paths)

    found = search_json(capsys, *images, "--k", "30", "--out", str(tmp_path / "image"))
    assert found["query"]["mode"] == "image"
    assert_hits_equal(found["hits"], expected_top(gallery, unit(examples.mean(axis=0)), 30))

    found = search_json(capsys, "yardangs", *images, "--k", "30", "--out", str(tmp_path / "hybrid"))
    assert found["query"]["mode"] == "hybrid"
    text = text_query(encoder, "yardangs")
    logits = examples @ text / 0.1
    weights = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    expected = unit(0.3 * unit(weights @ examples) + 0.7 * text)
    assert_hits_equal(found["hits"], expected_top(gallery, expected, 30))


def test_a_second_search_makes_no_model_call(capsys, tmp_path, gallery):
    search_json(capsys, "alluvial fans", "--out", str(tmp_path / "a"))
    again = search_json(capsys, "alluvial fans", "--out", str(tmp_path / "b"))
    assert again["model_calls"] == {"image": 0, "text": 0}


def published_pixels(lon: float, lat: float) -> tuple[float, float]:
    return (lon + 180) / 360 * 2644 + 158, (90 - lat) / 180 * 1322 + 68


def near(a: tuple[float, float], b: tuple[float, float]) -> bool:
    (ax, ay), (bx, by) = published_pixels(*a), published_pixels(*b)
    return math.sqrt((ax - bx) ** 2 + (ay - by) ** 2) <= 0.5 * 2644 / 360


def test_hits_are_checked_against_the_named_landforms_catalogue(capsys, tmp_path, gallery):
    found = search_json(capsys, "Pitted-Cones", "--k", "40", "--out", str(tmp_path))
    truth = gallery[2].ground_truth["pitted_cones"].tolist()
    assert found["query"]["landform"] == "pitted_cones"
    tiles = [(hit["lon"], hit["lat"]) for hit in found["hits"]]
    flags = [any(near(tile, point) for point in truth) for tile in tiles]
    assert [hit["near_ground_truth"] for hit in found["hits"]] == flags
    coverage = found["coverage"]
    assert coverage["points"] == len(truth)
    assert coverage["precision"] == pytest.approx(sum(flags) / len(flags))
    assert coverage["recall"] == pytest.approx(sum(any(near(t, p) for t in tiles) for p in truth) / len(truth))
    plain = search_json(capsys, "craters", "--out", str(tmp_path / "plain"))
    assert plain["coverage"] is None and all(hit["near_ground_truth"] is None for hit in plain["hits"])


def corner(tile: str) -> tuple[float, float]:
    west_sign, west, west_tenth, south_sign, south, south_tenth = TILE.match(tile).groups()
    return (float(f"{'-' if west_sign else ''}{west}.{west_tenth}"),
            float(f"{'-' if south_sign else ''}{south}.{south_tenth}"))


def test_csv_and_geojson_hold_the_hits_with_their_footprints(capsys, tmp_path):
    found = search_json(capsys, "landslides", "--k", "15", "--out", str(tmp_path))
    rows = list(csv.DictReader(io.StringIO((tmp_path / "hits.csv").read_text())))
    assert [row["tile"] for row in rows] == [hit["tile"] for hit in found["hits"]]
    assert [float(row["score"]) for row in rows] == [hit["score"] for hit in found["hits"]]

    collection = geojson.loads((tmp_path / "hits.geojson").read_text())
    assert collection.is_valid, collection.errors()
    assert collection["query"]["text"] == "landslides"
    for feature, hit in zip(collection["features"], found["hits"], strict=True):
        west, south = corner(hit["tile"])
        assert (hit["lon"], hit["lat"]) == (west, south)
        ring = feature["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) == 5
        np.testing.assert_allclose(ring, [[west, south], [west + 0.2, south], [west + 0.2, south + 0.2],
                                          [west, south + 0.2], [west, south]], atol=1e-9)
        area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:]))
        assert area > 0, "exterior rings are counter-clockwise (RFC 7946)"
        assert feature["properties"]["rank"] == hit["rank"]


def test_the_page_is_self_contained_and_hostile_text_stays_text(capsys, tmp_path, context, artifacts):
    search_json(capsys, HOSTILE, "--k", "20", "--out", str(tmp_path))
    page_file = tmp_path / "search.html"
    prefix = page_file.resolve().as_uri()
    ctx = context(prefix, viewport={"width": 1440, "height": 900})
    page, visit = open_page(ctx, prefix)
    page.wait_for_timeout(50)
    assert page.evaluate("window.__xss") is None and visit.dialogs == []
    assert visit.console_errors == [] and ctx.outside == []
    assert page.locator("h1").inner_text() == HOSTILE
    assert page.locator("svg circle.hit").count() == 20
    assert page.locator("table tbody tr").count() == 20
    assert page.locator(".grid img").count() == 20
    assert page.locator("script").count() == 0


def test_the_readme_page_screenshot(capsys, tmp_path, context, artifacts):
    """Produces the screenshot the README shows (the README's own example command)."""
    search_json(capsys, "pitted cones", "--out", str(tmp_path))
    prefix = (tmp_path / "search.html").resolve().as_uri()
    page, visit = open_page(context(prefix, viewport={"width": 1440, "height": 900}), prefix)
    assert visit.console_errors == []
    page.screenshot(path=str(artifacts / "search-pitted-cones.png"))
    assert (artifacts / "search-pitted-cones.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "needs at least one example image"),
        (["craters", "--mode", "image"], "needs at least one example image"),
        (["--mode", "text"], "needs a query text"),
        (["craters", "--image", "/nonexistent/cone.png"], "/nonexistent/cone.png"),
    ],
)
def test_user_mistakes_give_one_paragraph_and_a_nonzero_exit(capsys, tmp_path, args, message):
    code = main(["search", MODEL, *args, "--benchmark", "mini", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code != 0 and message in " ".join(err.split()) and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_image_only_model_refuses_text_queries(capsys, tmp_path, plugins_dir):
    code = main(["search", "fake/image-only", "craters", "--benchmark", "mini", "--plugins-dir", str(plugins_dir),
                 "--out", str(tmp_path / "out")])
    err = " ".join(capsys.readouterr().err.split())
    assert code != 0 and "'fake/image-only' is image-only" in err


def test_out_must_be_a_folder(capsys, tmp_path):
    (tmp_path / "taken").write_text("keep me")
    code = main(["search", MODEL, "craters", "--benchmark", "mini", "--out", str(tmp_path / "taken")])
    assert code != 0 and "is a file" in capsys.readouterr().err
    assert (tmp_path / "taken").read_text() == "keep me"
