"""Dual and vision-only encoders on native transformers classes: BGE-VL-large,
AIMv2 (LiT and 448 px vision-only) and DINOv3, each with a seeded tiny model.

Written exactly as a third-party plugin would be: a `register_models` hook over
one small recipe module per model family; `common.py` holds what they share and is
imported only when a model is loaded, so registering imports no torch.
"""

from __future__ import annotations

import mars_zoo
from mars_zoo_hf_encoders import aimv2, bge_vl, dinov3

RECIPES = (bge_vl, aimv2, dinov3)


@mars_zoo.hookimpl
def register_models(register):
    for recipe in RECIPES:
        for spec in recipe.MODELS:
            register(spec)
