"""Seeded tiny models for plugin families: built once into a folder, then loaded
through the family's real loader.

A family's `<family>/tiny-random` model is the real architecture class at tiny width,
with a tokenizer and processor made offline. Its loader builds it into a folder of
the mars-zoo cache it was handed (`materialize` into `spec.cache_dir`) and then hands
that folder to exactly the code that loads the real checkpoint, so the path users run
is the path the tests run.

Nothing here imports torch or transformers at module level; `train_bpe_tokenizer`
imports `tokenizers` and `transformers` when it is called.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from mars_zoo.core.protocol import GEO_LANDFORMS, PROMPT_TEMPLATES
from mars_zoo.core.safe_paths import path_under

TINY_DIR = "tiny-models"

# Words the tiny tokenizers learn from: the protocol's prompts and landform names, so that
# the texts the harness sends tokenize into real pieces rather than single bytes (public:
# the parity benchmark trains its tiny tokenizers on it too).
CORPUS = (
    *PROMPT_TEMPLATES,
    *(name.replace("_", " ") for name in GEO_LANDFORMS),
    "crater dune channel gully layered deposits polar cap ridge valley network",
    "alluvial fan glacier-like form landslide pitted cone yardang",
    "Find an image that matches the given text. You are a helpful assistant.",
    "Represent the given image with the following question: What is in the image",
    "Summary above image in one word: Summary above sentence in one word:",
    "Query: Describe the image. Represent the user's input.",
    "the quick brown fox jumps over the lazy dog 0123456789",
)


def materialize(name: str, recipe: dict, build: Callable[[Path], None], cache_dir: Path) -> Path:
    """Return the folder of tiny model `name` in the mars-zoo cache `cache_dir` (a loader's
    `spec.cache_dir`), building it with `build(folder)` if needed.

    `recipe` is every input of the build (seed, config sizes, library versions): its
    hash names the folder, so changing the recipe builds a new model instead of
    reusing a stale one. The build writes into a temporary sibling that is renamed
    into place when complete, so a killed build leaves nothing half-written and two
    processes building at once (parallel tests, distributed ranks) both end with one
    complete folder.
    """
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    root = cache_dir / TINY_DIR
    folder = path_under(root, f"{name.replace('/', '--')}-{digest}", field="tiny model",
                        fix="name the tiny model '<family>/<name>' with plain names")
    if folder.is_dir():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        build(staging)
        os.replace(staging, folder)
    except OSError:
        if not folder.is_dir():  # not a lost race with another builder
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def train_bpe_tokenizer(
    special_tokens: Sequence[str],
    *,
    vocab_size: int = 512,
    extra_corpus: Sequence[str] = (),
    **tokenizer_kwargs,
):
    """A byte-level BPE `PreTrainedTokenizerFast` trained on a fixed small corpus.

    Deterministic (same corpus, same merges), with `special_tokens` added as single
    tokens. `tokenizer_kwargs` go to `PreTrainedTokenizerFast` (e.g. `pad_token`,
    `eos_token`, `padding_side`), so a family can match its real tokenizer's settings.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([*CORPUS, *extra_corpus], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **tokenizer_kwargs)


def clip_processor(image_size: int):
    """A CLIPProcessor built offline: a byte-level BPE with CLIP's start/end tokens
    wrapped around every text, and CLIP's image processor at `image_size`."""
    from tokenizers.processors import TemplateProcessing
    from transformers import CLIPImageProcessor, CLIPProcessor

    start, end = "<|startoftext|>", "<|endoftext|>"
    tokenizer = train_bpe_tokenizer(
        [start, end], bos_token=start, eos_token=end, pad_token=end, unk_token=end, model_max_length=77
    )
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single=f"{start} $A {end}",
        special_tokens=[(start, tokenizer.convert_tokens_to_ids(start)), (end, tokenizer.convert_tokens_to_ids(end))],
    )
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    return CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


def seeded(seed: int, build: Callable[[], object]) -> object:
    """`build()` under a fixed seed, leaving the global random state as it was."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()
