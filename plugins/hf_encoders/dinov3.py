"""DINOv3 ViT-L/16 (Meta), image only: the CLS token of the normalised last hidden
state (`pooler_output`), 224 px with ImageNet statistics, fp32 as published.

The Hub repository is gated: loading without accepted access fails with a message
that says how to get it.
"""

from __future__ import annotations

from pathlib import Path

from mars_zoo import ModelSpec
from mars_zoo.models.model import IMAGE
from mars_zoo_hf_encoders.specs import spec, tiny_spec

FAMILY = "dinov3"
TINY_SEED = 0
TINY_IMAGE_SIZE = 32
TINY_CONFIG = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                   patch_size=8, image_size=TINY_IMAGE_SIZE, num_register_tokens=4)
TINY_RECIPE = {"model": "DINOv3ViTModel", "seed": TINY_SEED, "config": TINY_CONFIG, "format": 1}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_tiny(folder: Path) -> None:
    from transformers import DINOv3ViTConfig, DINOv3ViTImageProcessor, DINOv3ViTModel

    from mars_zoo.models.tiny import seeded

    seeded(TINY_SEED, lambda: DINOv3ViTModel(DINOv3ViTConfig(**TINY_CONFIG))).save_pretrained(folder)
    DINOv3ViTImageProcessor(
        size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE}, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD
    ).save_pretrained(folder)


def cls_token(output):
    """DINOv3's image embedding: the CLS token after the final norm."""
    return output.pooler_output


def load(spec: ModelSpec, device: str, precision: str):
    from transformers import DINOv3ViTImageProcessor, DINOv3ViTModel

    from mars_zoo_hf_encoders.common import VisionEncoder, load_pretrained, native

    image_processor, model = load_pretrained(
        spec, (TINY_RECIPE, build_tiny), DINOv3ViTImageProcessor.from_pretrained, native(DINOv3ViTModel),
        spec.weights_torch_dtype(device, precision),
    )
    return VisionEncoder(model, image_processor, device, pool=cls_token)


MODELS = (
    spec(
        FAMILY,
        "dinov3-vitl16-pretrain-lvd1689m",
        "facebook/dinov3-vitl16-pretrain-lvd1689m",
        load,
        modalities=(IMAGE,),
        revision="ea8dc2863c51be0a264bab82070e3e8836b02d51",
        embedding_dim=1024,
        parameters=303_129_600,
        image_size=224,
        license="dinov3-license",
        paper_url="https://arxiv.org/abs/2508.10104",
        code_url="https://github.com/facebookresearch/dinov3",
        batch_size=64,
        precision="fp32",
        description="DINOv3 ViT-L/16 distilled on LVD-1689M, vision only: image queries of task 3. Gated on "
                    "the Hub: accept the licence on its page first.",
        recipe_notes="Image-only; the embedding is the CLS token (pooler_output) at 224 px with ImageNet "
                     "statistics, in fp32 as in the published runs.",
    ),
    tiny_spec(FAMILY, load, "DINOv3's recipe (DINOv3ViTModel, CLS token)", modalities=(IMAGE,),
              embedding_dim=TINY_CONFIG["hidden_size"], parameters=23_584, image_size=TINY_IMAGE_SIZE),
)
