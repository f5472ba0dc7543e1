"""The search's self-contained HTML page: the hits on an interactive map of the dataset's
basemap, thumbnails of the best tiles, and a sortable table of every hit.

Everything the page shows is inside the file: Leaflet (assets/leaflet.js and leaflet.css,
version and licence in assets/README.md), the page's own script (assets/search_map.js), the
basemap and thumbnails as data: URLs, the hits as a JSON block. Its Content-Security-Policy
allows exactly those two scripts (by their sha256) and no request at all, so the page opens
from file:// anywhere and makes no outside request. It is built with the one HTML builder
(`mars_zoo.leaderboard.html`, which loads nothing else of the leaderboard), so every string
from the user or the data is escaped by the same rules as the site's; the script writes text
with textContent only.

The map is Leaflet's simple CRS with x = longitude and y = latitude in degrees (a plain
cylindrical map of the whole planet, -180..180 by -90..90), so the catalogue circles are the
protocol's radius in degrees, as task 3 measures it. Longitudes given as 0..360 are drawn
at their -180..180 equivalent. Hits sit at their tile's centre; coordinates are written
1.6°S, 130.2°E (a tile's lower-left corner, as the dataset names it).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
from importlib import resources
from pathlib import Path

from mars_zoo.data.decoding import decode
from mars_zoo.discover.hits import Coverage, Hit
from mars_zoo.discover.searcher import SearchResult
from mars_zoo.leaderboard.html import Markup, document, el, image_data_url, script_json
from mars_zoo.core.protocol import GEO_RADIUS_DEG, GEO_TILE_DEG

MAP_MAX_WIDTH = 2048
THUMB_PX = 160
POPUP_THUMB_PX = 120
LEAFLET_VERSION = "1.9.4"
NEAR, FAR = "near", "far"  # the class that marks a hit near / far from the catalogue, on map and thumbnails

_STYLE = Markup("""
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:16px}
h1{font-size:1.35rem;margin:.2em 0}
nav.links{display:flex;flex-wrap:wrap;gap:.4em 1.2em;margin:.3em 0}
.meta{color:#444;margin:.2em 0 1em}
.warn{background:#fff4ce;border:1px solid #c9a400;padding:.5em .8em;margin:.6em 0}
.stats{display:flex;flex-wrap:wrap;gap:.5em 1.5em;margin:.6em 0}
.stats b{font-variant-numeric:tabular-nums}
#map{height:min(70vh,560px);background:#222}
#map:focus-visible,.hit-marker:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}
.hit-marker .rank{display:flex;align-items:center;justify-content:center;width:30px;height:30px;box-sizing:border-box;
 border-radius:50%;border:2px solid #000;font:700 12px/1 system-ui,sans-serif}
.hit-marker.near .rank,.grid figure.near{box-shadow:0 0 0 3px #16c35a}
.hit-marker.far .rank{border:2px dashed #ff4fd8}
.grat-label span{color:#fff;font:11px/1 system-ui,sans-serif;text-shadow:0 0 3px #000;white-space:nowrap}
.grat-label.lon span{position:relative;top:-14px}
.grat-label.lat span{position:absolute;right:4px;top:-14px}
.popup img{display:block;margin-bottom:4px}
.legend{display:flex;gap:1.2em;flex-wrap:wrap;font-size:.9rem;margin:.4em 0 1.2em;align-items:center}
.sw{display:inline-block;width:1em;height:1em;border-radius:50%;vertical-align:-.15em;margin-right:.3em;box-sizing:border-box}
.ramp{display:inline-block;width:6em;height:.8em;vertical-align:-.05em;margin:0 .3em;
 background:linear-gradient(90deg,rgb(68,1,84),rgb(59,82,139),rgb(33,145,140),rgb(94,201,98),rgb(253,231,37))}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px}
.grid figure{margin:0;background:#fff;border:1px solid #ddd;padding:4px}
.grid figure.far{outline:2px dashed #ff4fd8;outline-offset:-2px}
.grid img{width:100%;height:auto;display:block;image-rendering:auto}
.grid figcaption{font-size:.8rem;font-variant-numeric:tabular-nums}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;margin-top:.6em}
th,td{border-bottom:1px solid #ddd;padding:.25em .5em;text-align:right;white-space:nowrap}
th:nth-child(2),td:nth-child(2){text-align:left}
thead th{background:#eee;position:sticky;top:0}
thead button{font:inherit;font-weight:700;background:none;border:0;padding:.2em;cursor:pointer;color:inherit}
th[aria-sort=ascending] button::after{content:" \\25B2"}
th[aria-sort=descending] button::after{content:" \\25BC"}
.near{color:#0b6e2e;font-weight:600}
@media (max-width:600px){main{padding:8px}th,td{padding:.25em .3em}}
""")


@functools.cache
def _asset(name: str) -> str:
    return resources.files("mars_zoo.discover").joinpath("assets", name).read_text("utf-8")


def _script_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy() -> str:
    """No request at all; the two inline scripts by their sha256; inline styles (Leaflet
    positions its layers with them); images only as data: URLs."""
    scripts = " ".join(_script_hash(_asset(name)) for name in ("leaflet.js", "search_map.js"))
    return f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src {scripts}"


def format_lonlat(lon: float, lat: float) -> str:
    """'1.6°S, 130.2°E': latitude first, as maps are read, longitude in -180..180."""
    def part(value: float, positive: str, negative: str) -> str:
        text = f"{abs(value):.2f}".rstrip("0").rstrip(".")
        return f"{text}°{negative if value < 0 else positive if value > 0 else ''}"
    return f"{part(lat, 'N', 'S')}, {part(_x(lon), 'E', 'W')}"


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


def _thumbnail(result: SearchResult, hit: Hit, size: int) -> str:
    image = result.tile_images[hit.index].copy()
    image.thumbnail((size, size))
    return _data_url(image, "JPEG")


def _near_class(hit: Hit) -> str:
    return "" if hit.near_ground_truth is None else NEAR if hit.near_ground_truth else FAR


def _near_text(hit: Hit) -> str:
    return {None: "", True: "near the catalogue", False: "far from the catalogue"}[hit.near_ground_truth]


def map_data(result: SearchResult, thumbnails: int) -> dict:
    """What the page's script draws: JSON, read with textContent, never run as markup."""
    truth = [[_x(lon), lat] for lon, lat in result.truth.tolist()] if result.truth is not None else []
    hits = [{"rank": hit.rank, "tile": hit.tile, "lon": _x(hit.lon), "lat": hit.lat, "score": hit.score,
             "where": format_lonlat(hit.lon, hit.lat), "near_class": _near_class(hit), "near_text": _near_text(hit),
             "thumbnail": _thumbnail(result, hit, POPUP_THUMB_PX) if hit.rank <= thumbnails else None}
            for hit in result.hits]
    return {"basemap": _basemap(result.mars_map), "tile": GEO_TILE_DEG, "radius": GEO_RADIUS_DEG, "truth": truth,
            "hits": hits}


def _swatch(**css: str) -> Markup:
    return el("span", class_="sw", style=css)


def _legend(coverage: Coverage | None) -> Markup:
    items = [el("span", "score: low", el("span", class_="ramp"), "high (number: rank)")]
    if coverage:
        items.append(el("span", _swatch(**{"border": "2px solid #000", "box-shadow": "0 0 0 3px #16c35a"}),
                        "hit near the catalogue"))
        items.append(el("span", _swatch(border="2px dashed #ff4fd8"), "hit far from it"))
        items.append(el("span", _swatch(border="2px solid #39d0ff"),
                        f"catalogue point of {coverage.landform} ({GEO_RADIUS_DEG:g}° circle)"))
    return el("div", items, class_="legend")


def _thumbnails(result: SearchResult, count: int) -> Markup:
    figures = []
    for hit in result.hits[:count]:
        caption = [f"#{hit.rank} · {format_lonlat(hit.lon, hit.lat)} · {hit.score:.4f}",
                   [el("br"), el("span", _near_text(hit), class_="near" if hit.near_ground_truth else None)]
                   if hit.near_ground_truth is not None else None]
        figures.append(el("figure", el("img", src=_thumbnail(result, hit, THUMB_PX), alt=f"tile {hit.tile}"),
                          el("figcaption", caption), class_=_near_class(hit) or None))
    return el("div", figures, class_="grid")


def _near(hit: Hit) -> Markup | str:
    if hit.near_ground_truth is None:
        return ""
    return el("span", "yes", class_="near") if hit.near_ground_truth else "no"


def _table(hits: list[Hit]) -> Markup:
    """Rank, tile and score first: on a phone they show without scrolling the table."""
    columns = ("rank", "tile", "score", "lower-left corner", "near catalogue")
    header = el("tr", [el("th", el("button", name, type="button"), scope="col",
                          aria_sort="ascending" if name == "rank" else None) for name in columns])
    rows = [el("tr", el("td", hit.rank, data_sort=hit.rank), el("td", hit.tile, data_sort=hit.tile),
                     el("td", f"{hit.score:.6f}", data_sort=repr(hit.score)),
                     el("td", format_lonlat(hit.lon, hit.lat), data_sort=f"{hit.lat!r}"),
                     el("td", _near(hit), data_sort="" if hit.near_ground_truth is None else int(hit.near_ground_truth)))
            for hit in hits]
    return el("div", el("table", el("thead", header), el("tbody", rows), class_="sortable"),
              class_="table-wrap", tabindex="0", role="region", aria_label="every hit")


def render(result: SearchResult, thumbnails: int = 24, leaderboard: str | None = None) -> str:
    """The whole page, with thumbnails of the best `thumbnails` hits; `leaderboard` is the
    link back to the leaderboard (a relative URL or an http(s) address), None for none."""
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
    links = [el("a", "hits.csv", href="hits.csv"), el("a", "hits.geojson", href="hits.geojson"),
             el("a", "the leaderboard", href=leaderboard) if leaderboard else None]
    head = (
        el("meta", charset="utf-8"),
        el("meta", http_equiv="Content-Security-Policy", content=content_security_policy()),
        el("meta", name="viewport", content="width=device-width,initial-scale=1"),
        el("title", f"mars-zoo search: {title}"),
        el("style", Markup(_asset("leaflet.css"))),
        el("style", _STYLE),
    )
    main = (
        el("h1", title),
        el("p", "model ", el("b", result.model["name"]), " · mode ", el("b", query["mode"]), f" · top {query['k']}",
           class_="meta"),
        el("nav", links, class_="links", aria_label="downloads and the leaderboard"),
        [el("p", "Example images:"), el("ul", images)] if images else None,
        [el("p", text, class_="warn") for text in warnings],
        el("div", stats, class_="stats"),
        el("div", id="map", role="application", tabindex="0",
           aria_label=f"Map of Mars with the {len(result.hits)} best tiles; Tab moves to each numbered hit, "
                      f"Enter opens it, arrow keys pan, + and - zoom"),
        _legend(result.coverage),
        el("h2", f"Best {min(thumbnails, len(result.hits))} tiles"), _thumbnails(result, thumbnails),
        el("h2", "Every hit"), _table(result.hits),
        el("script", script_json(map_data(result, thumbnails)), type="application/json", id="search-data"),
        el("script", Markup(_asset("leaflet.js"))),
        el("script", Markup(_asset("search_map.js"))),
    )
    return document(head, [el("main", main)], lang="en")
