"""What tasks share: the prompt ensemble, the record of the data a task scored, and the
bookkeeping of timings and throughput that the harness adds to every task's section."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from mars_zoo.data.mini_fingerprint import mini_items
from mars_zoo.data.types import DatasetRef, ids_sha256
from mars_zoo.embedding.embed import Embedder
from mars_zoo.core.protocol import PROMPT_TEMPLATES, prompts_for


def l2_normalize(array: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return array / np.maximum(norms, 1e-12)


def ensemble_prompts(concepts: Sequence[str]) -> list[str]:
    """The texts to embed for the prompt ensembles of `concepts`: the protocol's prompts of each
    concept in turn (`ensembled` makes the queries of their embeddings)."""
    return [prompt for concept in concepts for prompt in prompts_for(concept)]


def ensembled(embeddings: np.ndarray, concepts: int) -> np.ndarray:
    """[C, D] query embeddings from the embeddings of `ensemble_prompts` of C concepts: the mean
    of the normalised embeddings of each concept's prompts, normalised again."""
    return l2_normalize(l2_normalize(embeddings.reshape(concepts, len(PROMPT_TEMPLATES), -1)).mean(axis=1))


def prompt_ensemble(embedder: Embedder, concepts: Sequence[str], label: str) -> np.ndarray:
    """The prompt-ensemble queries of `concepts`, embedded now (a search's query text)."""
    return ensembled(embedder.texts(ensemble_prompts(concepts), label), len(concepts))


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
