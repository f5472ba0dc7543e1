"""The search's self-contained HTML page: the hits on the dataset's basemap, thumbnails
of the best tiles, and the table of every hit.

Everything the page shows is inside the file (images as data: URLs, inline CSS, no
script), and its Content-Security-Policy forbids loading anything else, so it opens
from file:// anywhere and makes no outside request. It is built with the leaderboard's
HTML builder (`mars_zoo.leaderboard.html`, which loads nothing else of the leaderboard), so
every string from the user or the data is escaped by the same rules as the site's.

The basemap is drawn as a simple cylindrical map of the whole planet (longitude -180
to 180 left to right, latitude 90 to -90 top to bottom); longitudes given as 0..360
are drawn at their -180..180 equivalent. The view is cut to the region that holds the
hits and the catalogue points (`view_box`).
"""

from __future__ import annotations

import io
from pathlib import Path

from mars_zoo.data.decoding import decode
from mars_zoo.discover.hits import Coverage, Hit
from mars_zoo.discover.searcher import SearchResult
from mars_zoo.leaderboard.html import Markup, document, el, image_data_url
from mars_zoo.protocol import GEO_RADIUS_DEG, GEO_TILE_DEG

MAP_MAX_WIDTH = 2048
THUMB_PX = 160
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_STYLE = Markup("""
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
""")


def _data_url(image, fmt: str) -> str:
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return image_data_url(out.getvalue(), f"image/{fmt.lower()}")


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


def _markers(hits: list[Hit], truth: list[tuple[float, float]], unit: float) -> list[Markup]:
    stroke = f"{unit * 0.25:.4f}"
    parts = [el("circle", class_="truth", cx=f"{x:.4f}", cy=f"{y:.4f}", r=f"{GEO_RADIUS_DEG:.2f}", fill="none",
                stroke="#39d0ff", stroke_width=stroke) for x, y in truth]
    for hit in reversed(hits):  # best drawn last, on top
        colour = "#ffd400" if hit.near_ground_truth is not False else "#ff4fd8"
        cx, cy = _x(hit.lon) + GEO_TILE_DEG / 2, -(hit.lat + GEO_TILE_DEG / 2)
        tooltip = f"#{hit.rank} {hit.tile} ({hit.lon:g}, {hit.lat:g}) score {hit.score:.4f}"
        parts.append(el("circle", el("title", tooltip), class_="hit", cx=f"{cx:.4f}", cy=f"{cy:.4f}", r=f"{unit:.4f}",
                        fill=colour, stroke="#000", stroke_width=stroke))
    return parts


def _map(result: SearchResult) -> Markup:
    basemap = _basemap(result.mars_map)
    image = (
        el("image", href=basemap, x="-180", y="-90", width="360", height="180", preserveAspectRatio="none")
        if basemap else el("rect", x="-180", y="-90", width="360", height="180", fill="#5a3a2a")
    )
    truth = [(_x(lon), -lat) for lon, lat in result.truth.tolist()] if result.truth is not None else []
    centres = [(_x(hit.lon) + GEO_TILE_DEG / 2, -(hit.lat + GEO_TILE_DEG / 2)) for hit in result.hits]
    west, north, width, height = view_box(centres + truth)
    return el("figure", el("svg", image, _markers(result.hits, truth, unit=width / 300),
                           viewBox=f"{west:.4f} {north:.4f} {width:.4f} {height:.4f}", role="img",
                           aria_label=f"The {len(result.hits)} best tiles on the map of Mars"), class_="map")


def _swatch(**css: str) -> Markup:
    return el("span", class_="sw", style=css)


def _legend(coverage: Coverage | None) -> Markup:
    items = [el("span", _swatch(background="#ffd400"), "hit", " near the catalogue" if coverage else None)]
    if coverage:
        items.append(el("span", _swatch(background="#ff4fd8"), "hit far from it"))
        items.append(el("span", _swatch(border="2px solid #39d0ff"),
                        f"catalogue point of {coverage.landform} ({GEO_RADIUS_DEG:g}° circle)"))
    return el("div", items, class_="legend")


def _thumbnails(result: SearchResult, count: int) -> Markup:
    figures = []
    for hit in result.hits[:count]:
        image = result.tile_images[hit.index].copy()
        image.thumbnail((THUMB_PX, THUMB_PX))
        figures.append(el("figure", el("img", src=_data_url(image, "JPEG"), alt=f"tile {hit.tile}", width=image.width,
                                       height=image.height),
                          el("figcaption", f"#{hit.rank} · {hit.lon:g}°E {hit.lat:g}°N · {hit.score:.4f}")))
    return el("div", figures, class_="grid")


def _near(hit: Hit) -> Markup | str:
    if hit.near_ground_truth is None:
        return ""
    return el("span", "yes", class_="near") if hit.near_ground_truth else "no"


def _table(hits: list[Hit]) -> Markup:
    columns = ("rank", "tile", "lon", "lat", "score", "near catalogue")
    rows = [el("tr", [el("td", cell) for cell in (hit.rank, hit.tile, f"{hit.lon:g}", f"{hit.lat:g}",
                                                    f"{hit.score:.6f}", _near(hit))]) for hit in hits]
    return el("div", el("table", el("thead", el("tr", [el("th", name, scope="col") for name in columns])),
                        el("tbody", rows)),
              class_="table-wrap", tabindex="0", role="region", aria_label="every hit")


def render(result: SearchResult, thumbnails: int = 24) -> str:
    """The whole page, with thumbnails of the best `thumbnails` hits."""
    query = result.query
    title = query["text"] or f"{len(query['images'])} example image(s)"
    warnings = []
    if result.synthetic:
        warnings.append("Synthetic gallery (the mini benchmark): these hits say nothing about Mars.")
    if result.model["random_weights"]:
        warnings.append("Random-weight model: its ranking is noise, for demos and tests only.")
    stats = [
        el("span", "tiles searched ", el("b", f"{result.gallery_size:,}")),
        el("span", "hits shown ", el("b", len(result.hits))),
    ]
    if result.coverage:
        stats += [
            el("span", "precision ", el("b", f"{result.coverage.precision:.3f}")),
            el("span", "recall ", el("b", f"{result.coverage.recall:.3f}"),
               f" of {result.coverage.points} catalogue points"),
        ]
    images = [el("li", Path(p).name) for p in query["images"]]
    head = (
        el("meta", charset="utf-8"),
        el("meta", http_equiv="Content-Security-Policy", content=CSP),
        el("meta", name="viewport", content="width=device-width,initial-scale=1"),
        el("title", f"mars-zoo search: {title}"),
        el("style", _STYLE),
    )
    main = (
        el("h1", title),
        el("p", "model ", el("b", result.model["name"]), " · mode ", el("b", query["mode"]), f" · top {query['k']}",
           class_="meta"),
        [el("p", "Example images:"), el("ul", images)] if images else None,
        [el("p", text, class_="warn") for text in warnings],
        el("div", stats, class_="stats"),
        _map(result),
        _legend(result.coverage),
        el("h2", f"Best {min(thumbnails, len(result.hits))} tiles"), _thumbnails(result, thumbnails),
        el("h2", "Every hit"), _table(result.hits),
    )
    return document(head, [el("main", main)], lang="en")
