"""The CTX tile builder on small synthetic mosaic files in real Mars CRSs.

Every source pixel value encodes its 0.2° cell (`cell_base`) plus +4 in the cell's
northern half and +2 in its eastern half, so a tile's quadrants say both where it
was cut from and that it is not flipped. One cell (`NODATA_CELL`) has no data.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from mars_zoo.cli import main
from mars_zoo.data import ctx_tiles, hub_format
from mars_zoo.data.ctx_tiles import build_tiles
from mars_zoo.data.tile_names import parse_tile_name, tile_name
from mars_zoo.core.errors import MarsZooError

MARS_RADIUS = 3396190.0
EQC = "+proj=eqc +lat_ts={lat_ts} +lon_0=0 +a=3396190 +b=3396190 +units=m +no_defs"
LONLAT = "+proj=longlat +a=3396190 +b=3396190 +no_defs"
TILE_PX = 32
SHARD = 10
NODATA_CELL = (10.4, 79.0)


def cell_base(lon: float, lat: float) -> int:
    """A value per cell that differs between neighbours and leaves room for +4, +2."""
    return 10 + 8 * ((round(lat * 5) % 6) * 5 + round(lon * 5) % 5)


def write_source(path: Path, crs: str, west: float, north: float, cols: int, rows: int,
                 cell_px: int, x_per_degree: float, y_per_degree: float, crs_declared=True,
                 nodata: int = 0) -> None:
    """A uint8 GeoTIFF of `cols` x `rows` cells of 0.2° from (west, north) that declares
    `nodata` and holds it in `NODATA_CELL`."""
    data = np.full((rows * cell_px, cols * cell_px), nodata, dtype=np.uint8)
    half = cell_px // 2
    for row in range(rows):
        for col in range(cols):
            lon, lat = round(west + col * 0.2, 1), round(north - (row + 1) * 0.2, 1)
            if (lon, lat) == NODATA_CELL:
                continue
            block = data[row * cell_px:(row + 1) * cell_px, col * cell_px:(col + 1) * cell_px]
            block[:] = cell_base(lon, lat)
            block[:half] += 4
            block[:, half:] += 2
    transform = from_origin(west * x_per_degree, north * y_per_degree,
                            0.2 * x_per_degree / cell_px, 0.2 * y_per_degree / cell_px)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0],
                       count=1, dtype="uint8", nodata=nodata, transform=transform,
                       crs=crs if crs_declared else None) as dst:
        dst.write(data, 1)


@pytest.fixture(scope="module")
def ctx_dir(tmp_path_factory) -> Path:
    """Three sources: the mosaic's equirectangular CRS straddling the 80° cut, a lon/lat
    file, and an equirectangular file with true scale at 60° (tiles twice as high)."""
    root = tmp_path_factory.mktemp("ctx")
    metres = math.radians(1) * MARS_RADIUS
    # lon 10.0..10.6, lat 79.0..80.4: 5 rows kept (one cell without data), 2 rows polar.
    write_source(root / "a_eqc.tif", EQC.format(lat_ts=0), 10.0, 80.4, 3, 7, 40, metres, metres)
    # lon 10.6..11.0, lat 79.4..80.0.
    (root / "sub").mkdir()
    write_source(root / "sub" / "b_lonlat.tif", LONLAT, 10.6, 80.0, 2, 3, 30, 1.0, 1.0)
    # lon 10.0..10.4, lat 78.6..79.0.
    write_source(root / "c_eqc60.tif", EQC.format(lat_ts=60), 10.0, 79.0, 2, 2, 40,
                 metres * 0.5, metres)
    return root


EXPECTED_TILES = (  # the cell without data included, as in the published gallery
    [tile_name(lon / 10, lat / 10) for lat in (798, 796, 794, 792, 790) for lon in (100, 102, 104)]
    + [tile_name(lon / 10, lat / 10) for lat in (788, 786) for lon in (100, 102)]
    + [tile_name(lon / 10, lat / 10) for lat in (798, 796, 794) for lon in (106, 108)]
)


def shard_members(out: Path) -> list[list[tuple[str, bytes]]]:
    shards = []
    for path in sorted(out.glob("tiles-*.tar")):
        with tarfile.open(path) as tar:
            shards.append([(m.name, tar.extractfile(m).read()) for m in tar.getmembers()])
    return shards


def output_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def built(ctx_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiles")
    report = build_tiles(ctx_dir, out, tile_px=TILE_PX, shard_size=SHARD)
    return out, report


def test_tiles_come_from_the_right_place(built):
    out, report = built
    shards = shard_members(out)
    names = [name for shard in shards for name, _ in shard]
    assert names == EXPECTED_TILES  # sources in path order, each row by row from the north-west
    assert [len(shard) for shard in shards] == [10, 10, 5]
    assert (report.tiles, report.shards, report.empty, report.skipped_polar) == (25, 3, 1, 6)
    for name, data in (member for shard in shards for member in shard):
        lon, lat = parse_tile_name(name)
        assert tile_name(lon, lat) == name
        assert -80.0 <= lat and lat + 0.2 <= 80.0
        image = Image.open(io.BytesIO(data))
        assert image.mode == "L"
        pixels = np.asarray(image)
        height = 2 * TILE_PX if lat < 79.0 else TILE_PX  # c_eqc60: 0.2° is twice as high as wide
        assert pixels.shape == (height, TILE_PX)
        if (lon, lat) == NODATA_CELL:
            assert not pixels.any()  # kept, every pixel 0
            continue
        base = cell_base(lon, lat)
        quarter_h, quarter_w = height // 4, TILE_PX // 4
        quadrants = {(0, 0): base + 4, (0, 1): base + 6, (1, 0): base, (1, 1): base + 2}
        for (north_south, west_east), value in quadrants.items():
            y = quarter_h * (1 + 2 * north_south)
            x = quarter_w * (1 + 2 * west_east)
            assert np.all(pixels[y - 2:y + 2, x - 2:x + 2] == value), (name, north_south, west_east)
    manifest = json.loads((out / "tiles.json").read_text())
    assert (manifest["tiles"], manifest["empty"], manifest["tile_px"]) == (25, 1, TILE_PX)
    assert [shard["members"] for shard in manifest["shards"]] == [10, 10, 5]


def test_tar_headers_are_deterministic(built):
    out, _ = built
    with tarfile.open(out / "tiles-000000.tar") as tar:
        for member in tar.getmembers():
            assert (member.mtime, member.mode, member.uid, member.gid, member.uname) == (0, 0o644, 0, 0, "")


def test_shards_are_exactly_what_the_gallery_writer_writes(built, tmp_path):
    out, _ = built
    for path, members in zip(sorted(out.glob("tiles-*.tar")), shard_members(out)):
        hub_format.write_tile_shard(tmp_path / path.name, members)
        assert (tmp_path / path.name).read_bytes() == path.read_bytes()


def test_rerun_does_nothing(built, ctx_dir):
    out, _ = built
    before = output_bytes(out)
    report = build_tiles(ctx_dir, out, tile_px=TILE_PX, shard_size=SHARD)
    assert (report.rendered_sources, report.shards_written) == (0, 0)
    assert output_bytes(out) == before


def test_resume_after_a_lost_done_marker_or_shard(built, ctx_dir, tmp_path):
    out, _ = built
    before = output_bytes(out)
    (out / ".build" / "sources" / "a_eqc.tif.json").unlink()
    (out / "tiles-000002.tar").unlink()
    report = build_tiles(ctx_dir, out, tile_px=TILE_PX, shard_size=SHARD)
    # a_eqc renders again identically, so only the deleted shard is rewritten
    assert (report.rendered_sources, report.shards_written) == (1, 1)
    assert output_bytes(out) == before


def test_killed_build_resumes_without_redoing_or_duplicating(built, ctx_dir, tmp_path, monkeypatch):
    reference, _ = built
    out = tmp_path / "out"
    encode = ctx_tiles._encode_png
    calls = []

    def dies_in_second_source(pixels):
        calls.append(1)
        if len(calls) > 16:  # a_eqc has 15 tiles: die inside c_eqc60, the second source
            raise KeyboardInterrupt
        return encode(pixels)

    monkeypatch.setattr(ctx_tiles, "_encode_png", dies_in_second_source)
    with pytest.raises(KeyboardInterrupt):
        build_tiles(ctx_dir, out, tile_px=TILE_PX, shard_size=SHARD)
    monkeypatch.setattr(ctx_tiles, "_encode_png", encode)
    assert not list(out.glob("tiles-*.tar"))
    assert not list(out.rglob("*.tmp"))
    report = build_tiles(ctx_dir, out, tile_px=TILE_PX, shard_size=SHARD)
    assert report.rendered_sources == 2  # c and b; a was done
    assert output_bytes(out) == output_bytes(reference)


def test_changed_tile_size_renders_again(ctx_dir, tmp_path):
    out = tmp_path / "out"
    build_tiles(ctx_dir, out, tile_px=16, shard_size=100)
    report = build_tiles(ctx_dir, out, tile_px=TILE_PX, shard_size=100)
    assert (report.rendered_sources, report.shards, report.shards_written) == (3, 1, 1)
    with tarfile.open(out / "tiles-000000.tar") as tar:
        first = tar.extractfile(tar.getmembers()[0]).read()
    assert Image.open(io.BytesIO(first)).size == (TILE_PX, TILE_PX)


def test_southern_cut_keeps_the_tile_at_minus_80(tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    metres = math.radians(1) * MARS_RADIUS
    write_source(ctx / "south.tif", EQC.format(lat_ts=0), -20.0, -79.8, 1, 2, 16, metres, metres)
    report = build_tiles(ctx, tmp_path / "out", tile_px=TILE_PX)
    assert [name for shard in shard_members(tmp_path / "out") for name, _ in shard] == [
        "E_20_0_N_80_0.png"]  # -80.0..-79.8 is inside the band; -80.2..-80.0 is not
    assert report.skipped_polar == 1


def test_declared_nodata_becomes_0_and_empty_tiles_are_kept(tmp_path):
    """Like the published cut (dstNodata=0): the source's own nodata value (255 here) and
    areas outside it become 0, and a tile with no data at all is kept and counted."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    metres = math.radians(1) * MARS_RADIUS
    # lon 10.2..10.6, lat 79.0..79.2: (10.2, 79.0) has data, NODATA_CELL (10.4, 79.0) holds 255.
    write_source(ctx / "nodata255.tif", EQC.format(lat_ts=0), 10.2, 79.2, 2, 1, 16, metres, metres,
                 nodata=255)
    report = build_tiles(ctx, tmp_path / "out", tile_px=TILE_PX)
    tiles = dict(member for shard in shard_members(tmp_path / "out") for member in shard)
    assert list(tiles) == [tile_name(10.2, 79.0), tile_name(*NODATA_CELL)]
    assert (report.tiles, report.empty) == (2, 1)
    assert not np.asarray(Image.open(io.BytesIO(tiles[tile_name(*NODATA_CELL)]))).any()
    with_data = np.asarray(Image.open(io.BytesIO(tiles[tile_name(10.2, 79.0)])))
    assert with_data.min() >= cell_base(10.2, 79.0) and with_data.max() < 255
    assert json.loads((tmp_path / "out" / "tiles.json").read_text())["empty"] == 1


def test_file_without_crs_is_an_error_naming_it(tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    metres = math.radians(1) * MARS_RADIUS
    write_source(ctx / "no_crs.tif", EQC.format(lat_ts=0), 10.0, 10.4, 2, 2, 8, metres, metres,
                 crs_declared=False)
    with pytest.raises(MarsZooError, match="no_crs.tif.*coordinate reference system"):
        build_tiles(ctx, tmp_path / "out")
    assert not list((tmp_path / "out").glob("tiles-*.tar"))


def test_cli_build_in_parallel_matches(built, ctx_dir, tmp_path):
    reference, _ = built
    out = tmp_path / "out"
    argv = ["tiles", "build", "--ctx", str(ctx_dir), "--out", str(out), "--tile-px", str(TILE_PX),
            "--shard-size", str(SHARD), "--workers", "2"]
    assert main(argv) == 0
    assert output_bytes(out) == output_bytes(reference)


def test_cli_reports_a_missing_folder(tmp_path):
    assert main(["tiles", "build", "--ctx", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2


def test_a_source_rewritten_in_place_with_its_mtime_put_back_renders_again(ctx_dir, tmp_path):
    """Same size, same mtime, same inode: the change time tells the done-marker is stale,
    and the gallery is what a fresh build of the edited source gives."""
    sources = tmp_path / "ctx"
    sources.mkdir()
    source = sources / "c_eqc60.tif"
    shutil.copy(ctx_dir / source.name, source)
    out = tmp_path / "out"
    build_tiles(sources, out, tile_px=TILE_PX, shard_size=SHARD)
    before = output_bytes(out)
    stat = source.stat()
    with rasterio.open(source, "r+") as dst:
        dst.write(255 - dst.read(1), 1)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (source.stat().st_size, source.stat().st_ino) == (stat.st_size, stat.st_ino)
    report = build_tiles(sources, out, tile_px=TILE_PX, shard_size=SHARD)
    assert (report.rendered_sources, report.shards_written) == (1, 1)
    build_tiles(sources, tmp_path / "fresh", tile_px=TILE_PX, shard_size=SHARD)
    assert output_bytes(out) == output_bytes(tmp_path / "fresh") != before
