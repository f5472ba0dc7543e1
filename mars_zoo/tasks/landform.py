"""Task 2: landform retrieval (one prompt-ensemble query per class over all images)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mars_zoo import metrics, search
from mars_zoo.data.types import LandformData
from mars_zoo.protocol import landform_query_name
from mars_zoo.tasks.base import (
    Stopwatch,
    TaskContext,
    dataset_record,
    prompt_ensemble,
    stats_snapshot,
    throughput,
)


def load(context: TaskContext) -> LandformData:
    return context.benchmark.landforms()


def embed(context: TaskContext, data: LandformData) -> tuple[Any, Any]:
    """Every embedding the task scores (all that ranks other than 0 do)."""
    images = context.embedder.images(data.images, data.dataset, "landform images")
    queries = prompt_ensemble(
        context.embedder, [landform_query_name(name) for name in data.class_names], "landform queries"
    )
    return images, queries


def run(context: TaskContext, data: LandformData) -> dict[str, Any]:
    embedder = context.embedder
    before = stats_snapshot(embedder)
    watch = Stopwatch()
    images, queries = embed(context, data)
    watch.lap("embed")
    scores = search.scores_all(queries, images, device=context.device)
    relevant = np.asarray(data.labels)[None, :] == np.arange(len(data.class_names))[:, None]
    result = metrics.landform(scores, relevant)
    watch.lap("score")
    per_query = result.pop("per_query")
    return {
        "dataset": dataset_record(data.dataset, list(data.images.ids)),
        "metrics": result,
        "per_class": [{"class": name, **values} for name, values in zip(data.class_names, per_query)],
        "timings": watch.timings,
        "throughput": throughput(embedder, before),
    }
