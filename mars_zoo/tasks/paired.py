"""Task 1: paired image-text retrieval (both directions over the N evaluated pairs), under the
published protocol or, with `--paired-protocol mteb`, under MTEB's (`mars_zoo.tasks.mteb_protocol`)."""

from __future__ import annotations

from typing import Any

from mars_zoo.scoring import metrics, uncertainty
from mars_zoo.tasks import mteb_protocol
from mars_zoo.data.images import MTEB_PREPARATION, PUBLISHED_PREPARATION
from mars_zoo.data.benchmark import Benchmark
from mars_zoo.tasks.base import dataset_record
from mars_zoo.tasks.plan import EmbeddingPlan, ImageItems, TextItems
from mars_zoo.tasks.spec import Task, TaskSettings
from mars_zoo.tasks.tables import NUMBER, TEXT, Summary, percent

DIRECTIONS = (("t2i", "text→image"), ("i2t", "image→text"))
METRICS = {f"{direction}.{metric}": "lower" if metric == "medr" else "higher"
           for direction, _ in DIRECTIONS for metric in ("r1", "r10", "mrr", "medr")}


def image_preparation(settings: TaskSettings) -> str:
    """How the pair images are prepared, which also names the protocol in the result and keys
    the image embeddings in the cache."""
    return MTEB_PREPARATION if settings.paired_protocol == mteb_protocol.PROTOCOL else PUBLISHED_PREPARATION


def plan(benchmark: Benchmark, settings: TaskSettings) -> EmbeddingPlan:
    """The pair images (prepared as the protocol says) and their captions; with MTEB's task
    instructions, each direction's queries and documents apart, each with what MTEB hands its
    wrapper (`mteb_protocol.HANDED`)."""
    preparation = image_preparation(settings)
    data = benchmark.paired(caption_column=settings.caption, source=settings.pairs_source, preparation=preparation)
    if not settings.task_instructions:
        steps = (ImageItems("images", data.images, data.dataset, "pair images", preprocessing=preparation),
                 TextItems("captions", data.captions, "captions"))
        return EmbeddingPlan(steps, data, settings)
    handed = mteb_protocol.HANDED
    steps = (
        TextItems("t2i.queries", data.captions, "captions as t2i queries", handed["t2i"]["query"]),
        ImageItems("t2i.documents", data.images, data.dataset, "pair images as t2i documents",
                   preprocessing=preparation, instruction=handed["t2i"]["document"]),
        ImageItems("i2t.queries", data.images, data.dataset, "pair images as i2t queries",
                   preprocessing=preparation, instruction=handed["i2t"]["query"]),
        TextItems("i2t.documents", data.captions, "captions as i2t documents", handed["i2t"]["document"]),
    )
    return EmbeddingPlan(steps, data, settings)


def _mteb_ranks(keys: list[str], embeddings: dict[str, Any], instructed: bool) -> dict[str, Any]:
    """Each direction's ranks by MTEB's rule: from one image x caption score matrix, or with task
    instructions from each direction's own queries and documents."""
    if not instructed:
        return metrics.paired_ranks_by_id(embeddings["images"] @ embeddings["captions"].T, keys)
    return {"t2i": metrics.paired_ranks_by_id(embeddings["t2i.documents"] @ embeddings["t2i.queries"].T, keys)["t2i"],
            "i2t": metrics.paired_ranks_by_id(embeddings["i2t.queries"] @ embeddings["i2t.documents"].T, keys)["i2t"]}


def _scored(settings: TaskSettings, keys: list[str], embeddings: dict[str, Any]) -> tuple[dict, dict]:
    """Each direction's ranks and metrics under the run's protocol."""
    if settings.paired_protocol != mteb_protocol.PROTOCOL:
        ranks = metrics.paired_ranks(embeddings["images"], embeddings["captions"])
        return ranks, metrics.rank_summaries(ranks)
    ranks = _mteb_ranks(keys, embeddings, settings.task_instructions)
    return ranks, {direction: metrics.mteb_rank_summary(values, mteb_protocol.RECALL_DECIMALS,
                                                        mteb_protocol.MRR_CUTOFF)
                   for direction, values in ranks.items()}


def score(plan: EmbeddingPlan, embeddings: dict[str, Any]) -> dict[str, Any]:
    data, settings = plan.data, plan.settings
    ranks, summaries = _scored(settings, data.keys, embeddings)
    per_query = uncertainty.paired_per_query(ranks)
    instructions = {"instructions": mteb_protocol.instructions_record()} if settings.task_instructions else {}
    return {
        "dataset": dataset_record(data.dataset, data.keys, data.missing, data.source_rows),
        "caption": data.caption_column,
        "image_preparation": image_preparation(settings),
        **instructions,
        "source": settings.pairs_source,
        "metrics": summaries,
        "per_query": per_query,
        "confidence": uncertainty.paired_confidence(per_query, settings.seed),
    }


def table(section: dict[str, Any]) -> Summary:
    """R@1, R@10 and MRR in percent and MedR as a rank, one row per direction."""
    rows = [[label, *(percent(section["metrics"][direction][key]) for key in ("r1", "r10", "mrr")),
             str(round(section["metrics"][direction]["medr"]))] for direction, label in DIRECTIONS]
    missing = section["dataset"]["missing"]
    return Summary(f"Task 1: paired image-text retrieval ({section['dataset']['items']} pairs, "
                   f"images {section['image_preparation']})",
                   (("direction", None, TEXT), ("R@1", None, NUMBER), ("R@10", 3, NUMBER), ("MRR", 2, NUMBER),
                    ("MedR", 1, NUMBER)), rows,
                   f"{len(missing)} pairs could not be evaluated (listed in the result file)" if missing else None)


TASK = Task(name="paired", title="Paired image-text retrieval", metrics=METRICS, headline="t2i.r1",
            plan=plan, score=score, table=table)
