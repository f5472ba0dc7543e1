"""Task 1: paired image-text retrieval (both directions over the N evaluated pairs), under the
published protocol or, with `--paired-protocol mteb`, under MTEB's (`mars_zoo.mteb_protocol`)."""

from __future__ import annotations

from typing import Any

from mars_zoo import metrics, mteb_protocol, uncertainty
from mars_zoo.data.images import MTEB_PREPARATION, PUBLISHED_PREPARATION
from mars_zoo.data.types import PairsData
from mars_zoo.tasks.base import Stopwatch, TaskContext, dataset_record, stats_snapshot, throughput


def image_preparation(context: TaskContext) -> str:
    """How the pair images are prepared, which also names the protocol in the result and keys
    the image embeddings in the cache."""
    return MTEB_PREPARATION if context.paired_protocol == mteb_protocol.PROTOCOL else PUBLISHED_PREPARATION


def load(context: TaskContext) -> PairsData:
    return context.benchmark.paired(caption_column=context.caption, source=context.pairs_source,
                                    preparation=image_preparation(context))


def embed(context: TaskContext, data: PairsData) -> tuple[Any, Any]:
    """Every embedding the task scores (all that ranks other than 0 do)."""
    images = context.embedder.images(data.images, data.dataset, "pair images", preprocessing=image_preparation(context))
    return images, context.embedder.texts(data.captions, "captions")


def _scored(context: TaskContext, data: PairsData, images: Any, texts: Any) -> tuple[dict, dict]:
    """Each direction's ranks and metrics under the run's protocol."""
    if context.paired_protocol != mteb_protocol.PROTOCOL:
        ranks = metrics.paired_ranks(images, texts)
        return ranks, metrics.rank_summaries(ranks)
    ranks = metrics.paired_ranks_by_id(images @ texts.T, data.keys)
    return ranks, {direction: metrics.mteb_rank_summary(values, mteb_protocol.RECALL_DECIMALS,
                                                        mteb_protocol.MRR_CUTOFF)
                   for direction, values in ranks.items()}


def run(context: TaskContext, data: PairsData) -> dict[str, Any]:
    embedder = context.embedder
    before = stats_snapshot(embedder)
    watch = Stopwatch()
    images, texts = embed(context, data)
    watch.lap("embed")
    ranks, summaries = _scored(context, data, images, texts)
    watch.lap("score")
    return {
        "dataset": dataset_record(data.dataset, data.keys, data.missing, data.source_rows),
        "caption": data.caption_column,
        "image_preparation": image_preparation(context),
        "source": context.pairs_source,
        "metrics": summaries,
        "per_query": uncertainty.paired_per_query(ranks),
        "timings": watch.timings,
        "throughput": throughput(embedder, before),
    }
