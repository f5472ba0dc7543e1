"""The search's self-contained HTML page: the hits on the dataset's basemap, thumbnails
of the best tiles, and the table of every hit.

Everything the page shows is inside the file (images as data: URLs, inline CSS, no
script), and its Content-Security-Policy forbids loading anything else, so it opens
from file:// anywhere and makes no outside request. Every string from the user or the
data is escaped.

The basemap is drawn as a simple cylindrical map of the whole planet (longitude -180
to 180 left to right, latitude 90 to -90 top to bottom); longitudes given as 0..360
are drawn at their -180..180 equivalent. The view is cut to the region that holds the
hits and the catalogue points (`view_box`).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from mars_zoo.data.decoding import decode
from mars_zoo.discover.hits import Coverage, Hit
from mars_zoo.discover.searcher import SearchResult
from mars_zoo.protocol import GEO_RADIUS_DEG, GEO_TILE_DEG

MAP_MAX_WIDTH = 2048
THUMB_PX = 160
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:16px}
h1{font-size:1.35rem;margin:.2em 0}
.meta{color:#444;margin:.2em 0 1em}
.warn{background:#fff4ce;border:1px solid #c9a400;padding:.5em .8em;margin:.6em 0}
.stats{display:flex;flex-wrap:wrap;gap:.5em 1.5em;margin:.6em 0}
.stats b{font-variant-numeric:tabular-nums}
figure.map{margin:0;background:#222}
figure.map svg{display:block;width:100%;height:auto}
.legend{display:flex;gap:1.2em;flex-wrap:wrap;font-size:.9rem;margin:.4em 0 1.2em}
.sw{display:inline-block;width:.9em;height:.9em;border-radius:50%;vertical-align:-.1em;margin-right:.3em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px}
.grid figure{margin:0;background:#fff;border:1px solid #ddd;padding:4px}
.grid img{width:100%;height:auto;display:block;image-rendering:auto}
.grid figcaption{font-size:.8rem;font-variant-numeric:tabular-nums}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;margin-top:.6em}
th,td{border-bottom:1px solid #ddd;padding:.25em .5em;text-align:right}
th:nth-child(2),td:nth-child(2){text-align:left}
thead th{background:#eee;position:sticky;top:0}
.near{color:#0b6e2e;font-weight:600}
"""


def _data_url(image, fmt: str) -> str:
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(out.getvalue()).decode('ascii')}"


def _basemap(path: Path | None) -> str | None:
    if path is None:
        return None
    image = decode(str(path), path.name, str(path), "replace the dataset's mars_map image with the Hub copy")
    image.thumbnail((MAP_MAX_WIDTH, MAP_MAX_WIDTH // 2))
    return _data_url(image, "JPEG" if image.width * image.height > 256 * 128 else "PNG")


def _x(lon: float) -> float:
    return lon - 360 if lon >= 180 else lon


def view_box(points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    """(west, north, width, height) in map units (x = lon, y = -lat): the 2:1 window that
    holds every point with a margin, so that hits clustered in one region are not lost in
    a view of the whole planet; the whole planet when they spread over it."""
    if not points:
        return -180.0, -90.0, 360.0, 180.0
    xs, ys = [x for x, _ in points], [y for _, y in points]
    margin = max(2.0, 0.1 * max(max(xs) - min(xs), max(ys) - min(ys)))
    width = max(max(xs) - min(xs) + 2 * margin, 2 * (max(ys) - min(ys) + 2 * margin))
    width = min(width, 360.0)
    height = width / 2
    west = min(max((min(xs) + max(xs) - width) / 2, -180.0), 180.0 - width)
    north = min(max((min(ys) + max(ys) - height) / 2, -90.0), 90.0 - height)
    return west, north, width, height


def _markers(hits: list[Hit], truth: list[tuple[float, float]], unit: float) -> str:
    parts = [
        f'<circle class="truth" cx="{x:.4f}" cy="{y:.4f}" r="{GEO_RADIUS_DEG:.2f}" fill="none" '
        f'stroke="#39d0ff" stroke-width="{unit * 0.25:.4f}"/>'
        for x, y in truth
    ]
    for hit in reversed(hits):  # best drawn last, on top
        colour = "#ffd400" if hit.near_ground_truth is not False else "#ff4fd8"
        cx, cy = _x(hit.lon) + GEO_TILE_DEG / 2, -(hit.lat + GEO_TILE_DEG / 2)
        parts.append(
            f'<circle class="hit" cx="{cx:.4f}" cy="{cy:.4f}" r="{unit:.4f}" fill="{colour}" stroke="#000" '
            f'stroke-width="{unit * 0.25:.4f}"><title>#{hit.rank} {html.escape(hit.tile)} '
            f"({hit.lon:g}, {hit.lat:g}) score {hit.score:.4f}</title></circle>"
        )
    return "".join(parts)


def _map(result: SearchResult) -> str:
    basemap = _basemap(result.mars_map)
    image = (
        f'<image href="{basemap}" x="-180" y="-90" width="360" height="180" preserveAspectRatio="none"/>'
        if basemap else '<rect x="-180" y="-90" width="360" height="180" fill="#5a3a2a"/>'
    )
    truth = [(_x(lon), -lat) for lon, lat in result.truth.tolist()] if result.truth is not None else []
    centres = [(_x(hit.lon) + GEO_TILE_DEG / 2, -(hit.lat + GEO_TILE_DEG / 2)) for hit in result.hits]
    west, north, width, height = view_box(centres + truth)
    return (
        f'<figure class="map"><svg viewBox="{west:.4f} {north:.4f} {width:.4f} {height:.4f}" role="img" '
        f'aria-label="The {len(result.hits)} best tiles on the map of Mars">{image}'
        f"{_markers(result.hits, truth, unit=width / 300)}</svg></figure>"
    )


def _legend(coverage: Coverage | None) -> str:
    items = ['<span><span class="sw" style="background:#ffd400"></span>hit'
             + (" near the catalogue" if coverage else "") + "</span>"]
    if coverage:
        items.append('<span><span class="sw" style="background:#ff4fd8"></span>hit far from it</span>')
        items.append(
            f'<span><span class="sw" style="border:2px solid #39d0ff"></span>catalogue point of '
            f"{html.escape(coverage.landform)} ({GEO_RADIUS_DEG:g}° circle)</span>"
        )
    return f'<div class="legend">{"".join(items)}</div>'


def _thumbnails(result: SearchResult, count: int) -> str:
    figures = []
    for hit in result.hits[:count]:
        image = result.tile_images[hit.index].copy()
        image.thumbnail((THUMB_PX, THUMB_PX))
        figures.append(
            f'<figure><img src="{_data_url(image, "JPEG")}" alt="tile {html.escape(hit.tile)}" '
            f'width="{image.width}" height="{image.height}"><figcaption>#{hit.rank} · '
            f"{hit.lon:g}°E {hit.lat:g}°N · {hit.score:.4f}</figcaption></figure>"
        )
    return f'<div class="grid">{"".join(figures)}</div>'


def _table(hits: list[Hit]) -> str:
    rows = "".join(
        f"<tr><td>{hit.rank}</td><td>{html.escape(hit.tile)}</td><td>{hit.lon:g}</td><td>{hit.lat:g}</td>"
        f"<td>{hit.score:.6f}</td><td>"
        + ("" if hit.near_ground_truth is None else '<span class="near">yes</span>' if hit.near_ground_truth else "no")
        + "</td></tr>"
        for hit in hits
    )
    return (
        '<div class="table-wrap" tabindex="0" role="region" aria-label="every hit"><table><thead><tr>'
        '<th scope="col">rank</th><th scope="col">tile</th><th scope="col">lon</th><th scope="col">lat</th>'
        '<th scope="col">score</th><th scope="col">near catalogue</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def render(result: SearchResult, thumbnails: int = 24) -> str:
    query = result.query
    title = query["text"] or f"{len(query['images'])} example image(s)"
    warnings = []
    if result.synthetic:
        warnings.append("Synthetic gallery (the mini benchmark): these hits say nothing about Mars.")
    if result.model["random_weights"]:
        warnings.append("Random-weight model: its ranking is noise, for demos and tests only.")
    stats = [
        f"<span>tiles searched <b>{result.gallery_size:,}</b></span>",
        f"<span>hits shown <b>{len(result.hits)}</b></span>",
    ]
    if result.coverage:
        stats += [
            f"<span>precision <b>{result.coverage.precision:.3f}</b></span>",
            f"<span>recall <b>{result.coverage.recall:.3f}</b> of {result.coverage.points} catalogue points</span>",
        ]
    images = "".join(f"<li>{html.escape(Path(p).name)}</li>" for p in query["images"])
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>mars-zoo search: {html.escape(title)}</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="meta">model <b>{html.escape(result.model["name"])}</b> · mode <b>{html.escape(query["mode"])}</b>'
        f" · top {query['k']}</p>"
        + (f"<p>Example images:</p><ul>{images}</ul>" if images else "")
        + "".join(f'<p class="warn">{html.escape(text)}</p>' for text in warnings)
        + f'<div class="stats">{"".join(stats)}</div>'
        + _map(result)
        + _legend(result.coverage)
        + f"<h2>Best {min(thumbnails, len(result.hits))} tiles</h2>{_thumbnails(result, thumbnails)}"
        + f"<h2>Every hit</h2>{_table(result.hits)}"
        + "</main></body></html>\n"
    )
