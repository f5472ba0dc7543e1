"""Task 2: landform retrieval (one prompt-ensemble query per class over all images)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mars_zoo.scoring import metrics, search, uncertainty
from mars_zoo.data.benchmark import Benchmark
from mars_zoo.core.protocol import landform_query_name
from mars_zoo.tasks.base import dataset_record, ensemble_prompts, ensembled
from mars_zoo.tasks.plan import EmbeddingPlan, ImageItems, TextItems
from mars_zoo.tasks.spec import Task, TaskSettings
from mars_zoo.tasks.tables import NUMBER, Summary, percent

METRICS = {"map": "higher", "r_precision": "higher", "ndcg@10": "higher", "hit@10": "higher"}


def plan(benchmark: Benchmark, settings: TaskSettings) -> EmbeddingPlan:
    """Every landform image, and the prompts of every class name."""
    data = benchmark.landforms()
    prompts = ensemble_prompts([landform_query_name(name) for name in data.class_names])
    steps = (ImageItems("images", data.images, data.dataset, "landform images"),
             TextItems("queries", prompts, "landform queries"))
    return EmbeddingPlan(steps, data, settings)


def score(plan: EmbeddingPlan, embeddings: dict[str, Any]) -> dict[str, Any]:
    data = plan.data
    queries = ensembled(embeddings["queries"], len(data.class_names))
    scores = search.scores_all(queries, embeddings["images"], device=plan.settings.device)
    relevant = np.asarray(data.labels)[None, :] == np.arange(len(data.class_names))[:, None]
    result = metrics.landform(scores, relevant)
    per_class = [{"class": name, **values} for name, values in zip(data.class_names, result.pop("per_query"))]
    return {
        "dataset": dataset_record(data.dataset, list(data.images.ids)),
        "metrics": result,
        "per_class": per_class,
        "confidence": uncertainty.landform_confidence(per_class, plan.settings.seed),
    }


def table(section: dict[str, Any]) -> Summary:
    """The means over classes, in percent."""
    values = section["metrics"]
    return Summary(f"Task 2: landform retrieval ({len(section['per_class'])} classes)",
                   (("mAP", None, NUMBER), ("R-Precision", 3, NUMBER), ("nDCG@10", 2, NUMBER), ("Hit@10", 1, NUMBER)),
                   [[percent(values[key]) for key in METRICS]])


TASK = Task(name="landform", title="Landform retrieval", metrics=METRICS, headline="map", plan=plan, score=score,
            table=table)
