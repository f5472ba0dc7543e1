"""Fault corpus, bad local data: data that cannot be scored honestly is refused before
anything is embedded (one paragraph naming file, row and fix, exit 2, no result file);
images in any mode or bit depth are converted to the RGB they mean; an edited image
changes the copy's revision and is embedded again.

Each case edits a private `--data-dir` copy of the mini benchmark and runs one task
against a private copy of the clean run's cache (same content, same revision: the
clean embeddings are reused, so a case costs only what it changes).
"""

from __future__ import annotations

import io
import os
import struct
import tarfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_faults import assert_one_paragraph_error, metrics, run_cli
from mars_zoo.data.hub_format import write_tile_shard
from mars_zoo.data.tile_names import tile_name

GEO = "Mars-Global-Geolocalization"
QUERY = Path(GEO) / "image_queries" / "yardangs" / "query_1.png"  # an 8-bit greyscale PNG
LANDFORM_FILE = Path("Mars-Landforms") / "data" / "train-00001-of-00002.parquet"  # rows 48..95
TILES = Path("tiles")


# ------------------------------------------------------------------------- edits


def set_label(row: int, value: int | None) -> Callable[[Path], None]:
    def edit(data: Path) -> None:
        table = pq.read_table(data / LANDFORM_FILE)
        labels = table.column("label").to_pylist()
        labels[row] = value
        column = table.schema.get_field_index("label")
        pq.write_table(table.set_column(column, table.schema.field(column), pa.array(labels, pa.int64())),
                       data / LANDFORM_FILE)
    return edit


def set_image(row: int, new: Callable[[bytes], bytes | None]) -> Callable[[Path], None]:
    def edit(data: Path) -> None:
        table = pq.read_table(data / LANDFORM_FILE)
        images = table.column("image").to_pylist()
        images[row] = {"bytes": new(images[row]["bytes"]), "path": images[row]["path"]}
        column = table.schema.get_field_index("image")
        field = table.schema.field(column)
        pq.write_table(table.set_column(column, field, pa.array(images, field.type)), data / LANDFORM_FILE)
    return edit


def set_point(landform: str, line: int, text: str) -> Callable[[Path], None]:
    def edit(data: Path) -> None:
        path = data / GEO / "ground_truth" / f"{landform}.csv"
        lines = path.read_text().splitlines()
        lines[line - 1] = text
        path.write_text("\n".join(lines) + "\n")
    return edit


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` 8-bit grey pixels (a decompression
    bomb: the pixels are never there, the header is all a reader needs to refuse it)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def replace_query(make: Callable[[np.ndarray], bytes], suffix: str = ".png") -> Callable[[Path], None]:
    """The query image replaced by `make(its 8-bit grey pixels)`, under the same name stem."""
    def edit(data: Path) -> None:
        grey = np.asarray(Image.open(data / QUERY))
        assert grey.dtype == np.uint8 and grey.ndim == 2
        (data / QUERY).unlink()
        (data / QUERY).with_suffix(suffix).write_bytes(make(grey))
    return edit


def remove_shard(name: str) -> Callable[[Path], None]:
    return lambda data: (data / TILES / name).unlink()


def rewrite_shard(name: str, change: Callable[[list[tuple[str, bytes]]], list[tuple[str, bytes]]]):
    def edit(data: Path) -> None:
        path = data / TILES / name
        with tarfile.open(path) as tar:
            members = [(m.name, tar.extractfile(m).read()) for m in tar]
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
            for member, content in change(members):
                info = tarfile.TarInfo(member)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return edit


def without_index(edit: Callable[[Path], None]) -> Callable[[Path], None]:
    def both(data: Path) -> None:
        (data / TILES / "tiles.json").unlink()
        edit(data)
    return both


# ------------------------------------------------------------------------- refusals

REFUSED = {
    # case: (task, edit, what the message must say (after the copy's path is substituted))
    "label-too-high": ("landform", set_label(12, 8), ["{data}/" + str(LANDFORM_FILE), "row 12 (row 60",
                                                        "label 8", "0..7", "mars-zoo data download"]),
    "label-negative": ("landform", set_label(0, -1), ["row 0 (row 48", "label -1", "ClassLabel"]),
    "label-missing": ("landform", set_label(47, None), ["row 47 (row 95", "label None"]),
    "landform-image-absent": ("landform", set_image(3, lambda old: None),
                              ["Image", "row 3 (row 51", "no image bytes", "mars-zoo data download"]),
    "landform-image-bomb": ("landform", set_image(5, lambda old: png_header(30000, 30000)),
                            ["row 5 (row 53", "DecompressionBombError", "exceeds limit"]),
    "landform-image-not-an-image": ("landform", set_image(6, lambda old: b"GIF89a broken"),
                                    ["row 6 (row 54", "cannot be read as an image"]),
    "point-lon-nan": ("geolocalization", set_point("yardangs", 2, "nan,1.0"),
                      ["{data}/" + GEO + "/ground_truth/yardangs.csv", "line 2", "lon nan", "[-180, 360)"]),
    "point-lat-above-90": ("geolocalization", set_point("landslides", 3, "131.0,95.0"),
                           ["landslides.csv, line 3", "lat 95.0", "[-90, 90]"]),
    "point-lon-360": ("geolocalization", set_point("pitted_cones", 2, "360.0,0.0"), ["line 2", "lon 360.0"]),
    "point-lon-below-180": ("geolocalization", set_point("alluvial_fans", 2, "-180.5,0.0"), ["lon -180.5"]),
    "point-lat-infinite": ("geolocalization", set_point("yardangs", 2, "131.0,-inf"), ["lat -inf"]),
    "point-not-a-number": ("geolocalization", set_point("yardangs", 2, "131.0,north"), ["line 2", "not numbers"]),
    "query-bomb": ("geolocalization", replace_query(lambda grey: png_header(30000, 30000)),
                   ["Image yardangs/query_1.png", "DecompressionBombError", "remove it from the query folder"]),
    "query-bomb-below-twice-the-limit": ("geolocalization", replace_query(lambda grey: png_header(10000, 10000)),
                                         ["yardangs/query_1.png", "DecompressionBombWarning"]),
    "query-float-pixels": ("geolocalization", replace_query(
        lambda grey: encoded(Image.fromarray(grey.astype(np.float32) / 255), "TIFF"), ".tif"),
        ["yardangs/query_1.tif", "floating-point", "8- or 16-bit"]),
    "query-empty-file": ("geolocalization", lambda data: (data / QUERY).write_bytes(b""),
                         ["yardangs/query_1.png", "cannot be read as an image"]),
    "gallery-missing-shard": ("geolocalization", remove_shard("tiles-000002.tar"),
                              ["shard tiles-000002.tar", "listed in", "tiles.json", "is missing"]),
    "gallery-missing-last-shard": ("geolocalization", remove_shard("tiles-000003.tar"),
                                   ["shard tiles-000003.tar", "is missing"]),
    "gallery-missing-shard-no-index": ("geolocalization", without_index(remove_shard("tiles-000001.tar")),
                                       ["tiles-000001.tar", "missing from the numbered sequence"]),
    "gallery-shard-lost-a-tile": ("geolocalization", rewrite_shard("tiles-000001.tar", lambda m: m[:-1]),
                                  ["tiles-000001.tar holds 99 tiles where", "lists 100"]),
    "gallery-extra-shard": ("geolocalization", lambda data: write_tile_shard(
        data / TILES / "tiles-000009.tar", [(tile_name(0.0, 0.0), encoded(Image.new("L", (8, 8))))]),
        ["tiles-000009.tar is not listed in the gallery index"]),
    "gallery-index-garbage": ("geolocalization", lambda data: (data / TILES / "tiles.json").write_text("{"),
                              ["gallery index", "tiles.json cannot be read"]),
    "gallery-bad-tile-name": ("geolocalization",
                              rewrite_shard("tiles-000000.tar", lambda m: [("E1.5_N2.png", m[0][1]), *m[1:]]),
                              ["'E1.5_N2.png'", "naming rule", "tiles-000000.tar"]),
    "gallery-tile-off-the-map": ("geolocalization",
                                 rewrite_shard("tiles-000001.tar", lambda m: [*m[:-1], ("E180_0_N3_2.png", m[-1][1])]),
                                 ["E180_0_N3_2.png (in", "tiles-000001.tar", "lon 180, lat 3.2, off the map"]),
    "gallery-tile-past-the-pole": ("geolocalization",
                                   rewrite_shard("tiles-000000.tar", lambda m: [("E_12_0_N_90_5.png", m[0][1]), *m[1:]]),
                                   ["E_12_0_N_90_5.png", "lat -90.5, off the map"]),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_data_is_refused_before_anything_is_embedded(case, clean, cache_copy, data_copy, tmp_path, capsys):
    task, edit, needles = REFUSED[case]
    edit(data_copy)
    shards_before = sorted(cache_copy.glob("embeddings/*/*/shard-*.npy"))
    outcome = run_cli(capsys, cache_copy, tmp_path / "r.json", clean.plugins, "--data-dir", str(data_copy),
                      "--tasks", task)
    assert_one_paragraph_error(outcome, 2, *(needle.format(data=data_copy) for needle in needles))
    assert "loading fake/good" not in outcome.err  # refused before the model was even loaded
    assert sorted(cache_copy.glob("embeddings/*/*/shard-*.npy")) == shards_before


# ------------------------------------------------------------------------- conversions

# The same 8-bit grey pixels stored in other modes and bit depths: each must reach the
# model as exactly the clean image, so every metric equals the clean run's.
SAME_PIXELS = {
    "16-bit-grey": replace_query(lambda grey: encoded(Image.fromarray(grey.astype(np.uint16) * 257))),
    "32-bit-grey": replace_query(lambda grey: encoded(Image.fromarray(grey.astype(np.int32) * 257), "TIFF"), ".tif"),
    "palette": replace_query(lambda grey: encoded(_palette(grey))),
    "grey-with-alpha": replace_query(lambda grey: encoded(Image.fromarray(np.stack([grey, grey // 2 + 1], -1), "LA"))),
    "rgba-opaque": replace_query(lambda grey: encoded(Image.fromarray(np.stack([grey] * 3 + [grey * 0 + 255], -1)))),
    "rgba-partly-transparent": replace_query(
        lambda grey: encoded(Image.fromarray(np.stack([grey] * 3 + [(grey > 100).astype(np.uint8) * 255], -1)))),
    "cmyk": replace_query(lambda grey: encoded(Image.fromarray(np.stack([grey] * 3, -1)).convert("CMYK"), "TIFF"),
                          ".tif"),
}


def _palette(grey: np.ndarray) -> Image.Image:
    image = Image.fromarray(grey, "P")
    image.putpalette([level for level in range(256) for _ in range(3)])
    return image


@pytest.mark.parametrize("case", sorted(SAME_PIXELS))
def test_every_mode_and_bit_depth_reaches_the_model_as_the_pixels_it_means(
    case, clean, cache_copy, data_copy, tmp_path, capsys
):
    SAME_PIXELS[case](data_copy)
    outcome = run_cli(capsys, cache_copy, tmp_path / "r.json", clean.plugins, "--data-dir", str(data_copy),
                      "--tasks", "geolocalization")
    assert outcome.code == 0, outcome.err
    # The copy's revision changed (a file changed), so its five landforms' query images
    # are embedded again (one batch each); the tiles are not.
    assert outcome.calls == (5, 0)
    assert metrics(outcome.result) == {"geolocalization": metrics(clean.result)["geolocalization"]}


# ------------------------------------------------------------------------- edits


def _edit_query(data: Path) -> None:
    image = np.asarray(Image.open(data / QUERY)).copy()
    image[:48] = 255 - image[:48]
    (data / QUERY).write_bytes(encoded(Image.fromarray(image)))


def _edit_query_same_size_same_mtime(data: Path) -> None:
    path = data / GEO / "image_queries" / "yardangs" / "query_3.jpg"
    stat = path.stat()
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x55  # same size; JPEG decodes a damaged scan to other pixels
    path.write_bytes(bytes(content))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _edit_tile(data: Path) -> None:
    def brighter(members):
        name, content = members[10]
        pixels = np.asarray(Image.open(io.BytesIO(content))).copy()
        return [*members[:10], (name, encoded(Image.fromarray(255 - pixels))), *members[11:]]
    rewrite_shard("tiles-000002.tar", brighter)(data)


def _flip(content: bytes) -> bytes:
    pixels = np.asarray(Image.open(io.BytesIO(content))).copy()
    return encoded(Image.fromarray(255 - pixels))


EDITED = {
    # case: (task, edit, (image calls, text calls) the edit costs)
    "query-image-edited": ("geolocalization", _edit_query, (5, 0)),
    "query-image-edited-mtime-restored": ("geolocalization", _edit_query_same_size_same_mtime, (5, 0)),
    "landform-image-edited": ("landform", set_image(20, _flip), (6, 0)),
    "tile-edited": ("geolocalization", _edit_tile, (25, 0)),
}


@pytest.mark.parametrize("case", sorted(EDITED))
def test_an_edited_image_changes_the_revision_and_is_embedded_again(case, clean, cache_copy, data_copy, tmp_path,
                                                                     capsys):
    task, edit, calls = EDITED[case]
    before = run_cli(capsys, cache_copy, tmp_path / "before.json", clean.plugins, "--data-dir", str(data_copy),
                     "--tasks", task)
    assert before.code == 0 and before.calls == (0, 0), before.err
    edit(data_copy)
    outcome = run_cli(capsys, cache_copy, tmp_path / "r.json", clean.plugins, "--data-dir", str(data_copy),
                      "--tasks", task)
    assert outcome.code == 0, outcome.err
    assert outcome.calls == calls
    section = "gallery" if case == "tile-edited" else "dataset"
    assert outcome.result["tasks"][task][section]["revision"] != before.result["tasks"][task][section]["revision"]
    # Scored on the edited data: equal to a run that computes every embedding afresh.
    fresh = run_cli(capsys, tmp_path / "fresh-cache", tmp_path / "fresh.json", clean.plugins,
                    "--data-dir", str(data_copy), "--tasks", task, "--no-cache")
    assert metrics(outcome.result) == metrics(fresh.result) != metrics(before.result)


def test_pairs_of_which_none_can_be_evaluated_are_one_clear_error(clean, cache_copy, data_copy, tmp_path, capsys):
    folder = data_copy / "Mars-VL-Pairs-MTEB" / "data"
    for path in folder.glob("*.parquet"):
        table = pq.read_table(path)
        column = table.schema.get_field_index("refined_caption")
        empty = pa.array([""] * table.num_rows, table.schema.field(column).type)
        pq.write_table(table.set_column(column, table.schema.field(column), empty), path)
    outcome = run_cli(capsys, cache_copy, tmp_path / "r.json", clean.plugins, "--data-dir", str(data_copy),
                      "--tasks", "paired")
    assert_one_paragraph_error(outcome, 2, "None of the 48 pairs of mars-zoo/mini-Mars-VL-Pairs-MTEB",
                               str(data_copy / "Mars-VL-Pairs-MTEB"), "Fix:")
