"""Reading AIMv2 checkpoints saved in Apple's original key layout into transformers'
native Aimv2 classes.

The revisions the published evaluation pins predate the native layout: their
`model.safetensors` names tensors as Apple's remote code does (`trunk.blocks.N.attn.qkv`
...). The table is that of transformers' own conversion script
(models/aimv2/convert_aimv2_original_pytorch_to_hf.py): fused qkv split in three,
the position table squeezed, every other tensor renamed.
"""

from __future__ import annotations

import re

import torch

_TOWER = {
    r"preprocessor\.patchifier\.proj": "embeddings.patch_embed",
    r"preprocessor\.pos_embed": "embeddings.position_embedding.weight",
    r"preprocessor\.patchifier\.norm\.weight": "embeddings.rms_norm.weight",
    r"trunk\.blocks\.(\d+)\.attn\.qkv": r"encoder.layers.\1.attention.qkv",
    r"trunk\.blocks\.(\d+)\.attn\.proj": r"encoder.layers.\1.attention.out_proj",
    r"trunk\.blocks\.(\d+)\.mlp\.fc1": r"encoder.layers.\1.ffn.gate_proj",
    r"trunk\.blocks\.(\d+)\.mlp\.fc2": r"encoder.layers.\1.ffn.down_proj",
    r"trunk\.blocks\.(\d+)\.mlp\.fc3": r"encoder.layers.\1.ffn.up_proj",
    r"trunk\.blocks\.(\d+)\.norm_1": r"encoder.layers.\1.rms_norm1",
    r"trunk\.blocks\.(\d+)\.norm_2": r"encoder.layers.\1.rms_norm2",
    r"trunk\.post_trunk_norm": "rms_norm",
}

# The vision-only checkpoints: one tower at the top level.
VISION_MODEL = {f"^{pattern}": target for pattern, target in _TOWER.items()}

# The LiT checkpoint: both towers, the attention-pool head, the projectors.
LIT_MODEL = {
    **{f"^image_encoder\\.{pattern}": f"vision_model.{target}" for pattern, target in _TOWER.items()},
    r"^image_encoder\.head\.cls_token": "vision_model.head.cls_token",
    r"^image_encoder\.head\.k\.": "vision_model.head.k_proj.",
    r"^image_encoder\.head\.v\.": "vision_model.head.v_proj.",
    r"^image_encoder\.head\.linear": "vision_model.head.output_proj",
    r"^image_projector": "visual_projection",
    r"^text_encoder\.preprocessor\.text_embedding\.weight": "text_model.embeddings.token_embedding.weight",
    r"^text_encoder\.preprocessor\.positional_embedding": "text_model.embeddings.position_embedding.weight",
    **{f"^text_encoder\\.{pattern}": f"text_model.{target}" for pattern, target in _TOWER.items()
       if pattern.startswith("trunk")},
    r"^text_projector": "text_projection",
    r"^log_logit_scale": "logit_scale",
}

# Keys that only Apple's layout has: their presence decides how a checkpoint is read.
_APPLE_MARKERS = ("trunk.blocks.", "preprocessor.patchifier", "image_encoder.trunk.")


def is_apple_layout(keys) -> bool:
    return any(marker in key for key in keys for marker in _APPLE_MARKERS)


def to_native(state: dict[str, torch.Tensor], table: dict[str, str]) -> dict[str, torch.Tensor]:
    """Apple's tensors under the names (and shapes) of the native classes."""
    native = {}
    for key, tensor in state.items():
        name = key
        for pattern, target in table.items():
            name = re.sub(pattern, target, name)
        if ".qkv." in name:
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), torch.chunk(tensor, 3, dim=0)):
                native[name.replace("qkv", part)] = chunk
        elif name.endswith("position_embedding.weight"):
            native[name] = tensor.reshape(tensor.shape[-2], tensor.shape[-1])
        else:
            native[name] = tensor
    return native
