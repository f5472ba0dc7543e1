"""Task 3: global geo-localization with text, image and hybrid queries."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.markup import escape

from mars_zoo.scoring import metrics, search, uncertainty
from mars_zoo.data.benchmark import Benchmark
from mars_zoo.core.protocol import (
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
from mars_zoo.tasks.base import dataset_record, ensemble_prompts, ensembled, l2_normalize
from mars_zoo.tasks.plan import EmbeddingPlan, ImageItems, TextItems
from mars_zoo.tasks.spec import Task, TaskSettings
from mars_zoo.tasks.tables import NUMBER, TEXT, Summary, percent

METRICS = {f"{mode}.{metric}": "higher" for mode in GEO_QUERY_MODES for metric in ("f1", "auprc")}


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


def query_modes(settings: TaskSettings) -> tuple[str, ...]:
    """Every query mode for a model that embeds text; image queries only for one that does not."""
    return GEO_QUERY_MODES if "text" in settings.modalities else ("image",)


def plan(benchmark: Benchmark, settings: TaskSettings) -> EmbeddingPlan:
    """The gallery (read from the cache shard by shard, never whole), the prompts of every
    landform's name where the model embeds text, and each landform's query images."""
    data = benchmark.geolocalization()
    steps: list[ImageItems | TextItems] = [
        ImageItems("gallery", data.gallery.images, data.gallery.source, "gallery tiles", in_memory=False)]
    if "text" in query_modes(settings):
        steps.append(TextItems("text queries", ensemble_prompts([geo_query_name(name) for name in GEO_LANDFORMS]),
                               "geo text queries"))
    steps += [ImageItems(landform, data.query_images[landform], data.dataset, f"{landform} query images",
                         subset=landform) for landform in GEO_LANDFORMS]
    return EmbeddingPlan(tuple(steps), data, settings)


def _queries(plan: EmbeddingPlan, embeddings: dict[str, Any]) -> list[tuple[str, str, np.ndarray]]:
    """The (landform, mode, query vector) of every query, landform by landform."""
    modes = query_modes(plan.settings)
    text_queries = ensembled(embeddings["text queries"], len(GEO_LANDFORMS)) if "text" in modes else None
    queries = []
    for index, landform in enumerate(GEO_LANDFORMS):
        examples = embeddings[landform]
        by_mode = {"image": image_query(examples)}
        if text_queries is not None:
            by_mode["text"] = text_queries[index]
            by_mode["hybrid"] = hybrid_query(examples, text_queries[index])
        queries += [(landform, mode, by_mode[mode]) for mode in modes]
    return queries


def score(plan: EmbeddingPlan, embeddings: dict[str, Any]) -> dict[str, Any]:
    data, gallery, queries = plan.data, embeddings["gallery"], _queries(plan, embeddings)
    # Only each query's top K_max tiles (ties kept) can matter to the metrics: keeping
    # just those bounds memory by the queries, not by the gallery.
    best = search.top_k(
        np.stack([query for _, _, query in queries]).astype(np.float32),
        gallery,
        GEO_K_MAX,
        device=plan.settings.device,
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
    summary = {
        mode: {
            key: float(np.mean([row[key] for row in per_landform if row["mode"] == mode]))
            for key in ("f1", "auprc")
        }
        for mode in query_modes(plan.settings)
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
        "confidence": uncertainty.geo_confidence(per_landform, plan.settings.seed),
    }


def table(section: dict[str, Any]) -> Summary:
    """Every landform and query mode, then each mode's means, in percent (K as a count)."""
    rows = [[escape(row["landform"]), row["mode"], percent(row["f1"]), percent(row["auprc"]), percent(row["precision"]),
             percent(row["recall"]), str(row["k"])] for row in section["per_landform"]]
    rows += [["[bold]mean[/]", mode, percent(m["f1"]), percent(m["auprc"]), "", "", ""]
             for mode, m in section["metrics"].items()]
    return Summary(f"Task 3: global geo-localization ({section['gallery']['items']} tiles)",
                   (("landform", None, TEXT), ("mode", None, TEXT), ("F1", None, NUMBER), ("AUPRC", 4, NUMBER),
                    ("precision", 2, NUMBER), ("recall", 3, NUMBER), ("K", 1, NUMBER)), rows)


TASK = Task(name="geolocalization", title="Global geo-localization", metrics=METRICS, headline="image.f1",
            plan=plan, score=score, modalities=("image",), table=table)
