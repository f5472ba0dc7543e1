"""Local copies in the Hub layout (`--data-dir`): the readers, their errors, and the
image sources handed to DataLoader workers."""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import shutil
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from mars_zoo.data import hub_format
from mars_zoo.data.benchmark import open_benchmark
from mars_zoo.data.specs import LANDFORMS, PAIRS_FROZEN, PAIRS_URLS, TILE_GALLERY_ID
from mars_zoo.data.tile_gallery import read_tile_gallery
from mars_zoo.data.tile_names import tile_name
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import Reporter


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


def _truncated_jpeg() -> bytes:
    """A JPEG cut in its scan data: it opens and passes PIL's verify, but does not decode."""
    buffer = io.BytesIO()
    Image.effect_noise((256, 256), 50).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()[: buffer.tell() * 3 // 4]


CORRUPT_PNG = b"\x89PNG\r\n\x1a\n" + b"not really a png" * 20


class Recorder(Reporter):
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)


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
    # The published rule drops a row whose other caption is empty, whichever is evaluated.
    assert ori.keys == ["k0", "k2", "k3"] and ori.missing == ["k1"]
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
    for name, fmt in (("b.BMP", "BMP"), ("c.webp", "WEBP"), ("d.Tif", "TIFF"), ("e.tiff", "TIFF")):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (9, 9, 9)).save(buffer, format=fmt)
        (folder / name).write_bytes(buffer.getvalue())
    (folder / ".DS_Store").write_bytes(b"\0\0")  # hidden: ignored
    (folder / "README.md").write_text("where these come from")  # a README: ignored
    geo = open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache").geolocalization()
    ids = list(geo.query_images["landslides"].ids)
    assert ids[:5] == [f"landslides/{name}" for name in ("a_first.JPG", "b.BMP", "c.webp", "d.Tif", "e.tiff")]
    assert len(ids) == 8  # the mini benchmark's three and these five
    assert all(geo.query_images["landslides"][i].mode == "RGB" for i in range(len(ids)))

    for stray in ("notes.txt", "more_queries"):
        (folder / stray).mkdir() if stray == "more_queries" else (folder / stray).write_text("?")
        with pytest.raises(MarsZooError, match="is not a query image") as error:
            open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache").geolocalization()
        assert str(folder / stray) in str(error.value)
        shutil.rmtree(folder / stray) if stray == "more_queries" else (folder / stray).unlink()
    shutil.rmtree(folder)
    with pytest.raises(MarsZooError, match=str(folder)):
        open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache").geolocalization()


def test_undecodable_frozen_images_are_reported_missing(tmp_path):
    """Open-and-verify at load time catches an image that is not one; an image that passes
    it but does not decode (a cut JPEG) fails where it is decoded, naming row and copy."""
    from datasets import Features, Image as ImageFeature, Value

    folder = tmp_path / "data" / PAIRS_FROZEN.name
    images = [_png(10, "RGB"), CORRUPT_PNG, _png(30, "RGB"), _truncated_jpeg()]
    columns = {
        "key": [f"k{i}" for i in range(4)],
        "image": [{"bytes": data, "path": None} for data in images],
        "ori_caption": [f"o{i}" for i in range(4)],
        "refined_caption": [f"r{i}" for i in range(4)],
    }
    features = Features({"key": Value("string"), "image": ImageFeature(),
                         "ori_caption": Value("string"), "refined_caption": Value("string")})
    hub_format.write_parquet_split(folder, "test", columns, features)
    reporter = Recorder()
    pairs = open_benchmark(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", reporter=reporter).paired()
    assert pairs.keys == ["k0", "k2", "k3"] and pairs.missing == ["k1"] and pairs.source_rows == 4
    assert any("1 of 4 pairs" in warning and "missing" in warning for warning in reporter.warnings)
    assert pairs.images[1].size == (512, 512)
    with pytest.raises(MarsZooError, match="Image k3 \\(row 2 of ") as error:
        pairs.images[2]
    assert str(folder) in str(error.value) and "mars-zoo data download" in str(error.value)


def test_undecodable_images_name_item_file_and_fix(data_dir, tmp_path):
    from datasets import ClassLabel, Features, Image as ImageFeature

    landforms = data_dir / LANDFORMS.name
    shutil.rmtree(landforms / "data")
    columns = {"image": [{"bytes": _png(9), "path": None}, {"bytes": CORRUPT_PNG, "path": None}],
               "label": [0, 1]}
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=["a", "b"])})
    hub_format.write_parquet_split(landforms, "train", columns, features)
    query = data_dir / "Mars-Global-Geolocalization" / "image_queries" / "yardangs" / "z_bad.png"
    query.write_bytes(b"")
    shards = tmp_path / "shards"
    hub_format.write_tile_shard(shards / "tiles-000000.tar", [(tile_name(1.0, 1.0), _png(5)),
                                                              (tile_name(1.2, 1.0), CORRUPT_PNG)])
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    (pngs / tile_name(1.0, 1.0)).write_bytes(CORRUPT_PNG)

    benchmark = open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache")
    parquet = landforms / "data" / "train-00000-of-00001.parquet"
    cases = [  # landform and query images are checked when they are read, before any is embedded
        (benchmark.landforms, [f"Image 1 (SUSTech/Mars-Landforms at {landforms}, file {parquet}, row 1",
                               "mars-zoo data download"]),
        (benchmark.geolocalization, ["Image yardangs/z_bad.png", str(query), "remove it from the query folder"]),
        (lambda: read_tile_gallery(shards, "g", False, Reporter(), tmp_path / "cache").images[1],
         [f"Image {tile_name(1.2, 1.0)} (member of {shards / 'tiles-000000.tar'})", "mars-zoo tiles build"]),
        (lambda: read_tile_gallery(pngs, "g", False, Reporter(), tmp_path / "cache").images[0],
         [f"Image {tile_name(1.0, 1.0)} ({pngs / tile_name(1.0, 1.0)})", "mars-zoo tiles build"]),
    ]
    for read, parts in cases:
        with pytest.raises(MarsZooError) as error:
            read()
        message = str(error.value)
        assert all(part in message for part in parts), message
        assert "cannot be read as an image" in message
        # the error crosses process boundaries intact (DataLoader workers)
        assert str(pickle.loads(pickle.dumps(error.value))) == message


def test_decode_error_in_a_dataloader_worker_keeps_its_message(tmp_path):
    from torch.utils.data import DataLoader

    shards = tmp_path / "shards"
    hub_format.write_tile_shard(shards / "tiles-000000.tar", [(tile_name(1.0, 1.0), CORRUPT_PNG)])
    source = read_tile_gallery(shards, "g", False, Reporter(), tmp_path / "cache").images
    loader = DataLoader(source, batch_size=1, num_workers=1, collate_fn=lambda batch: batch,
                        multiprocessing_context="fork")
    with pytest.raises(MarsZooError) as error:
        list(loader)
    assert f"Image {tile_name(1.0, 1.0)} (member of {shards / 'tiles-000000.tar'})" in str(error.value)


def test_row_count_warning_only_for_real_data(mini_dir, data_dir, tmp_path):
    """A copy of the generated data read through --data-dir keeps its synthetic marker and
    is not compared with the real dataset's row count; an unmarked copy is."""
    marked = shutil.copytree(mini_dir, tmp_path / "marked")
    quiet, loud = Recorder(), Recorder()
    assert open_benchmark(data_dir=marked, cache_dir=tmp_path / "cache", reporter=quiet).paired().dataset.synthetic
    assert not [warning for warning in quiet.warnings if "rows where the benchmark defines" in warning]
    open_benchmark(data_dir=data_dir, cache_dir=tmp_path / "cache", reporter=loud).paired()
    assert [warning for warning in loud.warnings if f"where the benchmark defines {PAIRS_FROZEN.rows}" in warning]


def test_gallery_must_be_given_for_hub_data(tmp_path):
    with pytest.raises(MarsZooError, match="mars-zoo tiles build"):
        open_benchmark(cache_dir=tmp_path).tile_gallery()


def test_png_gallery_in_subfolders(tmp_path):
    tiles = tmp_path / "tiles"
    for folder, lon, lat in (("b", -12.4, -3.2), ("a", 12.4, 3.2), ("a/deep", 0.0, -0.2)):
        (tiles / folder).mkdir(parents=True, exist_ok=True)
        (tiles / folder / tile_name(lon, lat)).write_bytes(_png(int(lon + 100)))
    (tiles / "manifest.json").write_text("{}")
    gallery = read_tile_gallery(tiles, "gallery", False, Reporter(), tmp_path / "cache")
    assert list(gallery.images.ids) == ["E12_4_N3_2.png", "E0_0_N_0_2.png", "E_12_4_N_3_2.png"]
    assert gallery.lonlat.tolist() == [[12.4, 3.2], [0.0, -0.2], [-12.4, -3.2]]
    assert gallery.images[2].mode == "RGB"
    assert gallery.source.revision.startswith("content-sha256:") and gallery.source.split is None

    (tiles / "b" / tile_name(12.4, 3.2)).write_bytes(_png(1))
    with pytest.raises(MarsZooError, match="appears twice"):
        read_tile_gallery(tiles, "gallery", False, Reporter(), tmp_path / "cache")


def test_gallery_order_is_sorted_by_path_whatever_the_walk_order(tmp_path, monkeypatch):
    tiles = tmp_path / "tiles"
    layout = {"tiles-000001.tar": (2.0, 2.0), "part/tiles-000000.tar": (1.0, 1.0),
              "part/a/tiles-000003.tar": (0.0, 0.0), "Z/tiles-000002.tar": (3.0, 3.0)}
    for relative, (lon, lat) in layout.items():
        hub_format.write_tile_shard(tiles / relative, [(tile_name(lon, lat), _png(1))])
    expected = [tile_name(*layout[relative]) for relative in sorted(layout)]
    assert list(read_tile_gallery(tiles, "g", False, Reporter(), tmp_path / "cache").images.ids) == expected

    walk = os.walk

    def reversed_walk(top, *args, **kwargs):
        for directory, subdirs, files in walk(top, *args, **kwargs):
            subdirs.reverse()
            yield directory, subdirs, files[::-1]

    monkeypatch.setattr(os, "walk", reversed_walk)
    assert list(read_tile_gallery(tiles, "g", False, Reporter(), tmp_path / "cache").images.ids) == expected


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
        read_tile_gallery(tiles, "gallery", False, Reporter(), tmp_path / "cache")
    assert "tiles-000000.tar" in str(error.value)


def test_empty_or_missing_gallery(tmp_path):
    with pytest.raises(MarsZooError, match="not a directory"):
        read_tile_gallery(tmp_path / "nowhere", "gallery", False, Reporter(), tmp_path / "cache")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MarsZooError, match="No tiles found"):
        read_tile_gallery(tmp_path / "empty", "gallery", False, Reporter(), tmp_path / "cache")


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
