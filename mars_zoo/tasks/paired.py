"""Task 1: paired image-text retrieval (both directions over the N evaluated pairs)."""

from __future__ import annotations

from typing import Any

from mars_zoo import metrics, uncertainty
from mars_zoo.data.images import PUBLISHED_PREPARATION
from mars_zoo.data.types import PairsData
from mars_zoo.tasks.base import Stopwatch, TaskContext, dataset_record, stats_snapshot, throughput

# Both sources prepare the images as the published download step does (data/images.py).
IMAGE_PREPARATION = PUBLISHED_PREPARATION


def load(context: TaskContext) -> PairsData:
    return context.benchmark.paired(caption_column=context.caption, source=context.pairs_source)


def embed(context: TaskContext, data: PairsData) -> tuple[Any, Any]:
    """Every embedding the task scores (all that ranks other than 0 do)."""
    images = context.embedder.images(data.images, data.dataset, "pair images", preprocessing=IMAGE_PREPARATION)
    return images, context.embedder.texts(data.captions, "captions")


def run(context: TaskContext, data: PairsData) -> dict[str, Any]:
    embedder = context.embedder
    before = stats_snapshot(embedder)
    watch = Stopwatch()
    images, texts = embed(context, data)
    watch.lap("embed")
    ranks = metrics.paired_ranks(images, texts)
    watch.lap("score")
    return {
        "dataset": dataset_record(data.dataset, data.keys, data.missing, data.source_rows),
        "caption": data.caption_column,
        "image_preparation": IMAGE_PREPARATION,
        "source": context.pairs_source,
        "metrics": metrics.rank_summaries(ranks),
        "per_query": uncertainty.paired_per_query(ranks),
        "timings": watch.timings,
        "throughput": throughput(embedder, before),
    }
