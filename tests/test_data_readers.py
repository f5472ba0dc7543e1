"""Local copies in the Hub layout (`--data-dir`): the readers, their errors, and the
image sources handed to DataLoader workers."""

from __future__ import annotations

import io
import multiprocessing
import pickle
import shutil
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from mars_zoo.data import hub_format
from mars_zoo.data.benchmark import LANDFORMS, PAIRS_FROZEN, PAIRS_URLS, TILE_GALLERY_ID, open_benchmark
from mars_zoo.data.readers import content_fingerprint, read_tile_gallery
from mars_zoo.data.tile_names import tile_name
from mars_zoo.errors import MarsZooError
from mars_zoo.reporting import Reporter


@pytest.fixture
def data_dir(mini_dir, tmp_path):
    """A writable copy of the mini benchmark without its synthetic markers, read as a
    local copy of the real one."""
    copy = shutil.copytree(mini_dir, tmp_path / "data")
    for marker in copy.rglob(hub_format.SYNTHETIC_MARKER):
        marker.unlink()
    return copy


def _png(value: int, mode: str = "L", size=(8, 8)) -> bytes:
    return hub_format.encode_image(Image.new(mode, size, (value,) * len(mode)))


def test_local_copy_is_named_after_the_real_datasets(data_dir, tmp_path):
    benchmark = open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache")
    assert not benchmark.synthetic
    landforms = benchmark.landforms()
    assert landforms.dataset.id == LANDFORMS.repo_id and not landforms.dataset.synthetic
    assert landforms.dataset.location == str(data_dir / LANDFORMS.name)
    # The fingerprint depends on content, not on where or when the files were copied.
    again = shutil.copytree(data_dir, tmp_path / "again")
    assert open_benchmark(data_dir=again, cache_dir=tmp_path / "cache").landforms().dataset.revision == (
        landforms.dataset.revision
    )
    assert benchmark.geolocalization().gallery.source.id == TILE_GALLERY_ID


def test_fingerprint_tracks_table_bytes(data_dir):
    folder = data_dir / PAIRS_URLS.name
    before = content_fingerprint(folder)
    path = next((folder / "data").glob("*.parquet"))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same name, same size, different bytes
    path.write_bytes(bytes(data))
    assert content_fingerprint(folder) != before


def test_missing_dataset_folder_names_path_and_fix(data_dir, tmp_path):
    shutil.rmtree(data_dir / LANDFORMS.name)
    benchmark = open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache")
    with pytest.raises(MarsZooError) as error:
        benchmark.landforms()
    message = str(error.value)
    assert str(data_dir / LANDFORMS.name) in message and LANDFORMS.repo_id in message
    assert "--data-dir" in message or "copy" in message


def test_datasets_stays_quiet_inside_the_readers(data_dir, tmp_path, capfd):
    """Progress goes through the reporter and a failure is one MarsZooError: `datasets`
    draws no bar of its own ("Generating train split") and logs no error line."""
    from datasets.utils import logging as ds_logging

    capfd.readouterr()
    bars = ds_logging.is_progress_bar_enabled()
    open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache").landforms()  # a new copy: prepared now
    path = next((data_dir / LANDFORMS.name / "data").glob("*.parquet"))
    path.write_bytes(b"not a parquet file" * 100)
    with pytest.raises(MarsZooError, match=str(path.parent.parent)):
        open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache").landforms()
    out, err = capfd.readouterr()
    assert "Generating" not in out + err and "Failed to read" not in out + err
    assert ds_logging.is_progress_bar_enabled() == bars  # datasets' own settings are restored


@pytest.mark.parametrize("damage", ["no data folder", "truncated parquet"])
def test_unreadable_parquet_folder_names_the_path(data_dir, tmp_path, damage):
    folder = data_dir / PAIRS_FROZEN.name / "data"
    if damage == "no data folder":
        shutil.rmtree(folder)
    else:
        path = next(folder.glob("*.parquet"))
        path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(MarsZooError, match=str(data_dir / PAIRS_FROZEN.name)) as error:
        open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache").paired()
    assert "mars-zoo data download" in str(error.value)


def test_missing_column_is_named(data_dir, tmp_path):
    from datasets import Features, Image as ImageFeature

    folder = data_dir / LANDFORMS.name
    shutil.rmtree(folder / "data")
    hub_format.write_parquet_split(
        folder, "train", {"image": [{"bytes": _png(9), "path": None}]}, Features({"image": ImageFeature()})
    )
    with pytest.raises(MarsZooError, match="lacks the column\\(s\\) label") as error:
        open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache").landforms()
    assert str(folder) in str(error.value)


def test_label_must_be_a_class_label(data_dir, tmp_path):
    from datasets import Features, Image as ImageFeature, Value

    folder = data_dir / LANDFORMS.name
    shutil.rmtree(folder / "data")
    columns = {"image": [{"bytes": _png(9), "path": None}], "label": [3]}
    features = Features({"image": ImageFeature(), "label": Value("int64")})
    hub_format.write_parquet_split(folder, "train", columns, features)
    with pytest.raises(MarsZooError, match="not a ClassLabel"):
        open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache").landforms()


def test_rows_without_caption_or_image_are_reported_missing(tmp_path):
    records = [
        {"key": f"k{i}", "image": _png(40 * i, "RGB", (30 + i, 20)), "ori_caption": f"o{i}",
         "refined_caption": "" if i == 1 else f"r{i}", "source_url": f"http://x.invalid/{i}.png",
         "resolved_url": f"http://x.invalid/{i}.png", "recovery_method": "direct"}
        for i in range(4)
    ]
    hub_format.write_pairs_frozen(tmp_path / "data" / PAIRS_FROZEN.name, records)
    pairs = open_benchmark(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache").paired()
    assert pairs.keys == ["k0", "k2", "k3"] and pairs.captions == ["r0", "r2", "r3"]
    assert pairs.missing == ["k1"] and pairs.source_rows == 4
    assert np.asarray(pairs.images[1]).mean() == pytest.approx(80, abs=1)  # k2's pixels
    ori = open_benchmark(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache").paired("ori_caption")
    assert ori.keys == ["k0", "k1", "k2", "k3"] and ori.missing == []
    with pytest.raises(MarsZooError, match="caption column"):
        open_benchmark(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache").paired("caption")


@pytest.mark.parametrize(
    "content, match",
    [
        ("lon,latitude\n1,2\n", "lacks the column\\(s\\) lat"),
        ("lon,lat\n1,north\n", "line 2"),
        ("lon,lat\n", "has no rows"),
    ],
)
def test_malformed_ground_truth_names_the_file(data_dir, tmp_path, content, match):
    path = data_dir / "Mars-Global-Geolocalization" / "ground_truth" / "yardangs.csv"
    path.write_text(content)
    with pytest.raises(MarsZooError, match=match) as error:
        open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache").geolocalization()
    assert str(path) in str(error.value)


def test_ground_truth_accepts_extra_columns_and_spaces(data_dir, tmp_path):
    path = data_dir / "Mars-Global-Geolocalization" / "ground_truth" / "yardangs.csv"
    path.write_text("name, lat , lon\na,-3.25,12.5\nb,4,-170\n")
    geo = open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache").geolocalization()
    assert geo.ground_truth["yardangs"].tolist() == [[12.5, -3.25], [-170.0, 4.0]]


def test_query_images_are_sorted_and_required(data_dir, tmp_path):
    folder = data_dir / "Mars-Global-Geolocalization" / "image_queries" / "landslides"
    (folder / "a_first.JPG").write_bytes(hub_format.encode_image(Image.new("L", (8, 8), 5), "JPEG"))
    (folder / "notes.txt").write_text("not an image")
    geo = open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache").geolocalization()
    assert list(geo.query_images["landslides"].ids)[0] == "landslides/a_first.JPG"
    assert len(geo.query_images["landslides"]) == 4
    shutil.rmtree(folder)
    with pytest.raises(MarsZooError, match=str(folder)):
        open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache").geolocalization()


def test_gallery_must_be_given_for_hub_data(tmp_path):
    with pytest.raises(MarsZooError, match="mars-zoo tiles build"):
        open_benchmark(cache_dir=tmp_path).tile_gallery()


def test_png_gallery_in_subfolders(tmp_path):
    tiles = tmp_path / "tiles"
    for folder, lon, lat in (("b", -12.4, -3.2), ("a", 12.4, 3.2), ("a/deep", 0.0, -0.2)):
        (tiles / folder).mkdir(parents=True, exist_ok=True)
        (tiles / folder / tile_name(lon, lat)).write_bytes(_png(int(lon + 100)))
    (tiles / "manifest.json").write_text("{}")
    gallery = read_tile_gallery(tiles, "gallery", False, Reporter())
    assert list(gallery.images.ids) == ["E12_4_N3_2.png", "E0_0_N_0_2.png", "E_12_4_N_3_2.png"]
    assert gallery.lonlat.tolist() == [[12.4, 3.2], [0.0, -0.2], [-12.4, -3.2]]
    assert gallery.images[2].mode == "RGB"
    assert gallery.source.revision.startswith("content-sha256:") and gallery.source.split is None

    (tiles / "b" / tile_name(12.4, 3.2)).write_bytes(_png(1))
    with pytest.raises(MarsZooError, match="appears twice"):
        read_tile_gallery(tiles, "gallery", False, Reporter())


def test_bad_tile_name_names_the_shard(tmp_path):
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    with tarfile.open(tiles / "tiles-000000.tar", "w") as tar:
        for name in (tile_name(1.0, 1.0), "E1.2_N3.4.png"):
            info = tarfile.TarInfo(name)
            data = _png(3)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(MarsZooError, match="E1.2_N3.4.png") as error:
        read_tile_gallery(tiles, "gallery", False, Reporter())
    assert "tiles-000000.tar" in str(error.value)


def test_empty_or_missing_gallery(tmp_path):
    with pytest.raises(MarsZooError, match="not a directory"):
        read_tile_gallery(tmp_path / "nowhere", "gallery", False, Reporter())
    (tmp_path / "empty").mkdir()
    with pytest.raises(MarsZooError, match="No tiles found"):
        read_tile_gallery(tmp_path / "empty", "gallery", False, Reporter())


def _read_in_worker(payload):
    source, index = pickle.loads(payload)
    image = source[index]
    return image.mode, np.asarray(image).tobytes()


def test_every_image_source_pickles_cheaply_and_decodes_in_workers(mini_dir):
    benchmark = open_benchmark("mini", cache_dir=mini_dir.parent)
    geo = benchmark.geolocalization()
    sources = {
        "dataset (task 1)": benchmark.paired().images,
        "dataset (task 2)": benchmark.landforms().images,
        "files": geo.query_images["yardangs"],
        "tar shards": geo.gallery.images,
    }
    geo.gallery.images[5]  # open a shard descriptor first: it must not travel with the pickle
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        for name, source in sources.items():
            payload = pickle.dumps(source)
            assert len(payload) < 64_000, name
            clone = pickle.loads(payload)
            assert len(clone) == len(source) and list(clone.ids) == list(source.ids), name
            indices = [0, len(source) - 1]
            expected = [(source[i].mode, np.asarray(source[i]).tobytes()) for i in indices]
            assert [(clone[i].mode, np.asarray(clone[i]).tobytes()) for i in indices] == expected, name
            assert pool.map(_read_in_worker, [pickle.dumps((source, i)) for i in indices]) == expected, name
            assert all(mode == "RGB" for mode, _ in expected), name


class _ImageServer:
    """Serves some of the mini pairs' images over loopback HTTP; the rest are 404."""

    def __init__(self, images: dict[str, bytes]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                body = images.get(self.path.lstrip("/"))
                self.send_response(200 if body else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"


def test_urls_source_fetches_images_and_reports_dead_links(mini_dir, tmp_path):
    frozen = open_benchmark("mini", cache_dir=mini_dir.parent).paired()
    keys = frozen.keys[:5]
    served = {f"{key}.png": hub_format.encode_image(frozen.images[i]) for i, key in enumerate(keys[:4])}
    server = _ImageServer(served)
    try:
        rows = [
            {"key": key, "image_url": server.url(f"{key}.png"), "ori_caption": f"o {key}",
             "refined_caption": frozen.captions[i]}
            for i, key in enumerate(keys)
        ]
        hub_format.write_pairs_urls(tmp_path / "data" / PAIRS_URLS.name, rows)
        pairs = open_benchmark(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache").paired(source="urls")
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    assert pairs.dataset.id == PAIRS_URLS.repo_id and pairs.dataset.split == "train"
    assert pairs.keys == keys[:4] and pairs.missing == [keys[4]] and pairs.source_rows == 5
    assert pairs.captions == frozen.captions[:4]
    image = pairs.images[2]
    assert image.mode == "RGB" and image.size == (512, 512)
    assert np.abs(np.asarray(image, dtype=int) - np.asarray(frozen.images[2], dtype=int)).mean() < 2
    assert pickle.loads(pickle.dumps(pairs.images))[2].size == (512, 512)
