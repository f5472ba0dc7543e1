"""Task 3: global geo-localization with text, image and hybrid queries."""

from __future__ import annotations

from typing import Any

import numpy as np

from mars_zoo import metrics, search
from mars_zoo.data.types import GeoData
from mars_zoo.protocol import (
    GEO_CURVE_POINTS,
    GEO_HYBRID_IMAGE_WEIGHT,
    GEO_HYBRID_TEMPERATURE,
    GEO_HYBRID_TEXT_WEIGHT,
    GEO_K_MAX,
    GEO_LANDFORMS,
    GEO_QUERY_MODES,
    GEO_RADIUS_DEG,
    geo_query_name,
)
from mars_zoo.tasks.base import (
    Stopwatch,
    TaskContext,
    dataset_record,
    l2_normalize,
    prompt_ensemble,
    stats_snapshot,
    throughput,
)


def image_query(image_embeddings: np.ndarray) -> np.ndarray:
    """Mean of the normalised query-image embeddings, normalised."""
    return l2_normalize(l2_normalize(image_embeddings).mean(axis=0))


def hybrid_query(image_embeddings: np.ndarray, text_query: np.ndarray) -> np.ndarray:
    """Text-guided weighting of the query images, blended with the text query."""
    images = l2_normalize(image_embeddings).astype(np.float64)
    logits = images @ text_query.astype(np.float64) / GEO_HYBRID_TEMPERATURE
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    visual = l2_normalize(weights @ images)
    return l2_normalize(GEO_HYBRID_IMAGE_WEIGHT * visual + GEO_HYBRID_TEXT_WEIGHT * text_query)


def load(context: TaskContext) -> GeoData:
    return context.benchmark.geolocalization()


def embed(context: TaskContext, data: GeoData) -> tuple[Any, list[tuple[str, str, np.ndarray]]]:
    """Every embedding the task scores (all that ranks other than 0 do): the gallery, and
    the (landform, mode, query vector) of every query."""
    embedder = context.embedder
    modes = GEO_QUERY_MODES if embedder.spec.supports_text else ("image",)
    gallery = embedder.images(data.gallery.images, data.gallery.source, "gallery tiles", in_memory=False)
    text_queries = (
        prompt_ensemble(embedder, [geo_query_name(name) for name in GEO_LANDFORMS], "geo text queries")
        if "text" in modes
        else None
    )
    queries: list[tuple[str, str, np.ndarray]] = []
    for index, landform in enumerate(GEO_LANDFORMS):
        examples = embedder.images(
            data.query_images[landform], data.dataset, f"{landform} query images", subset=landform
        )
        by_mode = {"image": image_query(examples)}
        if text_queries is not None:
            by_mode["text"] = text_queries[index]
            by_mode["hybrid"] = hybrid_query(examples, text_queries[index])
        queries += [(landform, mode, by_mode[mode]) for mode in modes]
    return gallery, queries


def run(context: TaskContext, data: GeoData) -> dict[str, Any]:
    embedder = context.embedder
    modes = GEO_QUERY_MODES if embedder.spec.supports_text else ("image",)
    before = stats_snapshot(embedder)
    watch = Stopwatch()
    gallery, queries = embed(context, data)
    watch.lap("embed")

    # Only each query's top K_max tiles (ties kept) can matter to the metrics: keeping
    # just those bounds memory by the queries, not by the gallery.
    best = search.top_k(
        np.stack([query for _, _, query in queries]).astype(np.float32),
        gallery,
        GEO_K_MAX,
        device=context.device,
    )
    per_landform = []
    for (landform, mode, _), top in zip(queries, best):
        result = metrics.geolocalization(
            top.as_scores(len(gallery)),
            data.gallery.lonlat,
            data.ground_truth[landform],
            k_max=GEO_K_MAX,
            radius=GEO_RADIUS_DEG,
            points=GEO_CURVE_POINTS,
        )
        per_landform.append(
            {"landform": landform, "mode": mode, "ground_truth": len(data.ground_truth[landform]), **result}
        )
    watch.lap("score")
    summary = {
        mode: {
            key: float(np.mean([row[key] for row in per_landform if row["mode"] == mode]))
            for key in ("f1", "auprc")
        }
        for mode in modes
    }
    return {
        "dataset": dataset_record(
            data.dataset, [f"{name}/{item}" for name in GEO_LANDFORMS for item in data.query_images[name].ids]
        ),
        "gallery": dataset_record(data.gallery.source, list(data.gallery.images.ids)),
        "k_max": GEO_K_MAX,
        "radius_deg": GEO_RADIUS_DEG,
        "metrics": summary,
        "per_landform": per_landform,
        "timings": watch.timings,
        "throughput": throughput(embedder, before),
    }
