"""OpenCLIP models of the MarsRetrieval paper, MarScope, and a tiny random baseline.

Written exactly as a third-party plugin would be: a `register_models` hook that
registers `ModelSpec`s and imports nothing heavy; `encoder.py` does the loading.
"""

from __future__ import annotations

import mars_zoo
from mars_zoo import RESOLVE_AT_FIRST_USE, DeclaredTraining, ModelSpec

FAMILY = "openclip"
REQUIRES = ("open_clip_torch",)
HINT = "pip install open_clip_torch"


def _load(spec: ModelSpec, device: str, precision: str):
    from mars_zoo_openclip.encoder import load_encoder

    return load_encoder(spec, device, precision)


def _spec(short_name: str, checkpoint: str, **metadata) -> ModelSpec:
    if checkpoint.startswith("hf-hub:"):
        metadata.setdefault("hub_repo", checkpoint.removeprefix("hf-hub:"))
    return ModelSpec(
        name=f"{FAMILY}/{short_name}",
        family=FAMILY,
        checkpoint=checkpoint,
        loader=_load,
        requires=REQUIRES,
        install_hint=HINT,
        code_url="https://github.com/mlfoundations/open_clip",
        **metadata,
    )


# Checkpoint ids exactly as the published evaluation names them. `checkpoint` is
# what open_clip's factory takes: a built-in architecture name with a pretrained
# tag ("ARCH@tag"), or an "hf-hub:" id whose config and weights live on the Hub. A
# model whose weights are one file at a URL (`url_weights`) names the built-in
# architecture ("ARCH", or "ARCH@tag" for the tag's preprocessing) instead.
# Parameter counts and dimensions are those of the architecture (verified by the
# tests against open_clip's own configs). No public source pins a commit of these Hub
# repositories, so each is resolved at first use and recorded (RESOLVE_AT_FIRST_USE); the
# loader fetches config, weights and tokenizer files at that commit.
MODELS = (
    _spec(
        "dfn2b-clip-vit-l-14",
        "ViT-L-14-quickgelu@dfn2b",
        hub_repo="apple/DFN2B-CLIP-ViT-L-14",  # where open_clip's pretrained table keeps the dfn2b weights
        revision=RESOLVE_AT_FIRST_USE,
        embedding_dim=768,
        parameters=427_616_513,
        image_size=224,
        license="apple-ascl",
        paper_url="https://arxiv.org/abs/2309.17425",
        description="DFN2B-CLIP ViT-L/14 (QuickGELU), as evaluated in the MarsRetrieval paper.",
    ),
    _spec(
        "vit-l-16-siglip-384",
        "hf-hub:timm/ViT-L-16-SigLIP-384",
        revision=RESOLVE_AT_FIRST_USE,
        embedding_dim=1024,
        parameters=652_478_466,
        image_size=384,
        license="apache-2.0",
        paper_url="https://arxiv.org/abs/2303.15343",
        description="SigLIP ViT-L/16 at 384 px, as evaluated in the MarsRetrieval paper.",
    ),
    _spec(
        "vit-l-16-siglip2-512",
        "hf-hub:timm/ViT-L-16-SigLIP2-512",
        revision=RESOLVE_AT_FIRST_USE,
        embedding_dim=1024,
        parameters=882_313_218,
        image_size=512,
        license="apache-2.0",
        paper_url="https://arxiv.org/abs/2502.14786",
        description="SigLIP 2 ViT-L/16 at 512 px, as evaluated in the MarsRetrieval paper.",
    ),
    _spec(
        "pe-core-l-14-336",
        "hf-hub:timm/PE-Core-L-14-336",
        revision=RESOLVE_AT_FIRST_USE,
        embedding_dim=1024,
        parameters=671_138_817,
        image_size=336,
        license="apache-2.0",
        paper_url="https://arxiv.org/abs/2504.13181",
        description="Perception Encoder Core L/14 at 336 px, as evaluated in the MarsRetrieval paper.",
    ),
    _spec(
        "marscope-v1",
        "hf-hub:claytonwang/MarsScope-v1",
        revision=RESOLVE_AT_FIRST_USE,
        embedding_dim=768,
        parameters=428_681_473,
        image_size=512,
        license="unknown",  # neither the paper nor the published code states one
        paper_url="https://arxiv.org/abs/2601.15949",
        description=(
            "MarScope: OpenCLIP ViT-L-14-quickgelu initialised from DFN2B-CLIP and fine-tuned on "
            "over 200,000 Mars image-text pairs, 512 px input."
        ),
        # Its publishers' word: the pairs were never checked against the benchmark's items.
        declared_training=DeclaredTraining(
            data="over 200,000 Mars image-text pairs, fine-tuned from DFN2B-CLIP ViT-L-14-quickgelu",
            source="https://arxiv.org/abs/2601.15949",
        ),
    ),
    _spec(
        "tiny-random",
        "mars-zoo-tiny-random@seed0",
        embedding_dim=64,
        parameters=3_425_857,
        image_size=64,
        license="apache-2.0",
        batch_size=32,
        random_weights=True,
        description=(
            "RANDOM-WEIGHT BASELINE: a tiny OpenCLIP architecture with seeded random weights. "
            "Needs no download; for demos, tests and the floor of the leaderboard, not a real model."
        ),
    ),
)


@mars_zoo.hookimpl
def register_models(register):
    for spec in MODELS:
        register(spec)
