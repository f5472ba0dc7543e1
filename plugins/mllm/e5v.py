"""E5-V (royokong/e5-v): LLaVA-NeXT on Llama-3-8B, read through a one-word summary prompt.

The published code (the E5-V README, which MarsRetrieval and MTEB copy) wraps every
input in a literal Llama-3 chat turn, asks for a one-word summary, and takes the last
position of the final hidden state. What changes its numbers:

- the checkpoint's processor config has no `patch_size`, without which the processor
  cannot count the image tokens; it is the vision tower's 14;
- the image processor: the published runs used transformers 4.57.3, whose
  `LlavaNextProcessor` loads the slow, PIL-based `LlavaNextImageProcessor`; transformers 5
  defaults to a torchvision backend that resizes differently (up to 0.015 per pixel on
  the parity harness's images), so the recipe asks for the PIL backend (`image_backend`),
  which gives 4.57.3's pixels exactly on the same Pillow;
- padding: the published code never sets a padding side, so batches pad on the side
  the checkpoint's tokenizer config says, and the last position is a real token only
  if that side is the left. Which side royokong/e5-v's tokenizer config says is
  unknown here (neither the published code nor MTEB's wrapper states it; the
  E5-V authors' own evaluation forces left padding, except when it loads this
  checkpoint's processor). The recipe keeps the checkpoint's side and batches as the
  published code does (`batch_size_database = 1`: every image and caption alone; the
  three prompts of a prompt ensemble in one batch), so with either side the embeddings
  are the published ones: with right padding the two shorter prompts of an ensemble are
  read at a padding token, as they were in the published runs.

Importable without torch: the loader imports what it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from mars_zoo_mllm.recipe import RawPrompt, Recipe, TinyModel, mllm_spec, random_spec

FAMILY = "e5-v"

# The README's template, as published (no <|begin_of_text|>: the tokenizer adds it).
LLAMA3_TEMPLATE = "<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n \n"
TEXT_INSTRUCTION = "{text}\nSummary above sentence in one word: "
IMAGE_INSTRUCTION = "<image>\nSummary above image in one word: "
PATCH_SIZE = 14  # CLIP ViT-L/14-336, the vision tower

LLAMA3_SPECIAL_TOKENS = (
    "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<image>",
)

# The full-size architecture of royokong/e5-v: llama3-llava-next-8b (vocabulary 128,256
# plus <image> and padding to 128,320), CLIP ViT-L/14 at 336 px.
E5V_8B: Mapping[str, Any] = {
    "text_config": {
        "model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128320,
    },
    "vision_config": {
        "model_type": "clip_vision_model", "hidden_size": 1024, "intermediate_size": 4096,
        "num_hidden_layers": 24, "num_attention_heads": 16, "image_size": 336, "patch_size": PATCH_SIZE,
        "projection_dim": 768,
    },
    "image_token_index": 128256,
}

# Tiny width: 28 px tiles of two 14 px patches a side, so that PATCH_SIZE is the tower's.
TINY_TILE = 28
TINY_PINPOINTS = [[TINY_TILE, 2 * TINY_TILE], [2 * TINY_TILE, TINY_TILE], [2 * TINY_TILE, 2 * TINY_TILE]]
TINY_CONFIG: Mapping[str, Any] = {
    "text_config": {
        "model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 64,
    },
    "vision_config": {
        "model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "image_size": TINY_TILE, "patch_size": PATCH_SIZE, "projection_dim": 32,
    },
    "image_grid_pinpoints": TINY_PINPOINTS,
}
TINY_PARAMETERS = 89_728  # of the tiny architecture with its 512-token vocabulary (tested)


def hidden_states(model: Any, inputs: Mapping[str, Any]) -> Any:
    """The final hidden state of the language model (what the published code reads
    as `hidden_states[-1]`), without computing the 128k-word logits."""
    return model.model(**inputs).last_hidden_state


def build_tiny(folder: Path, seed: int, padding_side: str = "right") -> None:
    """A seeded tiny LlavaNextForConditionalGeneration with a byte-level BPE tokenizer
    holding the Llama-3 and LLaVA special tokens (adding <|begin_of_text|> as Llama-3's
    does) and the default LLaVA-NeXT image processor at tiny tiles. The tokenizer config
    says `padding_side` (the tests build both sides), and the processor is saved without a
    patch size, so the tests see the recipe, not the tiny checkpoint, supply it."""
    import torch
    from tokenizers.processors import TemplateProcessing
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextImageProcessor, LlavaNextProcessor

    from mars_zoo.models.tiny import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(
        LLAMA3_SPECIAL_TOKENS, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
        pad_token="<|end_of_text|>", padding_side=padding_side,
    )
    bos = tokenizer.convert_tokens_to_ids("<|begin_of_text|>")
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", bos)],
    )
    image_processor = LlavaNextImageProcessor(
        size={"shortest_edge": TINY_TILE}, crop_size={"height": TINY_TILE, "width": TINY_TILE},
        image_grid_pinpoints=TINY_PINPOINTS,
    )
    config = dict(TINY_CONFIG)
    config["text_config"] = {**config["text_config"], "vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaNextForConditionalGeneration(
            LlavaNextConfig(**config, image_token_index=tokenizer.convert_tokens_to_ids("<image>"))
        )
    model.save_pretrained(folder)
    LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)


RECIPE = Recipe(
    model_class="LlavaNextForConditionalGeneration",
    text_prompt=RawPrompt(LLAMA3_TEMPLATE.format(TEXT_INSTRUCTION)),
    image_prompt=RawPrompt(LLAMA3_TEMPLATE.format(IMAGE_INSTRUCTION)),
    pooling="last",
    padding_side=None,  # the checkpoint's, as published
    hidden_states=hidden_states,
    image_backend="pil",
    processor_kwargs={"patch_size": PATCH_SIZE},
)

RECIPE_NOTES = (
    "Follows the E5-V README, which the published evaluation copies: each text and image is "
    "wrapped in a literal Llama-3 user turn asking for a one-word summary, and the embedding is "
    "the last position of the final hidden state. The processor's patch size is set to 14, which "
    "the checkpoint's processor config lacks, and images are preprocessed by the PIL-based image "
    "processor that the published transformers 4.57.3 used (transformers 5 defaults to torchvision). Like the published code, the recipe sets no padding "
    "side (the checkpoint's tokenizer config decides; which side it says is not known here) and "
    "batches as the published run did: the three prompts of a prompt ensemble in one batch, every "
    "image and caption as if alone (never padded). If the checkpoint pads on the right, the two "
    "shorter prompts of an ensemble are read at a padding token, in the published run as here."
)

MODELS = (
    mllm_spec(
        f"{FAMILY}/e5-v",
        RECIPE,
        checkpoint="royokong/e5-v",
        revision="0c1f22679417b3ae925d779442221c40cd1861ab",
        embedding_dim=4096,
        parameters=8_355_276_800,
        license="unknown",  # the model card declares none (MTEB lists license=None)
        precision="fp16",
        batch_size=16,
        description="E5-V: LLaVA-NeXT (Llama-3-8B) embeddings from a one-word summary prompt.",
        recipe_notes=RECIPE_NOTES,
        paper_url="https://arxiv.org/abs/2407.12580",
        code_url="https://github.com/kongds/E5-V",
    ),
    random_spec(
        f"{FAMILY}/tiny-random",
        RECIPE,
        TinyModel("mllm/tiny-e5-v", build_tiny, {"seed": 0, "padding_side": "right"}),
        model="E5-V",
        architecture="LLaVA-NeXT",
        embedding_dim=TINY_CONFIG["text_config"]["hidden_size"],
        parameters=TINY_PARAMETERS,
    ),
)
