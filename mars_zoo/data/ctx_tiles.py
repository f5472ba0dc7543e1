"""Cut the CTX global mosaic into the geo-localization gallery.

The gallery of task 3 is the Murray Lab CTX mosaic (V01, 4° x 4° GeoTIFFs) cut
into 0.2° x 0.2° tiles, each named by its lower-left corner (`tile_name`). The
facts follow the builder published with the benchmark:

- The grid is the global 0.2° grid (corners on multiples of 0.2°). A source file
  is cut along its own footprint in longitude/latitude, snapped to the nearest grid
  line, so every 4° file gives its 20 x 20 cells and no cell comes from two files.
  (The published script reads the corner from the file name; for the Murray Lab
  files the footprint gives the same cells and works for any file name.)
- Each cell is rendered `tile_px` wide (512 by default) and
  `round(tile_px * aspect)` high, as leaderboard/PROTOCOL.md states ("rendered 512 px wide
  (height by the projection's aspect)"): aspect is a cell's height over its width in
  the file's own projection, measured here on the file's central cell (the published
  cut script measures each cell; the two differ only where the aspect varies within
  a file). Resampling is bilinear; pixels without data (the source's own nodata, or
  outside its coverage) become 0, the published script's `dstNodata=0`.
  What this builder does not do: the published pipeline follows the cut with a
  thumbnail step that resizes every tile to 512 x 512 (bicubic) whatever its aspect.
  Here a tile keeps its rendered height (the model's own preprocessing resizes it),
  so the two galleries are identical where the aspect rounds to 1 (square tiles;
  resizing to the same size is a copy) and differ in pixel size elsewhere.
- Polar cut: the published script skips whole 4° files whose latitude nearest the
  equator is at |lat| >= 80°, i.e. it keeps exactly the cells that lie inside
  -80° <= lat <= 80°. Applied per tile: a tile is kept when its whole extent is
  inside that band, so the tile with lower-left latitude 79.8 (79.8..80.0) and the
  one at -80.0 (-80.0..-79.8) are kept, the one at 80.0 is skipped.
- Every cell inside the band becomes a tile, including "empty" ones whose every
  pixel is 0 (no data: gaps in the mosaic's coverage). The published builder keeps
  those too (that is how its gallery reaches about 1.44 million tiles, 1800 x 800
  cells), and they are part of the ranking, so dropping them would change task 3's
  precision, F1 and AUPRC. They are counted (`empty` in tiles.json), for information.
- Images are 8-bit PNGs with the source's bands: grayscale for the (single-band)
  mosaic, RGB for a 3-band file. (The published thumbnail step converts to RGB;
  the readers do that when they decode, so storing one band saves two thirds.)

Each cell is read from a `WarpedVRT` of the source onto a lon/lat grid on the
source's own body (its geodetic CRS, e.g. the Mars sphere), so rasterio/GDAL and
PROJ do all reprojection and only the windows being cut are read.

Output (in `out_dir`): `tiles-000000.tar`, ... with `shard_size` PNG members each
(written, like the staging tars below, by the gallery's one tar writer
`hub_format.write_tile_shard`) and `tiles.json` describing them. The build is resumable
in two stages, under `out_dir/.build/`:

1. render: each source file becomes one tar of its tiles plus a done-marker JSON
   (both written atomically, the marker last). A marker that matches the build
   parameters and the stat of the source and of its tar (size, times and inode, the
   rule of `mars_zoo.core.stat_memo`: a file rewritten with its modification time put back
   is seen) means the file is done; a killed build loses at most the files in progress.
2. pack: the tiles of all sources, in sorted source order (tiles of one file row by
   row from the north-west), are grouped into shards. A shard is written to a
   temporary file and published by rename; a signature of its members (names and
   the digests of the tars they come from) is kept next to the staging tars, so a
   rerun rewrites only shards whose content changed. A tile name that a later
   source produces again (overlapping files) is dropped and counted.

The staging tars double the disk use; `.build/` may be deleted once the gallery
is final (a later build then renders everything again). One build at a time may
use an output directory.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tarfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator

import numpy as np

from mars_zoo.core.atomic import atomic_write_bytes, remove_temporaries
from mars_zoo.data.specs import TILE_SHARD_SIZE
from mars_zoo.data.hub_format import GALLERY_INDEX, SHARD_GLOB, encode_image, shard_name, write_tile_shard
from mars_zoo.data.files import file_sha256
from mars_zoo.data.tile_names import tile_name
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.protocol import GEO_MAX_ABS_LAT, GEO_TILE_DEG, GEO_TILE_WIDTH_PX
from mars_zoo.core.reporting import Reporter
from mars_zoo.core.safe_paths import path_under
from mars_zoo.core.stat_memo import stat_key

# 2: empty tiles are kept (format 1 dropped them), so staging from format 1 is redone.
TILES_FORMAT = 2
SOURCE_SUFFIXES = (".tif", ".tiff")
BUILD_DIR_NAME = ".build"

# The value of pixels without data (the published cut script's dstNodata).
NODATA = 0
# The grid in tenths of a degree, so corners are exact integers (tile names have one
# decimal).
_STEP = round(GEO_TILE_DEG * 10)
_MAX_ABS_LAT = round(GEO_MAX_ABS_LAT * 10)


@dataclass
class BuildReport:
    """What a build produced and what it did this time."""

    sources: int  # source files found
    rendered_sources: int  # of those, rendered by this run (the rest were done)
    tiles: int  # tiles in the shards
    empty: int  # of those, tiles without any data (all pixels NODATA), kept as published
    shards: int
    shards_written: int  # shards (re)written by this run
    skipped_polar: int  # tiles outside -80..80° latitude
    duplicates: int  # tile names produced again by a later source, dropped


def find_sources(ctx_dir: Path) -> list[Path]:
    """The GeoTIFFs under `ctx_dir` (recursively), in sorted path order."""
    ctx_dir = Path(ctx_dir)
    if not ctx_dir.is_dir():
        raise MarsZooError(
            f"CTX directory {ctx_dir} does not exist or is not a directory; pass the folder "
            f"holding the unzipped Murray Lab CTX mosaic GeoTIFFs (*.tif)."
        )
    return sorted(
        path for path in ctx_dir.rglob("*")
        if path.suffix.lower() in SOURCE_SUFFIXES and path.is_file()
    )


def build_tiles(
    ctx_dir: Path,
    out_dir: Path,
    *,
    tile_px: int = GEO_TILE_WIDTH_PX,
    shard_size: int = TILE_SHARD_SIZE,
    workers: int = 1,
    reporter: Reporter | None = None,
) -> BuildReport:
    """Render every source GeoTIFF under `ctx_dir` into tile shards in `out_dir`,
    redoing only what a previous (possibly killed) build did not finish."""
    _require_rasterio()
    if tile_px < 1 or shard_size < 1 or workers < 1:
        raise MarsZooError(
            f"tile_px ({tile_px}), shard_size ({shard_size}) and workers ({workers}) must all "
            f"be at least 1."
        )
    reporter = reporter or Reporter()
    ctx_dir, out_dir = Path(ctx_dir), Path(out_dir)
    sources = find_sources(ctx_dir)
    if not sources:
        raise MarsZooError(
            f"No GeoTIFF (*.tif, *.tiff) found under {ctx_dir}; download and unzip the Murray "
            f"Lab CTX mosaic tiles there first."
        )
    staging = path_under(out_dir, BUILD_DIR_NAME, "sources", field="--out", fix="choose another --out folder")
    staging.mkdir(parents=True, exist_ok=True)
    _remove_leftover_temporaries(out_dir)
    params = {"format": TILES_FORMAT, "tile_deg": GEO_TILE_DEG, "tile_px": tile_px,
              "max_abs_lat": GEO_MAX_ABS_LAT}

    jobs = [(str(path), _relative(path, ctx_dir), str(staging), params) for path in sources]
    pending = [job for job in jobs if _done_marker(*job) is None]
    for job in pending:  # fail before hours of work, not after
        _check_source(Path(job[0]))
    _render_all(pending, workers, reporter)

    markers = [_done_marker(*job) for job in jobs]
    changed = [job[1] for job, marker in zip(jobs, markers) if marker is None]
    if changed:
        raise MarsZooError(
            f"CTX source(s) {', '.join(changed)} changed while the tiles were being built; "
            f"run the build again when the files are complete."
        )
    return _pack(markers, len(pending), staging, out_dir, shard_size, params, reporter)


def _require_rasterio() -> None:
    try:
        import rasterio  # noqa: F401
        import pyproj  # noqa: F401
    except ImportError as exc:
        raise MarsZooError(
            f"Building CTX tiles needs rasterio and pyproj ({exc}); install them with "
            f"pip install 'mars-zoo[tiles]'."
        ) from exc


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _staged(staging: str, rel: str, suffix: str) -> Path:
    """The staging file (`suffix` ".tar" or ".json") of the source at `rel`, named after it."""
    return path_under(Path(staging), rel.replace("/", "__") + suffix, field=f"CTX source {rel!r}",
                      fix="rename the file to a plain name (letters, digits, '.', '_', '-')")


def _done_marker(path: str, rel: str, staging: str, params: dict) -> dict | None:
    """The done-marker of a source if it is valid for the file as it is now."""
    marker_path, tar_path = _staged(staging, rel, ".json"), _staged(staging, rel, ".tar")
    try:
        marker = json.loads(marker_path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if (
        marker.get("tar") != tar_path.name
        or marker.get("source") != rel
        or marker.get("params") != params
        or marker.get("stat") != stat_key(Path(path).stat())
        or not tar_path.is_file()
        or marker.get("tar_stat") != stat_key(tar_path.stat())
    ):
        return None
    return marker


def _remove_leftover_temporaries(out_dir: Path) -> None:
    """Temporary files of a killed build, in the output and the build state folders."""
    for directory in (out_dir, *(out_dir / BUILD_DIR_NAME).iterdir()):
        if directory.is_dir():
            remove_temporaries(directory)


# ----------------------------------------------------------------------------- render


def _check_source(path: Path) -> None:
    """Refuse a file the builder cannot cut, naming it and the fix."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            crs, dtypes, count = src.crs, set(src.dtypes), src.count
    except rasterio.errors.RasterioIOError as exc:
        raise MarsZooError(f"CTX source {path} cannot be read as a raster ({exc}).") from exc
    if crs is None:
        raise MarsZooError(
            f"CTX source {path} declares no coordinate reference system, so its tiles cannot "
            f"be placed on Mars; use the original Murray Lab GeoTIFF, or assign its CRS "
            f"(e.g. gdal_edit.py -a_srs ...) before building."
        )
    if dtypes != {"uint8"} or count not in (1, 3):
        raise MarsZooError(
            f"CTX source {path} has {count} band(s) of type {', '.join(sorted(dtypes))}; tiles "
            f"are 8-bit grayscale or RGB, so convert it to 1 or 3 uint8 bands first "
            f"(e.g. gdal_translate -ot Byte -scale)."
        )


def _render_all(jobs: list[tuple], workers: int, reporter: Reporter) -> None:
    with reporter.progress("rendering CTX tiles", total=len(jobs)) as advance:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                _render_source(*job)
                advance(1)
            return
        # spawn: GDAL state must not be forked into the workers.
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
        try:
            for future in as_completed([pool.submit(_render_source, *job) for job in jobs]):
                future.result()
                advance(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _render_source(path: str, rel: str, staging: str, params: dict) -> dict:
    """Cut one source file into a staging tar, then write its done-marker."""
    stat = stat_key(Path(path).stat())  # before reading: a change while rendering leaves it stale
    tar_path = _staged(staging, rel, ".tar")
    tiles: list[str] = []
    empty: list[str] = []
    polar = 0

    def rendered() -> Iterator[tuple[str, bytes]]:
        nonlocal polar
        for name, kind, pixels in _cut(Path(path), params["tile_px"]):
            if kind == "polar":
                polar += 1
                continue
            tiles.append(name)
            if kind == "empty":
                empty.append(name)
            yield name, _encode_png(pixels)

    write_tile_shard(tar_path, rendered())
    marker = {
        "source": rel, "stat": stat, "params": params,
        "tar": tar_path.name, "tar_stat": stat_key(tar_path.stat()),
        "tar_sha256": file_sha256(tar_path), "tiles": tiles,
        "empty": empty, "skipped_polar": polar,
    }
    atomic_write_bytes(_staged(staging, rel, ".json"), json.dumps(marker, indent=1).encode())
    return marker


def _cut(path: Path, tile_px: int) -> Iterator[tuple[str, str, np.ndarray | None]]:
    """(tile name, kind, pixels [bands, H, W]) for every grid cell of the file's
    footprint, row by row from the north-west. kind is "tile", "empty" (every pixel
    NODATA) or "polar" (outside the latitude band, not read, pixels None)."""
    import pyproj
    import rasterio
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.transform import Affine
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform, transform_bounds
    from rasterio.windows import Window

    with rasterio.open(path) as src:
        lonlat = CRS.from_wkt(pyproj.CRS.from_user_input(src.crs.to_wkt()).geodetic_crs.to_wkt())
        west, south, east, north = transform_bounds(src.crs, lonlat, *src.bounds, densify_pts=21)
        west_t, east_t = _snap(west), _snap(east)
        south_t, north_t = _snap(south), _snap(north)
        cols, rows = (east_t - west_t) // _STEP, (north_t - south_t) // _STEP
        if cols <= 0 or rows <= 0:
            return
        # Height over width of the central cell in the file's projection.
        lon0 = (west_t + (cols // 2) * _STEP) / 10
        lat0 = (south_t + (rows // 2) * _STEP) / 10
        xs, ys = transform(lonlat, src.crs, [lon0, lon0 + GEO_TILE_DEG], [lat0, lat0 + GEO_TILE_DEG])
        tile_h = max(1, round(tile_px * abs(ys[1] - ys[0]) / abs(xs[1] - xs[0])))
        grid = Affine(GEO_TILE_DEG / tile_px, 0, west_t / 10, 0, -GEO_TILE_DEG / tile_h, north_t / 10)
        with WarpedVRT(src, crs=lonlat, transform=grid, width=cols * tile_px,
                       height=rows * tile_h, nodata=NODATA, resampling=Resampling.bilinear) as vrt:
            for row in range(rows):
                lat_t = north_t - (row + 1) * _STEP
                names = [tile_name((west_t + col * _STEP) / 10, lat_t / 10) for col in range(cols)]
                if lat_t < -_MAX_ABS_LAT or lat_t + _STEP > _MAX_ABS_LAT:
                    for name in names:
                        yield name, "polar", None
                    continue
                strip = vrt.read(window=Window(0, row * tile_h, cols * tile_px, tile_h))
                for col, name in enumerate(names):
                    pixels = strip[:, :, col * tile_px:(col + 1) * tile_px]
                    yield name, "empty" if np.all(pixels == NODATA) else "tile", pixels


def _snap(degrees: float) -> int:
    """The nearest grid line, in tenths of a degree."""
    return round(degrees * 10 / _STEP) * _STEP


def _encode_png(pixels: np.ndarray) -> bytes:
    """[bands, H, W] -> PNG: grayscale for one band, RGB for three."""
    return encode_image(pixels[0] if len(pixels) == 1 else np.moveaxis(pixels, 0, -1))


# ------------------------------------------------------------------------------- pack


def _pack(markers: list[dict], rendered: int, staging: Path, out_dir: Path, shard_size: int,
          params: dict, reporter: Reporter) -> BuildReport:
    """Group the rendered tiles into shards, rewriting only the shards that changed."""
    members: list[tuple[str, dict]] = []  # (tile name, marker of its source)
    seen: set[str] = set()
    duplicates = empty = 0
    for marker in markers:
        empty_here = set(marker["empty"])
        for name in marker["tiles"]:
            if name in seen:
                duplicates += 1
                continue
            seen.add(name)
            members.append((name, marker))
            empty += name in empty_here
    if duplicates:
        reporter.warn(f"{duplicates} tiles were produced by more than one source file (the "
                      f"files overlap); the first source in path order was kept.")

    shards = [members[i:i + shard_size] for i in range(0, len(members), shard_size)]
    names = [shard_name(index) for index in range(len(shards))]
    written = 0
    with reporter.progress("packing tile shards", total=len(shards)) as advance:
        for name, shard in zip(names, shards):
            written += _write_shard(out_dir / name, shard, staging)
            advance(1)
    for stale in sorted(out_dir.glob(SHARD_GLOB)):
        if stale.name not in names:
            _signature_path(staging, stale.name).unlink(missing_ok=True)
            stale.unlink()

    report = BuildReport(
        sources=len(markers), rendered_sources=rendered, tiles=len(members),
        empty=empty, shards=len(shards),
        shards_written=written,
        skipped_polar=sum(marker["skipped_polar"] for marker in markers),
        duplicates=duplicates,
    )
    manifest = {
        **params,
        "tiles": report.tiles,
        "empty": report.empty,
        "shards": [{"file": name, "members": len(shard)} for name, shard in zip(names, shards)],
        "sources": [marker["source"] for marker in markers],
        "skipped_polar": report.skipped_polar,
        "duplicates": duplicates,
    }
    atomic_write_bytes(out_dir / GALLERY_INDEX, json.dumps(manifest, indent=1).encode())
    return report


def _signature_path(staging: Path, shard: str) -> Path:
    return path_under(staging.parent, "shards", f"{shard}.sha256", field="--out", fix="choose another --out folder")


def _write_shard(path: Path, shard: list[tuple[str, dict]], staging: Path) -> int:
    """Write one shard unless the published one already has these members; 1 if written."""
    digest = hashlib.sha256()
    for name, marker in shard:
        digest.update(f"{name}\t{marker['tar_sha256']}\n".encode())
    signature = digest.hexdigest()
    signature_path = _signature_path(staging, path.name)
    if path.is_file() and signature_path.is_file() and signature_path.read_text() == signature:
        return 0
    signature_path.unlink(missing_ok=True)
    write_tile_shard(path, _staged_tiles(shard, staging))
    atomic_write_bytes(signature_path, signature.encode())
    return 1


def _staged_tiles(shard: list[tuple[str, dict]], staging: Path) -> Iterator[tuple[str, bytes]]:
    """The shard's tiles read from the staging tars, opening each tar once for its run of
    consecutive members."""
    for tar_name, run in itertools.groupby(shard, key=lambda member: member[1]["tar"]):
        with tarfile.open(staging / tar_name, mode="r:") as source:
            for name, _ in run:
                yield name, source.extractfile(name).read()
