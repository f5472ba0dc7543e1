"""The geo-localization repository (task 3): ground-truth points and query images
per landform, joined with the tile gallery read by `tile_gallery`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from mars_zoo.data.decoding import header_problem, refused
from mars_zoo.data.files import require_dir
from mars_zoo.data.image_sources import FileImageSource
from mars_zoo.data.types import DatasetRef, GeoData, TileGallery
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.protocol import GEO_LANDFORMS

# The query image files the published evaluation code reads (compared case-insensitively).
QUERY_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
# Where a ground-truth point may lie: longitudes east of -180 in either convention
# (-180..180 or 0..360), latitudes of the planet.
LON_RANGE = (-180.0, 360.0)  # [min, max)
LAT_RANGE = (-90.0, 90.0)  # [min, max]
QUERY_IMAGE_FIX = "replace it with a valid image, or remove it from the query folder"


def _check_point(path: Path, line: int, lon: float, lat: float) -> None:
    """A point outside the planet (or NaN, which `float` accepts) would be scored
    silently as a point no tile can reach."""
    if not (np.isfinite(lon) and np.isfinite(lat)
            and LON_RANGE[0] <= lon < LON_RANGE[1] and LAT_RANGE[0] <= lat <= LAT_RANGE[1]):
        raise MarsZooError(
            f"Ground truth {path}, line {line}: the point lon {lon!r}, lat {lat!r} is not on the "
            f"planet (lon must be finite and in [-180, 360), lat finite and in [-90, 90]). Fix the "
            f"row (degrees, lon before lat) or use the Hub copy."
        )


def read_ground_truth(path: Path) -> np.ndarray:
    """A landform's ground truth CSV -> [G, 2] (lon, lat) in degrees."""
    if not path.is_file():
        raise MarsZooError(
            f"Ground truth {path} is missing. Fix: the geo-localization dataset needs one CSV per "
            f"landform ({', '.join(GEO_LANDFORMS)}) with columns lon, lat."
        )
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or ()]
        missing = [name for name in ("lon", "lat") if name not in columns]
        if missing:
            raise MarsZooError(
                f"Ground truth {path} lacks the column(s) {', '.join(missing)} (it has "
                f"{', '.join(columns) or 'no header'}). Fix: the CSV needs a header with lon and lat."
            )
        reader.fieldnames = columns
        points = []
        for row in reader:
            try:
                lon, lat = float(row["lon"]), float(row["lat"])
            except (TypeError, ValueError):
                raise MarsZooError(
                    f"Ground truth {path}, line {reader.line_num}: lon/lat {row.get('lon')!r}, "
                    f"{row.get('lat')!r} are not numbers. Fix the row or use the Hub copy."
                ) from None
            _check_point(path, reader.line_num, lon, lat)
            points.append((lon, lat))
    if not points:
        raise MarsZooError(f"Ground truth {path} has no rows; every landform needs at least one point.")
    return np.asarray(points, dtype=np.float64)


def read_query_images(directory: Path) -> FileImageSource:
    """A landform's example images, sorted by file name (native size: the model's own
    preprocessing is the only transform, as in the published protocol).

    Every entry of the folder is a query image with one of the suffixes the published
    code reads (`QUERY_IMAGE_SUFFIXES`, any case), except hidden entries (download
    caches, editor and OS files) and a README (README or README.*), which are ignored.
    Anything else (another file, a subfolder) is an error rather than skipped: a query
    image silently left out would change the image and hybrid queries."""
    require_dir(directory, "A query image folder", f"put the landform's example images in {directory}")
    paths = []
    for path in sorted(directory.iterdir(), key=lambda path: path.name):
        if path.name.startswith("."):
            continue
        if path.is_file() and path.suffix.lower() in QUERY_IMAGE_SUFFIXES:
            paths.append(path)
        elif path.name.split(".")[0].upper() != "README":
            raise MarsZooError(
                f"{path} is not a query image: {directory} may hold only images "
                f"({', '.join(QUERY_IMAGE_SUFFIXES)}), and every one of them is used. Fix: move it "
                f"out of the folder, or convert it to one of those formats."
            )
    if not paths:
        raise MarsZooError(f"{directory} holds no query images ({', '.join(QUERY_IMAGE_SUFFIXES)}).")
    return checked_images(paths, [f"{directory.name}/{path.name}" for path in paths])


def checked_images(paths: list[Path], ids: list[str], fix: str = QUERY_IMAGE_FIX) -> FileImageSource:
    """Image files whose headers were read before anything is embedded, so that a file
    that is no image (or a decompression bomb) fails now, naming the file."""
    for path, item in zip(paths, ids):
        problem = header_problem(str(path))
        if problem is not None:
            raise refused(item, str(path), fix, problem)
    return FileImageSource(paths, ids, fix)


def find_mars_map(path: Path) -> Path | None:
    """The basemap of a geo-localization copy: the first image of its mars_map/ folder."""
    folder = path / "mars_map"
    if not folder.is_dir():
        return None
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in QUERY_IMAGE_SUFFIXES)
    return images[0] if images else None


def read_geolocalization(path: Path, ref: DatasetRef, gallery: TileGallery) -> GeoData:
    for folder in ("ground_truth", "image_queries"):
        fix = f"copy the repository's {folder}/ folder into {path}"
        require_dir(path / folder, f"Folder {folder}/ of {ref.id}", fix)
    return GeoData(
        dataset=ref,
        ground_truth={
            name: read_ground_truth(path / "ground_truth" / f"{name}.csv") for name in GEO_LANDFORMS
        },
        query_images={name: read_query_images(path / "image_queries" / name) for name in GEO_LANDFORMS},
        gallery=gallery,
        mars_map=find_mars_map(path),
    )

