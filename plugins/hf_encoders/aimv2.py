"""AIMv2 (Apple): the LiT image-text checkpoint and the 448 px vision-only encoder.

The paper's "aimv2-large-patch14-224" is, in the published code, the LiT checkpoint
`apple/aimv2-large-patch14-224-lit`: image = attention-pool head then projector,
text = the end-of-text token then projector. Its text tower is causal; transformers'
Aimv2TextModel applies the causal mask only when given an attention mask and only
with eager attention (SDPA attends both ways), so the text tower runs eager and the
mask is always passed. The 448 px model is image-only: the mean of its last hidden
state. Both pinned revisions store Apple's original key layout (see apple_layout.py).
"""

from __future__ import annotations

from pathlib import Path

from mars_zoo import MarsZooError, ModelSpec
from mars_zoo.models.model import IMAGE
from mars_zoo_hf_encoders.specs import spec, tiny_spec

FAMILY = "aimv2"
TINY_SEED = 0
TINY_IMAGE_SIZE = 28
TINY_TOWER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
TINY_VISION = dict(TINY_TOWER, image_size=TINY_IMAGE_SIZE, patch_size=14)
TINY_PROJECTION = 24
TINY_LIT_RECIPE = {"model": "Aimv2Model", "seed": TINY_SEED, "tower": TINY_TOWER, "vision": TINY_VISION,
                   "projection_dim": TINY_PROJECTION, "format": 1}
TINY_VISION_RECIPE = {"model": "Aimv2VisionModel", "seed": TINY_SEED, "vision": TINY_VISION, "format": 1}

PAPER = "https://arxiv.org/abs/2411.14402"
CODE = "https://github.com/apple/ml-aim"


def build_tiny_lit(folder: Path) -> None:
    from transformers import Aimv2Config, Aimv2Model

    from mars_zoo.models.tiny import clip_processor, seeded

    processor = clip_processor(TINY_IMAGE_SIZE)
    tokenizer = processor.tokenizer
    config = Aimv2Config(
        text_config=dict(TINY_TOWER, vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id,
                         max_position_embeddings=77),
        vision_config=TINY_VISION,
        projection_dim=TINY_PROJECTION,
    )
    seeded(TINY_SEED, lambda: Aimv2Model(config)).save_pretrained(folder)
    processor.save_pretrained(folder)


def build_tiny_vision(folder: Path) -> None:
    from transformers import Aimv2VisionConfig, Aimv2VisionModel

    from mars_zoo.models.tiny import clip_processor, seeded

    config = Aimv2VisionConfig(**TINY_VISION, use_head=False)
    seeded(TINY_SEED, lambda: Aimv2VisionModel(config)).save_pretrained(folder)
    clip_processor(TINY_IMAGE_SIZE).image_processor.save_pretrained(folder)


def read_checkpoint(model_class, config, source: str, revision: str | None, table: dict):
    """The native model from a checkpoint in either layout: Apple's original keys are
    renamed with `table` and loaded strictly; native checkpoints load as they are."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    from transformers.utils import cached_file

    from mars_zoo_hf_encoders.apple_layout import is_apple_layout, to_native

    weights = cached_file(source, "model.safetensors", revision=revision)
    with safe_open(weights, framework="pt") as tensors:
        apple = is_apple_layout(tensors.keys())
    if not apple:
        return model_class.from_pretrained(source, revision=revision, config=config)
    model = model_class(config)
    try:
        model.load_state_dict(to_native(load_file(weights), table), strict=True)
    except RuntimeError as exc:
        raise MarsZooError(
            f"The checkpoint {source} (revision {revision}) is in Apple's original layout, but its tensors do "
            f"not fit the {model_class.__name__} its config.json describes: "
            f"{' '.join(str(exc).split())[:600]}. Fix: pass the revision the model is registered with, or "
            f"convert the checkpoint with transformers' AIMv2 conversion script and pass the folder as weights."
        ) from exc
    return model


def load_lit(spec: ModelSpec, device: str, precision: str):
    from transformers import Aimv2Config, Aimv2Model, CLIPProcessor

    from mars_zoo_hf_encoders.apple_layout import LIT_MODEL
    from mars_zoo_hf_encoders.common import DualEncoder, load_pretrained, with_pil_images

    def read_model(source, revision):
        config = Aimv2Config.from_pretrained(source, revision=revision)
        config.vision_config.use_head = True  # the LiT checkpoint pools with its attention head
        return read_checkpoint(Aimv2Model, config, source, revision, LIT_MODEL)

    processor, model = load_pretrained(spec, (TINY_LIT_RECIPE, build_tiny_lit), with_pil_images(CLIPProcessor),
                                       read_model, spec.weights_torch_dtype(device, precision))
    # Causal text attention needs eager attention (see the module docstring).
    model.text_model.set_attn_implementation("eager")
    return DualEncoder(model, processor, device)


def mean_of_tokens(output):
    """Image-only AIMv2: the mean over all patch tokens of the last hidden state."""
    return output.last_hidden_state.mean(dim=1)


def load_vision(spec: ModelSpec, device: str, precision: str):
    from transformers import Aimv2VisionConfig, Aimv2VisionModel

    from mars_zoo_hf_encoders.apple_layout import VISION_MODEL
    from mars_zoo_hf_encoders.common import VisionEncoder, load_pretrained, with_pil_images

    def read_model(source, revision):
        # Apple's vision-only checkpoints have no attention-pool head (transformers'
        # conversion sets use_head=False for them too).
        config = Aimv2VisionConfig.from_pretrained(source, revision=revision, use_head=False)
        return read_checkpoint(Aimv2VisionModel, config, source, revision, VISION_MODEL)

    image_processor, model = load_pretrained(
        spec, (TINY_VISION_RECIPE, build_tiny_vision), with_pil_images(), read_model,
        spec.weights_torch_dtype(device, precision),
    )
    return VisionEncoder(model, image_processor, device, pool=mean_of_tokens)


MODELS = (
    spec(
        FAMILY,
        "aimv2-large-patch14-224-lit",
        "apple/aimv2-large-patch14-224-lit",
        load_lit,
        revision="c2cd59a786c4c06f39d199c50d08cc2eab9f8605",
        embedding_dim=768,
        parameters=436_680_193,
        image_size=224,
        license="apple-amlr",
        paper_url=PAPER,
        code_url=CODE,
        batch_size=96,
        precision="fp16",
        description="AIMv2-L/14 at 224 px with its LiT-tuned text tower (the paper's aimv2-large-patch14-224).",
        recipe_notes="The paper's 'aimv2-large-patch14-224' is, in the published code, the LiT checkpoint "
                     "apple/aimv2-large-patch14-224-lit (image: attention-pool head then projector; text: "
                     "end-of-text token then projector), not the vision-only aimv2-large-patch14-224. The "
                     "pinned revision stores Apple's original keys, renamed on load with transformers' "
                     "conversion table; the text tower runs causal as Apple's code does. The image processor "
                     "resizes with PIL, as transformers 4.57 did in the published runs.",
    ),
    spec(
        FAMILY,
        "aimv2-large-patch14-448",
        "apple/aimv2-large-patch14-448",
        load_vision,
        revision="cefb13f21003bdadba65bfbee956c82b976cd23d",
        modalities=(IMAGE,),
        embedding_dim=1024,
        parameters=309_984_256,
        image_size=448,
        license="apple-amlr",
        paper_url=PAPER,
        code_url=CODE,
        batch_size=64,
        precision="fp16",
        description="AIMv2-L/14 at 448 px, vision only: image queries of task 3.",
        recipe_notes="Image-only: the published code embeds an image as the mean of the last hidden state "
                     "over all patch tokens (the checkpoint has no pooling head). The image processor resizes "
                     "with PIL, as transformers 4.57 did in the published runs.",
    ),
    tiny_spec(FAMILY, load_lit, "AIMv2's LiT recipe (Aimv2Model, image and text, offline tokenizer)",
              embedding_dim=TINY_PROJECTION, parameters=83_809, image_size=TINY_IMAGE_SIZE),
    tiny_spec(FAMILY, load_vision, "AIMv2's image-only recipe (Aimv2VisionModel, mean of tokens)",
              short_name="tiny-random-vision", modalities=(IMAGE,), embedding_dim=TINY_TOWER["hidden_size"],
              parameters=39_648, image_size=TINY_IMAGE_SIZE),
)
