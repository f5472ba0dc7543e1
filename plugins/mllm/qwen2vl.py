"""The Qwen2-VL family: its forward passes and its seeded tiny model.

Importable without torch (recipes reference these functions at registration);
each function imports what it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from mars_zoo import ModelSpec
from mars_zoo_mllm.recipe import RawPrompt, Recipe, TinyModel, random_spec

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>",
)

VISION = "<|vision_start|><|image_pad|><|vision_end|>"  # one image, as the processor expands it


def written_chat(system: str, user: str) -> RawPrompt:
    """The chat prompt that GME's and Ops-MM's own code (and their MTEB wrappers) writes out
    itself (never the checkpoint's chat template): a system turn, one user turn, the assistant
    header, then <|endoftext|>, the token whose state is the embedding."""
    return RawPrompt(
        "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n" + user + "<|im_end|>\n"
        "<|im_start|>assistant\n<|endoftext|>",
        system=system,
    )


# Qwen2-VL-Instruct's chat template (images and text; the video branch is not used here).
QWEN2VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# How transformers before 4.52 (and VLM2Vec's copy of its Qwen2-VL classes, which trained the
# VLM2Vec and B3++ adapters) named the modules: `visual.*` and `model.layers.*`, where the 5.x
# class has `model.visual.*` and `model.language_model.*`. As (regex, replacement) pairs from the
# old names to the new (`Recipe.adapter_renames`); names already new match neither.
LEGACY_MODULE_NAMES = (
    (r"^visual\.", "model.visual."),
    (r"^model\.(?!language_model\.|visual\.)", "model.language_model."),
)

# The full-size Qwen2-VL-2B architecture (GME, B3++, VLM2Vec-V2.0, Ops-MM share it).
QWEN2VL_2B_TEXT: Mapping[str, Any] = {
    "vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960,
    "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
    "tie_word_embeddings": True, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
}
QWEN2VL_2B_VISION: Mapping[str, Any] = {
    "depth": 32, "embed_dim": 1280, "hidden_size": 1536, "num_heads": 16, "mlp_ratio": 4,
    "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
}

# The tiny width: two decoder layers of 32, one vision block.
TINY_TEXT = {
    "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2,
    "rope_scaling": {"type": "mrope", "mrope_section": [2, 1, 1]},
}
TINY_VISION = {
    "depth": 1, "embed_dim": 32, "hidden_size": 32, "num_heads": 2, "mlp_ratio": 2,
    "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
}
TINY_BASE = "mllm/tiny-qwen2-vl"  # the name of the tiny builds in the mars-zoo cache
TINY_PARAMETERS = 118_368  # of the tiny architecture with its 512-token vocabulary (tested)

# What every fine-tune of Qwen2-VL-2B declares (verified on the meta device by the tests).
QWEN2VL_2B_METADATA: Mapping[str, Any] = {"embedding_dim": 1536, "parameters": 2_208_985_600, "batch_size": 32}


def tiny_spec(name: str, recipe: Recipe, model: str, **build: Any) -> ModelSpec:
    """The seeded tiny Qwen2-VL behind `model`'s recipe (`build`: extra `build_tiny` arguments)."""
    params = {"seed": 0, **build}
    base = TinyModel(TINY_BASE, build_tiny, {"seed": params["seed"]}) if "adapter" in params else None
    tiny = TinyModel(TINY_BASE, build_tiny, params, base)
    return random_spec(
        name, recipe, tiny, model=model, architecture="Qwen2-VL",
        embedding_dim=TINY_TEXT["hidden_size"], parameters=TINY_PARAMETERS,
    )


def hidden_states(model: Any, inputs: Mapping[str, Any]) -> Any:
    """Qwen2-VL's own forward: 3-D M-RoPE positions for inputs with images, computed
    from the processor's mm_token_type_ids and attention mask."""
    return model.base_model(**inputs).last_hidden_state


def sequential_hidden_states(model: Any, inputs: Mapping[str, Any]) -> Any:
    """GME's forward: the image features placed into the input embeddings, then the
    language model with plain sequential positions 0..L-1 on all three rotary axes
    (not Qwen2-VL's 3-D image positions)."""
    import torch

    batch, length = inputs["input_ids"].shape
    positions = torch.arange(length, device=inputs["input_ids"].device)
    return model.base_model(**inputs, position_ids=positions.view(1, 1, -1).expand(3, batch, length)).last_hidden_state


def build_config(text: Mapping[str, Any], vision: Mapping[str, Any], tokenizer: Any = None):
    """A `Qwen2VLConfig`; with `tokenizer`, its vocabulary and special-token ids."""
    from transformers import Qwen2VLConfig

    ids = {}
    text = dict(text)
    if tokenizer is not None:
        token = tokenizer.convert_tokens_to_ids
        text["vocab_size"] = len(tokenizer)
        ids = {
            "image_token_id": token("<|image_pad|>"), "video_token_id": token("<|video_pad|>"),
            "vision_start_token_id": token("<|vision_start|>"), "vision_end_token_id": token("<|vision_end|>"),
            "bos_token_id": token("<|endoftext|>"), "eos_token_id": token("<|im_end|>"),
            "pad_token_id": token("<|endoftext|>"),
        }
        text.update({key: ids[key] for key in ("bos_token_id", "eos_token_id", "pad_token_id")})
    tie = text.get("tie_word_embeddings", False)
    return Qwen2VLConfig(text_config=text, vision_config=dict(vision), tie_word_embeddings=tie, **ids)


def build_tiny(folder: Path, seed: int, adapter: str | None = None, base: Path | None = None,
               legacy_names: bool = False) -> None:
    """A seeded tiny Qwen2VLForConditionalGeneration with a byte-level BPE tokenizer
    holding the Qwen special tokens, the default Qwen2-VL image processor and the
    Qwen2-VL chat template, saved as the real checkpoints are.

    `adapter` ("lora" or "dora") saves instead the layout of an adapter repository: a
    seeded, non-zero peft adapter (DoRA magnitudes off their initial weight norms), the
    config and processor files, and an adapter_config.json naming as its base the folder
    `base`, the tiny base model of the same seed (`TinyModel.base`). With `legacy_names` its
    tensors name the modules as the published adapters do (`LEGACY_MODULE_NAMES`), else as
    transformers 5 does.
    """
    import torch
    from transformers import (
        Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor,
    )

    from mars_zoo.models.tiny import train_bpe_tokenizer

    if adapter is not None:
        _build_tiny_adapter(folder, seed, adapter, base, legacy_names)
        return
    tokenizer = train_bpe_tokenizer(QWEN_SPECIAL_TOKENS, pad_token="<|endoftext|>", eos_token="<|im_end|>")
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(), tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(), chat_template=QWEN2VL_CHAT_TEMPLATE,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2VLForConditionalGeneration(build_config(TINY_TEXT, TINY_VISION, tokenizer)).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


def _build_tiny_adapter(folder: Path, seed: int, kind: str, base: Path, legacy_names: bool) -> None:
    """See `build_tiny`: the adapter repository layout over the tiny base of `seed`."""
    import shutil

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2VLForConditionalGeneration

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        config = LoraConfig(
            r=4, lora_alpha=8, use_dora=kind == "dora", init_lora_weights=False,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        )
        model = get_peft_model(Qwen2VLForConditionalGeneration.from_pretrained(base, dtype=torch.float32), config)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_magnitude_vector" in name:
                    parameter.mul_(1 + 0.5 * torch.rand_like(parameter))
    model.save_pretrained(folder)  # adapter_config.json names `base` as its base model
    if legacy_names:
        _save_with_legacy_names(folder / "adapter_model.safetensors")
    for path in base.iterdir():
        if path.name != "model.safetensors":
            shutil.copy(path, folder / path.name)


def _save_with_legacy_names(path: Path) -> None:
    """Rewrite the adapter file at `path` with the module names of `LEGACY_MODULE_NAMES`'
    old layout, as the published adapters name them."""
    from safetensors.torch import load_file, save_file

    new_to_old = (("base_model.model.model.language_model.", "base_model.model.model."),
                  ("base_model.model.model.visual.", "base_model.model.visual."))
    tensors = {}
    for key, value in load_file(path).items():
        for new, old in new_to_old:
            if key.startswith(new):
                key = old + key.removeprefix(new)
                break
        tensors[key] = value.contiguous()
    save_file(tensors, path, metadata={"format": "pt"})
