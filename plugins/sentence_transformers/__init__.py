"""sentence-transformers models that embed both images and texts (its CLIP models
and any Hub model whose sentence-transformers config handles both), registered by
Hub id, with a seeded tiny model.

Written exactly as a third-party plugin would be: a `register_models` hook that
imports nothing heavy; `encoder.py` does the loading through SentenceTransformer.
"""

from __future__ import annotations

import mars_zoo
from mars_zoo import ModelSpec

FAMILY = "st"
REQUIRES = ("sentence-transformers",)
HINT = "pip install 'sentence-transformers>=5.4'"
CLIP_PAPER = "https://arxiv.org/abs/2103.00020"
CODE = "https://github.com/UKPLab/sentence-transformers"


def _load(spec: ModelSpec, device: str, precision: str):
    from mars_zoo_st.encoder import load_encoder

    return load_encoder(spec, device, precision)


def _spec(hub_id: str, **metadata) -> ModelSpec:
    """A model named after its Hub repository, lowercased: `st/<repo name>`."""
    return ModelSpec(
        name=f"{FAMILY}/{hub_id.split('/')[-1].lower()}",
        family=FAMILY,
        checkpoint=hub_id,
        # sentence-transformers publishes no pins: the first run records main's commit.
        revision=mars_zoo.RESOLVE_AT_FIRST_USE,
        loader=_load,
        requires=REQUIRES,
        install_hint=HINT,
        code_url=CODE,
        **metadata,
    )


# OpenAI's CLIP weights as sentence-transformers ships them (parameter counts and
# dimensions of the architectures, checked by the tests on the meta device).
MODELS = (
    _spec("sentence-transformers/clip-ViT-B-32", embedding_dim=512, parameters=151_277_313, image_size=224,
          license="mit", paper_url=CLIP_PAPER, batch_size=128,
          description="OpenAI CLIP ViT-B/32 through sentence-transformers."),
    _spec("sentence-transformers/clip-ViT-B-16", embedding_dim=512, parameters=149_620_737, image_size=224,
          license="mit", paper_url=CLIP_PAPER, batch_size=128,
          description="OpenAI CLIP ViT-B/16 through sentence-transformers."),
    _spec("sentence-transformers/clip-ViT-L-14", embedding_dim=768, parameters=427_616_513, image_size=224,
          license="mit", paper_url=CLIP_PAPER, batch_size=64,
          description="OpenAI CLIP ViT-L/14 through sentence-transformers."),
    ModelSpec(
        name=f"{FAMILY}/tiny-random",
        family=FAMILY,
        checkpoint="mars-zoo-tiny-random@seed0",
        loader=_load,
        requires=REQUIRES,
        install_hint=HINT,
        code_url=CODE,
        embedding_dim=24,
        parameters=61_473,
        image_size=32,
        license="apache-2.0",
        batch_size=32,
        random_weights=True,
        description="RANDOM-WEIGHT BASELINE: a sentence-transformers CLIPModel module around a tiny "
                    "transformers CLIPModel with seeded random weights, built offline. For tests and demos, "
                    "not a real model.",
    ),
)


@mars_zoo.hookimpl
def register_models(register):
    for spec in MODELS:
        register(spec)
