"""One search, start to end: model and data opened as `mars-zoo run` opens them, the
gallery embedded through the shared cache, the query built and ranked, the hits
checked against the landform's catalogue when there is one."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from mars_zoo.scoring import search
from mars_zoo.discover import hits as hitlib
from mars_zoo.discover.query import build_query, choose_mode
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.protocol import GEO_LANDFORMS
from mars_zoo.models.registry import Registry
from mars_zoo.core.reporting import Reporter
from mars_zoo.pipeline.settings import Settings, set_up


@dataclasses.dataclass(kw_only=True)
class SearchConfig(Settings):
    """What `mars-zoo search` can set: the shared `Settings`, which mean what they mean for
    `run` (so a search reads the cache entries a run wrote), and the query."""

    model: str
    text: str | None = None
    images: tuple[Path, ...] = ()
    mode: str | None = None  # None: hybrid with text and images, else whichever was given
    k: int = 100
    landform: str | None = None  # catalogue to compare with; None: the landform the text names, if any


@dataclasses.dataclass
class SearchResult:
    model: dict[str, Any]
    query: dict[str, Any]
    hits: list[hitlib.Hit]
    coverage: hitlib.Coverage | None
    truth: np.ndarray | None  # the compared catalogue's points
    gallery_size: int
    tile_images: Any  # the gallery's ImageSource, for thumbnails
    mars_map: Path | None
    synthetic: bool
    timings: dict[str, float]
    model_calls: dict[str, int]

    def summary(self) -> dict[str, Any]:
        """Everything but the images, JSON-ready (`--json`)."""
        return {
            "model": self.model,
            "query": self.query,
            "synthetic": self.synthetic,
            "gallery_tiles": self.gallery_size,
            "coverage": dataclasses.asdict(self.coverage) if self.coverage else None,
            "timings": self.timings,
            "model_calls": self.model_calls,
            "hits": [
                {key: value for key, value in dataclasses.asdict(hit).items() if key != "index"}
                for hit in self.hits
            ],
        }


def _plain(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def landform_named(text: str | None) -> str | None:
    """The protocol landform a query text names (case, `_`, `-` and spacing aside), if any."""
    if not text:
        return None
    return next((name for name in GEO_LANDFORMS if _plain(name) == _plain(text)), None)


def run_search(config: SearchConfig, registry: Registry, reporter: Reporter) -> SearchResult:
    if config.k < 1:
        raise MarsZooError(f"--k must be at least 1, got {config.k}.")
    if config.landform is not None and config.landform not in GEO_LANDFORMS:
        raise MarsZooError(f"Unknown landform {config.landform!r}: use one of {', '.join(GEO_LANDFORMS)}.")
    spec = registry.get(config.model)
    mode = choose_mode(config.mode, config.text, config.images, spec.name, spec.supports_text)
    with set_up(config, spec, registry, reporter) as (spec, device, _, benchmark, embedder):
        data = benchmark.geolocalization()
        started = time.perf_counter()
        # The very call task 3 makes, so the gallery comes from the evaluation's cache entries.
        gallery = embedder.images(data.gallery.images, data.gallery.source, "gallery tiles", in_memory=False)
        embedded = time.perf_counter()
        query = build_query(embedder, mode, config.text, config.images)
        queried = time.perf_counter()
        (top,) = search.top_k(query[None].astype(np.float32), gallery, config.k, device=device)
        hits = hitlib.rank(top, config.k, data.gallery.images.ids, data.gallery.lonlat)
        searched = time.perf_counter()

    landform = config.landform or landform_named(config.text)
    coverage = truth = None
    if landform is not None:
        truth = data.ground_truth[landform]
        hits, coverage = hitlib.against_truth(hits, landform, truth)
    return SearchResult(
        model={"name": spec.name, "revision": spec.evaluated_revision, "random_weights": spec.random_weights},
        query={
            "text": config.text if mode != "image" else None,
            "images": [str(path) for path in config.images] if mode != "text" else [],
            "mode": mode,
            "k": config.k,
            "landform": landform,
        },
        hits=hits,
        coverage=coverage,
        truth=truth,
        gallery_size=len(gallery),
        tile_images=data.gallery.images,
        mars_map=data.mars_map,
        synthetic=bool(benchmark.synthetic or data.gallery.source.synthetic),
        timings={
            "gallery_s": embedded - started,
            "query_s": queried - embedded,
            "search_s": searched - queried,
        },
        model_calls=dict(embedder.stats.calls),
    )
