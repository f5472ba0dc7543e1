"""Qwen3-VL-Embedding-2B: Qwen3-VL read through a system instruction, last token pooled.

The published code (Qwen's `Qwen3VLEmbedder`, which the MarsRetrieval evaluation
calls) puts every input in a chat: system "Represent the user's input.", one user
turn holding the image or the text, then the generation prompt; it pads on the
right and takes the last attended token of `Qwen3VLModel`'s last hidden state.
Images are resized with PIL first (qwen-vl-utils' `fetch_image`: both sides rounded
to 32, between 4 and 1800 merged 32 px patches) and the processor is then told not
to resize again (`do_resize=False`): the checkpoint's processor would otherwise
scale every image up to at least 65,536 pixels.

Importable without torch: the loader imports what it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from mars_zoo_mllm import qwen2vl
from mars_zoo_mllm.recipe import (
    ChatPrompt, ImageResize, Recipe, TaskInstructions, TinyModel, mllm_spec, random_spec,
)

FAMILY = "qwen3-vl"

INSTRUCTION = "Represent the user's input."
FACTOR = 32  # patch 16, merged 2 x 2
MIN_PIXELS = 4 * FACTOR * FACTOR
MAX_PIXELS = 1800 * FACTOR * FACTOR
MAX_LENGTH = 8192  # the embedder's truncation length (Qwen3VLEmbedder's default, which the published code keeps)

# The checkpoint's image processor: 16 px patches merged 2 x 2, mean and std 0.5, and
# a minimum of 65,536 pixels that `do_resize=False` keeps from applying.
IMAGE_PROCESSOR: Mapping[str, Any] = {
    "patch_size": 16, "temporal_patch_size": 2, "merge_size": 2,
    "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    "size": {"shortest_edge": 65536, "longest_edge": 16777216},
}

# The full-size architecture of Qwen3-VL-Embedding-2B (Qwen3-VL-2B without the LM head).
QWEN3VL_2B: Mapping[str, Any] = {
    "text_config": {
        "hidden_size": 2048, "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8,
        "head_dim": 128, "intermediate_size": 6144, "vocab_size": 151936, "tie_word_embeddings": True,
    },
    "vision_config": {
        "depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16, "out_hidden_size": 2048,
        "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2, "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [5, 11, 17],
    },
    "tie_word_embeddings": True,
}

# mteb 2.26.24's Qwen3VLEmbeddingWrapper (qwen3_vl_embedding_models.py, on instruct_wrapper.py's
# InstructSentenceTransformerModel): get_task_instruction, "" (documents) becoming INSTRUCTION, stripped,
# "." added unless it ends in punctuation, handed to sentence-transformers as `prompt`, which makes it the
# system message of the chat (Transformer.preprocess) for texts and images alike. Images go to the
# processor as decoded (no qwen-vl-utils resize: the image processor, loaded with MIN_PIXELS and
# MAX_PIXELS, resizes and converts them).
MTEB_INSTRUCTIONS = TaskInstructions(
    default=INSTRUCTION, punctuate=True,
    changes={"image_resize": None, "convert_rgb": False,
             "image_size": {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}},
)

TINY_TEXT: Mapping[str, Any] = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
    "intermediate_size": 64,
    "rope_scaling": {"rope_type": "default", "mrope_section": [2, 1, 1], "mrope_interleaved": True},
}
TINY_VISION: Mapping[str, Any] = {
    "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 4, "out_hidden_size": 32,
    "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2, "num_position_embeddings": 64,
    "deepstack_visual_indexes": [0],
}
TINY_PARAMETERS = 144_928  # of the tiny architecture with its 512-token vocabulary (tested)


def build_tiny(folder: Path, seed: int) -> None:
    """A seeded tiny Qwen3VLModel with a byte-level BPE tokenizer holding the Qwen
    special tokens, the checkpoint's image-processor settings and a Qwen chat template,
    saved as the real checkpoint is (right padding is the recipe's, not the tokenizer's)."""
    import torch
    from transformers import Qwen2VLImageProcessor, Qwen3VLConfig, Qwen3VLModel, Qwen3VLProcessor, Qwen3VLVideoProcessor

    from mars_zoo.models.tiny import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(
        qwen2vl.QWEN_SPECIAL_TOKENS, pad_token="<|endoftext|>", eos_token="<|im_end|>", padding_side="left"
    )
    token = tokenizer.convert_tokens_to_ids
    config = Qwen3VLConfig(
        text_config={**TINY_TEXT, "vocab_size": len(tokenizer)},
        vision_config=dict(TINY_VISION),
        image_token_id=token("<|image_pad|>"), video_token_id=token("<|video_pad|>"),
        vision_start_token_id=token("<|vision_start|>"), vision_end_token_id=token("<|vision_end|>"),
    )
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(**IMAGE_PROCESSOR), tokenizer=tokenizer,
        video_processor=Qwen3VLVideoProcessor(patch_size=16, merge_size=2, temporal_patch_size=2),
        chat_template=qwen2vl.QWEN2VL_CHAT_TEMPLATE,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen3VLModel(config)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


RECIPE = Recipe(
    model_class="Qwen3VLModel",
    text_prompt=ChatPrompt(system=INSTRUCTION, user="{text}"),
    image_prompt=ChatPrompt(system=INSTRUCTION, user="", image=True),
    pooling="last_non_pad",
    padding_side="right",
    hidden_states=qwen2vl.hidden_states,
    image_resize=ImageResize(FACTOR, MIN_PIXELS, MAX_PIXELS, processor_resizes=False),
    max_length=MAX_LENGTH,
    task_instructions=MTEB_INSTRUCTIONS,
)

RECIPE_NOTES = (
    "Follows Qwen's Qwen3VLEmbedder as the published evaluation calls it: the default instruction "
    "\"Represent the user's input.\" as the system turn for both captions and images, the chat "
    "template with the generation prompt, the last attended token with right padding, truncation "
    "at 8,192 tokens. Images are resized with PIL to multiples of 32 (4 to 1,800 merged patches) "
    "as qwen-vl-utils does, and the processor does not resize them again. Under --paired-protocol mteb "
    "it runs as MTEB's wrapper does: queries get the task's instruction as their system turn, documents "
    "\"Represent the user's input.\", and the processor resizes images itself (4 to 1,800 patches)."
)

MODELS = (
    mllm_spec(
        f"{FAMILY}/qwen3-vl-embedding-2b",
        RECIPE,
        checkpoint="Qwen/Qwen3-VL-Embedding-2B",
        revision="9f2f7e710d6d81056aa5c0a4f04764fec6bb7bda",
        embedding_dim=2048,
        parameters=2_127_532_032,
        license="apache-2.0",
        precision="fp16",
        batch_size=32,
        description="Qwen3-VL-Embedding, 2B parameters.",
        recipe_notes=RECIPE_NOTES,
        paper_url="https://github.com/QwenLM/Qwen3-VL-Embedding/blob/main/assets/qwen3vlembedding_technical_report.pdf",
        code_url="https://github.com/QwenLM/Qwen3-VL-Embedding",
    ),
    random_spec(
        f"{FAMILY}/tiny-random",
        RECIPE,
        TinyModel("mllm/tiny-qwen3-vl", build_tiny, {"seed": 0}),
        model="Qwen3-VL-Embedding",
        architecture="Qwen3-VL",
        embedding_dim=TINY_TEXT["hidden_size"],
        parameters=TINY_PARAMETERS,
    ),
)
