"""jina-embeddings-v4: Qwen2.5-VL-3B with the retrieval adapter, mean-pooled.

The published evaluation calls jina's own wrapper (`encode_text(task="retrieval",
prompt_name="query")`, `encode_image(task="retrieval")`), which is remote code: a
Qwen2.5-VL whose task adapters are selected per batch by a custom LoRA layer that
peft cannot load as it stands. Jina publishes the same model with the retrieval
adapter merged into the weights as a plain `Qwen2_5_VLForConditionalGeneration`
checkpoint (`jinaai/jina-embeddings-v4-vllm-retrieval`), which the native class loads
without remote code; this recipe loads that checkpoint and re-does what the wrapper
does around it:

- every text, caption or query, is "Query: {text}" (no chat template), mean-pooled
  over its attention mask;
- every image is read through a fixed user turn ending "Describe the image." and
  mean-pooled over its vision span (from <|vision_start|> to <|vision_end|>);
- images keep at most 768 merged 28 px patches (602,112 pixels).

Importable without torch: the loader imports what it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from mars_zoo_mllm import qwen2vl
import mars_zoo
from mars_zoo_mllm.recipe import RawPrompt, Recipe, TinyModel, mllm_spec, random_spec

FAMILY = "jina"

TEXT_PROMPT = "Query: {text}"
IMAGE_PROMPT = "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe the image.<|im_end|>\n"
MIN_PIXELS = 4 * 28 * 28
MAX_PIXELS = 768 * 28 * 28
MAX_LENGTH = 32768  # the wrapper's truncation length for texts

# The full-size architecture: Qwen2.5-VL-3B (the backbone of jina-embeddings-v4).
QWEN25VL_3B: Mapping[str, Any] = {
    "text_config": {
        "hidden_size": 2048, "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 2,
        "intermediate_size": 11008, "vocab_size": 151936, "tie_word_embeddings": True,
        "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    },
    "vision_config": {
        "depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16, "out_hidden_size": 2048,
        "patch_size": 14, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31], "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    },
    "tie_word_embeddings": True,
}

TINY_TEXT: Mapping[str, Any] = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "intermediate_size": 64, "rope_scaling": {"type": "mrope", "mrope_section": [2, 1, 1]},
}
TINY_VISION: Mapping[str, Any] = {
    "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 4, "out_hidden_size": 32,
    "patch_size": 14, "window_size": 56, "fullatt_block_indexes": [1], "spatial_merge_size": 2,
    "temporal_patch_size": 2,
}
TINY_PARAMETERS = 130_976  # of the tiny architecture with its 512-token vocabulary (tested)


def build_tiny(folder: Path, seed: int) -> None:
    """A seeded tiny Qwen2_5_VLForConditionalGeneration with a byte-level BPE tokenizer
    holding the Qwen special tokens and the default Qwen2-VL image processor (whose
    pixel limit is larger than the recipe's, so the tests see the recipe set it)."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor, Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    from mars_zoo.models.tiny import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(
        qwen2vl.QWEN_SPECIAL_TOKENS, pad_token="<|endoftext|>", eos_token="<|im_end|>", padding_side="left"
    )
    token = tokenizer.convert_tokens_to_ids
    config = Qwen2_5_VLConfig(
        text_config={**TINY_TEXT, "vocab_size": len(tokenizer)},
        vision_config=dict(TINY_VISION),
        image_token_id=token("<|image_pad|>"), video_token_id=token("<|video_pad|>"),
        vision_start_token_id=token("<|vision_start|>"), vision_end_token_id=token("<|vision_end|>"),
    )
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(), tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor(),
        chat_template=qwen2vl.QWEN2VL_CHAT_TEMPLATE,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


RECIPE = Recipe(
    model_class="Qwen2_5_VLForConditionalGeneration",
    text_prompt=RawPrompt(TEXT_PROMPT),
    image_prompt=RawPrompt(IMAGE_PROMPT),
    pooling="mean",
    image_pooling="vision_span",
    padding_side="right",
    hidden_states=qwen2vl.hidden_states,
    image_size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
    max_length=MAX_LENGTH,
)

RECIPE_NOTES = (
    "Loads jinaai/jina-embeddings-v4-vllm-retrieval, jina's release of jina-embeddings-v4 with "
    "the retrieval adapter merged into a plain Qwen2.5-VL checkpoint: the main repository "
    "selects its adapters with remote code that the native class cannot run. As the published "
    "evaluation does through jina's wrapper, every text is embedded as a query (\"Query: "
    "{text}\"), the captions that task 1 searches as a gallery included, which the model card "
    "would embed as passages (\"Passage: \"); images are read through the prompt \"Describe the image.\" and mean-pooled over "
    "their vision tokens, at most 768 x 28 x 28 pixels. It computes in bf16, as the published "
    "runs did: jina's encode loop runs every forward pass under bf16 autocast (over fp16 weights on "
    "a GPU), whatever dtype the weights were loaded in."
)

MODELS = (
    mllm_spec(
        f"{FAMILY}/jina-embeddings-v4",
        RECIPE,
        checkpoint="jinaai/jina-embeddings-v4-vllm-retrieval",
        revision=mars_zoo.RESOLVE_AT_FIRST_USE,  # jina publishes no pin of this repository
        embedding_dim=2048,
        parameters=3_754_622_976,
        license="cc-by-nc-4.0",
        precision="bf16",  # jina's encode loop autocasts to bf16
        batch_size=16,
        description="jina-embeddings-v4 (retrieval adapter), single-vector embeddings.",
        recipe_notes=RECIPE_NOTES,
        paper_url="https://arxiv.org/abs/2506.18902",
        code_url="https://huggingface.co/jinaai/jina-embeddings-v4",
    ),
    random_spec(
        f"{FAMILY}/tiny-random",
        RECIPE,
        TinyModel("mllm/tiny-jina", build_tiny, {"seed": 0}),
        model="jina-embeddings-v4",
        architecture="Qwen2.5-VL",
        embedding_dim=TINY_TEXT["hidden_size"],
        parameters=TINY_PARAMETERS,
    ),
)
