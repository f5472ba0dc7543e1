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

from browser_support import axe_source, open_page
from mars_zoo.embedding.cache import EmbeddingCache, embeddings_dir
from mars_zoo.cli import main
from mars_zoo.data.benchmark import open_benchmark
from mars_zoo.embedding.embed import Embedder, EmbedOptions
from mars_zoo.core.folders import default_cache_dir
from mars_zoo.models.registry import load_registry
from mars_zoo.core.reporting import Reporter

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
    page.wait_for_selector(".hit-marker")
    assert page.evaluate("window.__xss") is None and visit.dialogs == []
    assert visit.console_errors == [] and ctx.outside == []
    assert page.locator("h1").inner_text() == HOSTILE
    assert page.locator(".leaflet-container .hit-marker").count() == 20
    assert page.locator("table tbody tr").count() == 20
    assert page.locator(".grid img").count() == 20
    # Leaflet and the page's own script, each allowed by its hash, and the hits as data
    assert page.locator("script:not([type])").count() == 2
    assert page.locator("script[type='application/json']").count() == 1


def lonlat_text(lon: float, lat: float) -> str:
    """'1.6°S, 130.2°E', written out independently of the page's formatter."""
    lon = lon - 360 if lon >= 180 else lon
    ns = f"{abs(lat):.1f}°{'S' if lat < 0 else 'N' if lat > 0 else ''}"
    ew = f"{abs(lon):.1f}°{'W' if lon < 0 else 'E' if lon > 0 else ''}"
    return f"{ns}, {ew}".replace(".0°", "°")


@pytest.fixture(scope="module")
def landform_search(mini_dir, tmp_path_factory):
    """A search compared with the pitted-cones catalogue: its folder and CSV rows."""
    out = tmp_path_factory.mktemp("landform-search")
    site = tmp_path_factory.mktemp("site")
    assert main(["search", MODEL, "pitted cones", "--benchmark", "mini", "--landform", "pitted_cones", "--k", "30",
                 "--out", str(out), "--leaderboard", str(site)]) == 0
    rows = list(csv.DictReader((out / "hits.csv").read_text(encoding="utf-8").splitlines()))
    return out, site, rows


def test_the_map_shows_every_hit_numbered_with_its_popup(landform_search, context):
    out, _, rows = landform_search
    prefix = (out / "search.html").resolve().as_uri()
    ctx = context(prefix, viewport={"width": 1440, "height": 900})
    page, visit = open_page(ctx, prefix)
    page.wait_for_selector(".hit-marker")
    assert visit.console_errors == [] and ctx.outside == []
    markers = page.locator(".hit-marker")
    assert sorted(int(text) for text in markers.all_inner_texts()) == [int(row["rank"]) for row in rows]
    near_class = {"true": "near", "false": "far"}
    for row in rows:
        marker = page.locator(".hit-marker", has_text=re.compile(f"^{row['rank']}$"))
        assert near_class[row["near_ground_truth"]] in marker.get_attribute("class").split()
    truth = (out / "hits.geojson")  # the catalogue circles: one per point of the compared catalogue
    assert page.locator("path.truth").count() == len(json.loads(page.locator("#search-data").inner_text())["truth"])
    assert truth.exists()
    labels = page.locator(".grat-label").all_inner_texts()
    assert labels and all(re.fullmatch(r"\d+(\.\d+)?°[NSEW]?", label) for label in labels), labels
    # keyboard: from the map, Tab reaches the best hit first; Enter opens its popup
    page.locator("#map").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "1"
    page.keyboard.press("Enter")
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    best = rows[0]
    text = popup.inner_text()
    assert best["tile"] in text and f"score {float(best['score']):.4f}" in text
    assert lonlat_text(float(best["lon"]), float(best["lat"])) in text
    assert popup.locator("img").count() == 1


def test_thumbnails_mark_the_catalogue_as_the_map_does(landform_search, context):
    out, _, rows = landform_search
    prefix = (out / "search.html").resolve().as_uri()
    page, _ = open_page(context(prefix, viewport={"width": 1440, "height": 900}), prefix)
    figures = page.locator(".grid figure")
    assert figures.count() == 24
    for row, index in zip(rows, range(figures.count())):
        figure = figures.nth(index)
        assert {"true": "near", "false": "far"}[row["near_ground_truth"]] in figure.get_attribute("class").split()
        assert lonlat_text(float(row["lon"]), float(row["lat"])) in figure.inner_text()


def test_the_page_links_its_files_and_the_leaderboard(landform_search, context):
    out, site, _ = landform_search
    prefix = (out / "search.html").resolve().as_uri()
    page, _ = open_page(context(prefix), prefix)
    hrefs = page.locator("nav.links a").evaluate_all("links => links.map(a => a.href)")
    assert hrefs == [(out / "hits.csv").resolve().as_uri(), (out / "hits.geojson").resolve().as_uri(),
                     (site / "index.html").resolve().as_uri()]


def test_the_table_sorts_by_any_column(landform_search, context):
    out, _, rows = landform_search
    prefix = (out / "search.html").resolve().as_uri()
    page, _ = open_page(context(prefix), prefix)
    tiles = "[...document.querySelectorAll('table tbody tr')].map(r => r.cells[1].textContent)"
    assert page.evaluate(tiles) == [row["tile"] for row in rows]  # by rank, as written
    page.get_by_role("button", name="score").click()
    assert page.evaluate(tiles) == [row["tile"] for row in sorted(rows, key=lambda r: (float(r["score"]), int(r["rank"])))]
    page.get_by_role("button", name="score").click()
    by_score = sorted(rows, key=lambda r: (-float(r["score"]), -int(r["rank"])))
    assert page.evaluate(tiles) == [row["tile"] for row in by_score]
    page.get_by_role("button", name="tile").click()
    assert page.evaluate(tiles) == sorted(row["tile"] for row in rows)


def test_on_a_phone_rank_tile_and_score_show_and_markers_are_tap_sized(landform_search, context):
    out, _, rows = landform_search
    prefix = (out / "search.html").resolve().as_uri()
    page, _ = open_page(context(prefix, viewport={"width": 390, "height": 844}), prefix)
    page.wait_for_selector(".hit-marker")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    sizes = page.locator(".hit-marker .rank").evaluate_all(
        "marks => marks.map(m => { const r = m.getBoundingClientRect(); return [r.width, r.height]; })")
    assert len(sizes) == len(rows) and min(min(size) for size in sizes) >= 24
    cells = page.evaluate("""[...document.querySelectorAll('table tbody tr')].flatMap(r => [0, 1, 2].map(i => {
        const c = r.cells[i], box = c.getBoundingClientRect();
        return {right: box.right, clipped: c.scrollWidth > c.clientWidth, text: c.textContent}; }))""")
    assert len(cells) == 3 * len(rows)
    assert all(cell["right"] <= 390 and not cell["clipped"] for cell in cells), cells[:3]


@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 900}, {"width": 390, "height": 844}])
def test_axe_finds_nothing_serious_on_the_page(landform_search, context, viewport):
    out, _, _ = landform_search
    prefix = (out / "search.html").resolve().as_uri()
    page, _ = open_page(context(prefix, viewport=viewport, bypass_csp=True), prefix)  # to inject axe-core
    page.wait_for_selector(".hit-marker")
    page.evaluate(axe_source())
    violations = page.evaluate("async () => (await axe.run()).violations.filter(v => ['serious', 'critical']"
                               ".includes(v.impact)).map(v => [v.id, v.nodes.map(n => n.html)])")
    assert violations == []


def test_the_readme_page_screenshot(capsys, tmp_path, context, artifacts):
    """Produces the screenshot the README shows (the README's own example command), and the
    page at phone size."""
    search_json(capsys, "pitted cones", "--out", str(tmp_path))
    prefix = (tmp_path / "search.html").resolve().as_uri()
    for name, viewport in (("search-pitted-cones.png", {"width": 1440, "height": 900}),
                           ("search-pitted-cones-phone.png", {"width": 390, "height": 844})):
        page, visit = open_page(context(prefix, viewport=viewport), prefix)
        page.wait_for_selector(".hit-marker")
        assert visit.console_errors == []
        page.screenshot(path=str(artifacts / name))
        assert (artifacts / name).stat().st_size > 10_000


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


@pytest.mark.parametrize(("lon", "lat", "text"), [(130.2, -1.6, "1.6°S, 130.2°E"), (229.8, 10.0, "10°N, 130.2°W"),
                                                   (-45.25, 0.0, "0°, 45.25°W"), (0.0, 89.9, "89.9°N, 0°")])
def test_coordinates_are_written_with_hemispheres(lon, lat, text):
    from mars_zoo.discover.page import format_lonlat

    assert format_lonlat(lon, lat) == text
