"""BGE-VL-large: a CLIP ViT-L/14 fine-tuned by BAAI, loaded as the plain transformers
CLIPModel its remote code copies (that copy does not run on transformers 5).

The published wrapper re-encodes the images it is handed as PIL images as JPEG (quality
95) before the processor: task 1's images. Landform, tile and query images reach it as
file paths (its `use_path_inputs`), which its remote code opens as they are. Texts are
truncated to the 77 text positions.
"""

from __future__ import annotations

from pathlib import Path

from mars_zoo import ModelSpec
from mars_zoo_hf_encoders.specs import spec, tiny_spec

FAMILY = "bge-vl"
JPEG_QUALITY = 95
TINY_SEED = 0
TINY_IMAGE_SIZE = 32
# Text and vision towers at tiny width, with the real class and the real processor classes.
TINY_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 max_position_embeddings=77)
TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                   image_size=TINY_IMAGE_SIZE, patch_size=8)
TINY_PROJECTION = 24
TINY_RECIPE = {"model": "CLIPModel", "seed": TINY_SEED, "text": TINY_TEXT, "vision": TINY_VISION,
               "projection_dim": TINY_PROJECTION, "format": 1}


def build_tiny(folder: Path) -> None:
    from transformers import CLIPConfig, CLIPModel

    from mars_zoo.models.tiny import clip_processor, seeded

    processor = clip_processor(TINY_IMAGE_SIZE)
    tokenizer = processor.tokenizer
    config = CLIPConfig(
        text_config=dict(TINY_TEXT, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id),
        vision_config=TINY_VISION,
        projection_dim=TINY_PROJECTION,
    )
    seeded(TINY_SEED, lambda: CLIPModel(config)).save_pretrained(folder)
    processor.save_pretrained(folder)


def load(spec: ModelSpec, device: str, precision: str):
    from transformers import CLIPModel, CLIPProcessor

    from mars_zoo_hf_encoders.common import DualEncoder, load_pretrained, native, with_pil_images

    processor, model = load_pretrained(spec, (TINY_RECIPE, build_tiny), with_pil_images(CLIPProcessor),
                                       native(CLIPModel), spec.weights_torch_dtype(device, precision))
    return DualEncoder(model, processor, device, paired_jpeg_quality=JPEG_QUALITY)


MODELS = (
    spec(
        FAMILY,
        "bge-vl-large",
        "BAAI/BGE-VL-large",
        load,
        revision="40fb48217f521df22a2a5bf15edd52ed1146ef05",
        embedding_dim=768,
        parameters=427_616_513,
        image_size=224,
        license="mit",
        paper_url="https://arxiv.org/abs/2412.14475",
        code_url="https://github.com/VectorSpaceLab/MegaPairs",
        batch_size=64,
        precision="fp16",
        description="BGE-VL-large (MegaPairs): CLIP ViT-L/14 trained for multimodal retrieval, as evaluated "
                    "in the MarsRetrieval paper.",
        recipe_notes="Loaded as transformers' CLIPModel, not the card's remote code (a CLIPModel copy), with "
                     "fp32 weights (the Hub file is fp16). As in the published evaluation, task 1's images are "
                     "re-encoded as JPEG quality 95 before the processor (landform, tile and query images are "
                     "not), the image processor resizes with PIL, and texts are truncated to 77 tokens.",
    ),
    tiny_spec(FAMILY, load, "BGE-VL's recipe (CLIPModel, task 1's JPEG round trip)", embedding_dim=TINY_PROJECTION,
              parameters=61_473, image_size=TINY_IMAGE_SIZE),
)
