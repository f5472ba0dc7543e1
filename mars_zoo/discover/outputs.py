"""The files of a search, each written atomically into the output folder."""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path

from mars_zoo.core.atomic import atomic_write_bytes
from mars_zoo.discover import hits as hitlib
from mars_zoo.discover.page import render
from mars_zoo.discover.searcher import SearchResult
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.safe_paths import path_under

PAGE, CSV, GEOJSON = "search.html", "hits.csv", "hits.geojson"


def leaderboard_link(leaderboard: str, out_dir: Path) -> str:
    """The page's link back to the leaderboard: an http(s) address as given, or the index of a
    built site's folder as a URL relative to `out_dir` (pages opened from file:// follow
    relative links only)."""
    if leaderboard.startswith(("https://", "http://")):
        return leaderboard
    relative = os.path.relpath(Path(leaderboard).absolute() / "index.html", out_dir.absolute())
    return urllib.parse.quote(Path(relative).as_posix())


def write_outputs(result: SearchResult, out_dir: Path, thumbnails: int = 24,
                  leaderboard: str | None = None) -> dict[str, Path]:
    """search.html (map, thumbnails, table), hits.csv and hits.geojson in `out_dir`; the page
    links `leaderboard` (a site folder or an http(s) address) when given."""
    if out_dir.exists() and not out_dir.is_dir():
        raise MarsZooError(f"--out {out_dir} is a file; give a folder for the search's page, CSV and GeoJSON.")
    link = leaderboard_link(leaderboard, out_dir) if leaderboard else None
    contents = {
        PAGE: render(result, thumbnails, link),
        CSV: hitlib.to_csv(result.hits),
        GEOJSON: json.dumps(hitlib.to_geojson(result.hits, result.query), indent=1) + "\n",
    }
    written = {}
    try:
        for name, text in contents.items():
            path = path_under(out_dir, name, field="--out", fix="choose another folder with --out")
            atomic_write_bytes(path, text.encode("utf-8"))
            written[name] = path
    except OSError as exc:
        raise MarsZooError(
            f"Cannot write the search's files into {out_dir}: {exc.strerror or exc}. Fix: choose a "
            f"writable folder with --out."
        ) from None
    return written
