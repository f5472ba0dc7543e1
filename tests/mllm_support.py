"""Shared helpers of the MLLM plugin tests: tiny encoders loaded once per session
through the plugins' real loaders, and test images of different sizes."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from mars_zoo.registry import load_registry


@functools.lru_cache(maxsize=None)
def registry():
    return load_registry()


@functools.lru_cache(maxsize=None)
def tiny_encoder(name: str):
    """The tiny model `name`, loaded on the CPU exactly as `mars-zoo run` loads it."""
    return registry().get(name).load("cpu", "fp32")


def picture(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


TEXTS = [
    "a crater",
    "a satellite image of layered deposits on the floor of a large crater with dunes",
    "pitted cones",
]
IMAGES = [picture(64, 64, 0), picture(224, 160, 1), picture(96, 300, 2)]
