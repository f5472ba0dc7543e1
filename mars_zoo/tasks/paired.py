"""Task 1: paired image-text retrieval (both directions over the N evaluated pairs)."""

from __future__ import annotations

from typing import Any

from mars_zoo import metrics
from mars_zoo.protocol import PAIRED_IMAGE_SIZE
from mars_zoo.tasks.base import Stopwatch, TaskContext, dataset_record, stats_snapshot, throughput


def run(context: TaskContext) -> dict[str, Any]:
    embedder = context.embedder
    data = context.benchmark.paired(caption_column=context.caption, source=context.pairs_source)
    before = stats_snapshot(embedder)
    watch = Stopwatch()
    images = embedder.images(
        data.images, data.dataset, "pair images", preprocessing=f"resize-center-crop-{PAIRED_IMAGE_SIZE}"
    )
    texts = embedder.texts(data.captions, "captions")
    watch.lap("embed")
    scores = metrics.paired(images, texts)
    watch.lap("score")
    return {
        "dataset": dataset_record(data.dataset, data.keys, data.missing, data.source_rows),
        "caption": data.caption_column,
        "source": context.pairs_source,
        "metrics": scores,
        "timings": watch.timings,
        "throughput": throughput(embedder, before),
    }
