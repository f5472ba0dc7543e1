"""An embedding plan: what a task needs embedded, in order, and what it scores them with.

Each step is one cache entry: a list of images of a dataset (`ImageItems`) or a list of texts
(`TextItems`), named by the `key` that `score` finds its embeddings under. The steps are data,
not calls, so the harness walks every task's plan the same way on every rank, and can tell
whether two ranks planned the same thing before any of them embeds (`mars_zoo.tasks.walk`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence, Union

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mars_zoo.data.types import DatasetRef, ImageSource
    from mars_zoo.tasks.spec import TaskSettings


@dataclass(frozen=True)
class ImageItems:
    """Embed every image of `source`, in order: a [N, D] array under `key`.

    `dataset` names the data (it keys the cache); `preprocessing` names how the images were
    prepared before the model's own preprocessing (it keys the cache too); `subset` names a part
    of the dataset whose ids are unique only within it. `in_memory=False` hands `score` a lazy
    view over the cache shards instead of an array (a gallery too large for memory, which
    `mars_zoo.scoring.search` reads chunk by chunk). `label` names the step in progress output.
    `instruction`, where not None, is handed to the model (`Encoder.with_instruction`) and keys
    the cache; only a model that declares `takes_task_instructions` gets a step with one."""

    key: str
    source: "ImageSource"
    dataset: "DatasetRef"
    label: str | None = None
    preprocessing: str = "none"
    subset: str | None = None
    in_memory: bool = True
    instruction: str | None = None

    modality = "image"


@dataclass(frozen=True)
class TextItems:
    """Embed every text of `texts`, in order: a [N, D] array under `key` (`instruction`: as for
    `ImageItems`)."""

    key: str
    texts: Sequence[str]
    label: str | None = None
    instruction: str | None = None

    modality = "text"


Step = Union[ImageItems, TextItems]


@dataclass(frozen=True)
class EmbeddingPlan:
    """A task's steps, embedded in this order, and whatever `score` needs besides their
    embeddings (`data`: labels, ground truth; `settings`: the run's, where `score` uses them)."""

    steps: tuple[Step, ...]
    data: Any = None
    settings: "TaskSettings | None" = None
