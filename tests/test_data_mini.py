"""The synthetic mini benchmark: deterministic, complete, and read by the real loaders."""

from __future__ import annotations

import numpy as np
import pytest

from mars_zoo.data import terrain
from mars_zoo.data.benchmark import open_benchmark
from mars_zoo.data.specs import DATASETS, TILES_DIRNAME
from mars_zoo.data.mini import (
    GEO_REGION,
    IMAGES_PER_CLASS,
    LANDFORM_CLASSES,
    MINI_SHARD_SIZE,
    PAIR_COUNT,
    QUERY_FILES,
    ensure_mini,
    generate_mini,
    ground_truth,
)
from mars_zoo.data.tile_names import parse_tile_name
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.protocol import GEO_LANDFORMS, GEO_RADIUS_DEG, PAIRED_IMAGE_SIZE


def _files(root):
    files = sorted(path for path in root.rglob("*") if path.is_file())
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in files}


def test_generation_is_byte_identical(tmp_path):
    first = _files(generate_mini(tmp_path / "a"))
    second = _files(generate_mini(tmp_path / "b"))
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_layout_and_synthetic_notice(mini_dir):
    folders = [spec.name for spec in DATASETS] + [TILES_DIRNAME]
    assert sorted(path.name for path in mini_dir.iterdir()) == sorted(folders)
    for folder in folders:
        assert "SYNTHETIC TEST BENCHMARK" in (mini_dir / folder / "README.md").read_text()
    assert len(list((mini_dir / "Mars-Landforms" / "data").glob("train-0000?-of-00002.parquet"))) == 2
    shards = sorted((mini_dir / TILES_DIRNAME).glob("tiles-*.tar"))
    assert [path.name for path in shards] == [f"tiles-{i:06d}.tar" for i in range(400 // MINI_SHARD_SIZE)]


def test_ensure_mini_reuses_the_generated_copy(mini_dir):
    marker = mini_dir / "Mars-Landforms" / "README.md"
    before = marker.stat().st_mtime_ns
    assert ensure_mini(mini_dir.parent) == mini_dir
    assert marker.stat().st_mtime_ns == before
    assert not [path for path in mini_dir.parent.iterdir() if path.name.startswith(".mini-v1-")]


def test_all_three_tasks_load(mini_dir):
    benchmark = open_benchmark("mini", cache_dir=mini_dir.parent)
    assert benchmark.synthetic and benchmark.name == "mini"

    pairs = benchmark.paired()
    assert len(pairs.keys) == len(pairs.captions) == len(pairs.images) == PAIR_COUNT
    assert pairs.dataset.synthetic and pairs.dataset.id == "mars-zoo/mini-Mars-VL-Pairs-MTEB"
    assert pairs.dataset.revision.startswith("content-sha256:") and pairs.dataset.split == "test"
    assert pairs.missing == [] and pairs.source_rows == PAIR_COUNT
    assert len(set(pairs.captions)) == PAIR_COUNT  # captions are content-derived and unique
    for index in (0, 3, 5):  # PNG and JPEG sources, several aspect ratios
        image = pairs.images[index]
        assert image.mode == "RGB" and image.size == (PAIRED_IMAGE_SIZE, PAIRED_IMAGE_SIZE)
    assert benchmark.paired(caption_column="ori_caption").captions != pairs.captions

    landforms = benchmark.landforms()
    assert landforms.class_names == [name for name, _ in LANDFORM_CLASSES]
    assert np.bincount(landforms.labels).tolist() == [IMAGES_PER_CLASS] * len(LANDFORM_CLASSES)
    assert len(set(landforms.images.ids)) == len(landforms.images) == len(landforms.labels)
    first = landforms.images[0]
    assert first.mode == "RGB" and first.size == (64, 64)  # stored grayscale, served RGB
    assert landforms.images.ids[0].startswith(landforms.class_names[landforms.labels[0]])

    geo = benchmark.geolocalization()
    assert sorted(geo.ground_truth) == sorted(GEO_LANDFORMS) == sorted(geo.query_images)
    for landform in GEO_LANDFORMS:
        points = geo.ground_truth[landform]
        assert points.dtype == np.float64 and 4 <= len(points) <= 12
        assert list(geo.query_images[landform].ids) == [f"{landform}/{name}" for name in QUERY_FILES]
        assert geo.query_images[landform][2].mode == "RGB"
    gallery = geo.gallery
    assert len(gallery.images) == len(gallery.lonlat) == 400
    assert gallery.source.id == "mars-zoo/mini-tiles" and gallery.source.synthetic
    for index in (0, 137, 399):
        assert tuple(gallery.lonlat[index]) == parse_tile_name(gallery.images.ids[index])
    lon_min, lat_min, lon_max, lat_max = GEO_REGION
    lon, lat = gallery.lonlat.T
    assert lon.min() == lon_min and lon.max() == pytest.approx(lon_max - 0.2)
    assert lat.min() == lat_min and lat.max() == pytest.approx(lat_max - 0.2)


def test_landforms_are_drawn_where_their_ground_truth_is(mini_dir):
    """Tiles within the tolerance of a landform's points show terrain; the others are plain,
    so a good image model can localise the landforms."""
    gallery = open_benchmark("mini", cache_dir=mini_dir.parent).tile_gallery()
    points = np.concatenate(list(ground_truth().values()))
    near = np.array(
        [np.min(np.hypot(*(points - lonlat).T)) <= GEO_RADIUS_DEG for lonlat in gallery.lonlat]
    )
    assert 0.2 < near.mean() < 0.6

    def relief(index):  # landforms add strong local contrast to the flat, noisy plain
        pixels = np.asarray(gallery.images[index].convert("L"), dtype=np.float64)
        return np.abs(np.diff(pixels, axis=0)).mean() + np.abs(np.diff(pixels, axis=1)).mean()

    plain = [relief(i) for i in np.flatnonzero(~near)[:20]]
    landform = [relief(i) for i in np.flatnonzero(near)[:20]]
    assert np.median(landform) > np.median(plain)


def test_terrain_is_seeded_and_captions_follow_the_drawing():
    for kind in terrain.KINDS:
        a = terrain.render(kind, np.random.default_rng(7), 80, 48)
        b = terrain.render(kind, np.random.default_rng(7), 80, 48)
        assert a.pixels.shape == (48, 80) and a.pixels.dtype == np.uint8
        assert np.array_equal(a.pixels, b.pixels)
        original, refined = terrain.captions(a)
        assert a.direction in refined or kind in ("crater", "pitted_cones")
        assert original and refined.startswith("A CTX view of")


def test_mini_takes_no_data_options(tmp_path):
    with pytest.raises(MarsZooError, match="mini benchmark"):
        open_benchmark("mini", data_dir=tmp_path, cache_dir=tmp_path)
    with pytest.raises(MarsZooError, match="Unknown benchmark"):
        open_benchmark("marsretrieval-v2", cache_dir=tmp_path)
