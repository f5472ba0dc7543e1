"""What every task shares: its context, the prompt ensemble, and the bookkeeping
that turns a dataset and timings into a result section."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from mars_zoo.data.benchmark import Benchmark
from mars_zoo.data.mini_fingerprint import mini_items
from mars_zoo.data.types import DatasetRef, ids_sha256
from mars_zoo.embed import Embedder
from mars_zoo.protocol import PAIRED_DEFAULT_CAPTION, PAIRED_PROTOCOLS, PROMPT_TEMPLATES, prompts_for


@dataclass
class TaskContext:
    benchmark: Benchmark
    embedder: Embedder
    device: str
    caption: str = PAIRED_DEFAULT_CAPTION
    pairs_source: str = "frozen"
    paired_protocol: str = PAIRED_PROTOCOLS[0]


def l2_normalize(array: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return array / np.maximum(norms, 1e-12)


def prompt_ensemble(embedder: Embedder, concepts: Sequence[str], label: str) -> np.ndarray:
    """[C, D] query embeddings: the mean of the normalised embeddings of the three
    protocol prompts of each concept, normalised again."""
    texts = [prompt for concept in concepts for prompt in prompts_for(concept)]
    embeddings = embedder.texts(texts, label).reshape(len(concepts), len(PROMPT_TEMPLATES), -1)
    return l2_normalize(l2_normalize(embeddings).mean(axis=1))


def dataset_record(
    ref: DatasetRef, ids: Sequence[str], missing: Sequence[str] = (), source_rows: int | None = None
) -> dict[str, Any]:
    """The result's record of the data a task scored. Data whose item ids are the mini
    benchmark's is synthetic wherever it was read from (a copy with its markers removed, say)."""
    items_sha256 = ids_sha256(ids)
    return {
        **ref.as_dict(),
        "synthetic": ref.synthetic or mini_items(items_sha256) is not None,
        "items": len(ids),
        "items_sha256": items_sha256,
        "missing": list(missing),
        "source_rows": source_rows,
    }


class Stopwatch:
    """Named wall-clock timings of a task's steps, in seconds."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._started = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.timings[f"{step}_s"] = now - self._started
        self._started = now


def throughput(embedder: Embedder, before: dict[str, tuple[int, float]]) -> dict[str, float]:
    """Items per second embedded during the task (only modalities that were
    actually computed; cached items cost nothing and are not counted)."""
    rates = {}
    for modality, key in (("image", "images_per_s"), ("text", "texts_per_s")):
        items = embedder.stats.items[modality] - before[modality][0]
        seconds = embedder.stats.seconds[modality] - before[modality][1]
        if items and seconds > 0:
            rates[key] = items / seconds
    return rates


def stats_snapshot(embedder: Embedder) -> dict[str, tuple[int, float]]:
    return {m: (embedder.stats.items[m], embedder.stats.seconds[m]) for m in ("image", "text")}
