"""Shared helpers of the MLLM plugin tests: tiny encoders loaded once per session
through the plugins' real loaders, and test images of different sizes."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mars_zoo.models.registry import load_registry

# Texts the families' tests embed: a caption, and a longer one.
CAPTION = "a crater with a layered deposit"
LONGER = "dune field with ridges and a valley network near the polar cap"


@functools.lru_cache(maxsize=None)
def registry():
    return load_registry()


@functools.lru_cache(maxsize=None)
def tiny_encoder(name: str):
    """The tiny model `name`, loaded on the CPU exactly as `mars-zoo run` loads it."""
    return registry().get(name).load("cpu", "fp32")


def received(module, call):
    """What `call()` returns, and the tensor keyword arguments `module`'s forward
    received while it ran (one dict per forward): what the model really reads."""
    seen = []

    def hook(_, args, kwargs):
        seen.append({key: value for key, value in kwargs.items() if torch.is_tensor(value)})

    handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        return call(), seen
    finally:
        handle.remove()


def picture(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


TEXTS = [
    "a crater",
    "a satellite image of layered deposits on the floor of a large crater with dunes",
    "pitted cones",
]
IMAGES = [picture(64, 64, 0), picture(224, 160, 1), picture(96, 300, 2)]


def tiny_adapter_copy(name: str, into: Path, rename=lambda key: key) -> Path:
    """A copy, at `into`, of the adapter folder of tiny model `name`, each tensor's name
    passed through `rename`."""
    from safetensors.torch import load_file, save_file

    from mars_zoo.core.folders import default_cache_dir

    shutil.copytree(registry().get(name).loader.tiny.folder(default_cache_dir()), into)
    tensors = load_file(into / "adapter_model.safetensors")
    save_file({rename(key): value for key, value in tensors.items()}, into / "adapter_model.safetensors")
    return into
