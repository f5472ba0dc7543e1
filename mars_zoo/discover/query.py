"""The query vector of a search, built exactly as task 3 builds its queries.

text: the protocol's prompt ensemble over the query text; image: the mean of the
normalised example-image embeddings; hybrid: task 3's text-guided weighting of the
images blended with the text query (`tasks.geolocalization.hybrid_query`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from mars_zoo.data.geo_readers import checked_images
from mars_zoo.data.types import DatasetRef
from mars_zoo.embedding.embed import Embedder
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.protocol import GEO_QUERY_MODES
from mars_zoo.tasks.base import prompt_ensemble
from mars_zoo.tasks.geolocalization import hybrid_query, image_query

EXAMPLE_IMAGES_ID = "search-example-images"
EXAMPLE_FIX = "pass an image file (PNG, JPEG, ...) that opens in an image viewer"


def choose_mode(mode: str | None, text: str | None, images: Sequence[Path], model: str, supports_text: bool) -> str:
    """The query mode: as asked, else hybrid with text and images, else whichever was given.
    Refuses a mode whose inputs are missing, and text modes for image-only models."""
    if mode is not None and mode not in GEO_QUERY_MODES:
        raise MarsZooError(f"Unknown query mode {mode!r}: use one of {', '.join(GEO_QUERY_MODES)}.")
    has_text = bool(text and text.strip())
    chosen = mode or ("hybrid" if has_text and images else "text" if has_text else "image")
    if chosen in ("text", "hybrid") and not has_text:
        raise MarsZooError(f"--mode {chosen} needs a query text: mars-zoo search MODEL \"pitted cones\" ...")
    if chosen in ("image", "hybrid") and not images:
        raise MarsZooError(f"--mode {chosen} needs at least one example image: add --image FILE.")
    if chosen != "image" and not supports_text:
        raise MarsZooError(
            f"Model {model!r} is image-only, so it cannot embed the query text: search with "
            f"example images alone (--image FILE ... --mode image)."
        )
    return chosen


def example_images_ref(paths: Sequence[Path]) -> DatasetRef:
    """The example images as a dataset whose revision is their content, so that the cache
    never serves the embedding of a file that has since changed."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise MarsZooError(f"Cannot read the example image {path}: {exc.strerror or exc}. Fix: {EXAMPLE_FIX}.") from None
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return DatasetRef(EXAMPLE_IMAGES_ID, "sha256:" + digest.hexdigest(), None, "command line")


def build_query(embedder: Embedder, mode: str, text: str | None, images: Sequence[Path]) -> np.ndarray:
    """The L2-normalised [D] query vector of `mode` (see the module docstring)."""
    text_query = prompt_ensemble(embedder, [text.strip()], "query text")[0] if mode != "image" else None
    examples = None
    if mode != "text":
        source = checked_images(list(images), [f"{number}-{path.name}" for number, path in enumerate(images)], EXAMPLE_FIX)
        examples = embedder.images(source, example_images_ref(images), "example images")
    if mode == "text":
        return text_query
    if mode == "image":
        return image_query(examples)
    return hybrid_query(examples, text_query)
