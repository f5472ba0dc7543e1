"""The hits of a search: ranked tiles with their place on the planet, and the files a
scientist takes away (CSV for tables, GeoJSON for GIS tools).

Positions follow the dataset's convention: a tile is named by, and placed at, its
lower-left corner (lon, lat) in degrees; its footprint is the GEO_TILE_DEG square
north-east of that corner.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from mars_zoo.scoring import metrics
from mars_zoo.core.protocol import GEO_RADIUS_DEG, GEO_TILE_DEG
from mars_zoo.scoring.search import TopK

CSV_COLUMNS = ("rank", "tile", "lon", "lat", "score", "near_ground_truth")


@dataclass(frozen=True)
class Hit:
    rank: int  # 1 = best
    tile: str  # the tile's id in the gallery (its file name)
    index: int  # its row in the gallery
    lon: float  # lower-left corner, degrees
    lat: float
    score: float  # cosine similarity to the query
    near_ground_truth: bool | None = None  # within the protocol's radius of a catalogue point; None without one


@dataclass(frozen=True)
class Coverage:
    """How this search's hits meet a ground-truth catalogue, with task 3's radius and
    arithmetic: precision = hits near a catalogue point / hits; recall = catalogue points
    near a hit / catalogue points."""

    landform: str
    points: int
    precision: float
    recall: float


def rank(top: TopK, k: int, tile_ids: Sequence[str], lonlat: np.ndarray) -> list[Hit]:
    """The best `k` tiles of one query, by score, ties in gallery order."""
    order = np.lexsort((top.indices, -top.scores))[:k]
    return [
        Hit(
            rank=position + 1,
            tile=str(tile_ids[int(top.indices[i])]),
            index=int(top.indices[i]),
            lon=float(lonlat[top.indices[i], 0]),
            lat=float(lonlat[top.indices[i], 1]),
            score=float(top.scores[i]),
        )
        for position, i in enumerate(order)
    ]


def against_truth(hits: list[Hit], landform: str, truth: np.ndarray) -> tuple[list[Hit], Coverage]:
    """The hits marked near or far from the catalogue, and the search's coverage of it."""
    tiles = np.array([[hit.lon, hit.lat] for hit in hits], dtype=np.float64).reshape(-1, 2)
    tile_of_pair, point_of_pair = metrics.pairs_within_radius(tiles, truth, GEO_RADIUS_DEG)
    near = np.zeros(len(hits), dtype=bool)
    near[tile_of_pair] = True
    marked = [Hit(**{**asdict(hit), "near_ground_truth": bool(flag)}) for hit, flag in zip(hits, near)]
    coverage = Coverage(
        landform=landform,
        points=len(truth),
        precision=float(near.mean()) if hits else 0.0,
        recall=float(np.unique(point_of_pair).size / len(truth)) if len(truth) else 0.0,
    )
    return marked, coverage


def footprint(hit: Hit) -> list[list[float]]:
    """The tile's square as a closed GeoJSON ring, counter-clockwise (RFC 7946)."""
    west, south = hit.lon, hit.lat
    east, north = round(west + GEO_TILE_DEG, 10), round(south + GEO_TILE_DEG, 10)
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


def to_csv(hits: list[Hit]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for hit in hits:
        near = "" if hit.near_ground_truth is None else str(hit.near_ground_truth).lower()
        writer.writerow([hit.rank, hit.tile, hit.lon, hit.lat, repr(hit.score), near])
    return out.getvalue()


def to_geojson(hits: list[Hit], query: dict[str, Any]) -> dict[str, Any]:
    """A FeatureCollection of the tiles' footprints, best first, with the query recorded.
    Mars coordinates: GIS tools should be told the body (IAU 2015:49900, Mars 2000
    sphere, planetocentric degrees east), since GeoJSON's default datum is Earth's."""
    return {
        "type": "FeatureCollection",
        "query": query,
        "features": [
            {
                "type": "Feature",
                "id": hit.rank,
                "geometry": {"type": "Polygon", "coordinates": [footprint(hit)]},
                "properties": {key: value for key, value in asdict(hit).items() if key != "index"},
            }
            for hit in hits
        ],
    }
