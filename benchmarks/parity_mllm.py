"""The MLLM family for the parity harness: tiny checkpoints of the paper's real
architectures under the Hub names the published scripts load, and what each side's
image preprocessing made of every image.

Each tiny checkpoint is the mars-zoo plugin's own seeded tiny model (the builder its
`<family>/tiny-random` spec uses: the real transformers class at tiny width, a byte-level
BPE tokenizer with the family's special tokens, the family's processor and chat
template), built by the published environment's transformers (4.57.3 with `--env
pinned`, in a subprocess) so that its files are in the layout the real checkpoints were
saved in (the published checkout itself is left off that path), and written into the private Hub cache under the real repository name. Both
sides then load it by that name, each through its own loader.

The published MLLM wrappers run their processor inside `encode_image`, so the pixels are
read where the model receives them: a forward pre-hook on every module of the model
records the first `pixel_values` of each call, with each image embedded alone (the
same calls on both sides; the embeddings compared come from the published batching).

This module imports only the standard library at import time: the published-side
driver imports it inside the published environment.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

FAMILY = "mllm"


def _model(model_config: str, repo: str, pretrained: str, encoder: str, builder: str, params: dict,
           embedding_dim: int) -> dict:
    """How a published script runs a model (scripts/paired_image_text_retrieval/*.sh: its
    main.py flags) and how its tiny checkpoint is built (`module:function` of the mars-zoo
    plugin, with the parameters its tiny-random spec uses)."""
    flags = {"model_config": model_config, "model_name": repo, "pretrained": pretrained,
             "image_encoder_type": encoder, "text_encoder_type": encoder}
    return {"published": flags, "repo": repo, "builder": builder, "params": params, "embedding_dim": embedding_dim}


# mars-zoo model -> how the published scripts run it and which tiny checkpoint it reads.
MODELS = {
    # royokong/e5-v's tokenizer config is not known here; the tiny one pads on the right,
    # the side on which the published batching matters (see mars_zoo_mllm.e5v).
    "e5-v/e5-v": _model("E5V", "royokong/e5-v", "e5-v", "e5-v", "mars_zoo_mllm.e5v:build_tiny",
                        {"seed": 0, "padding_side": "right"}, 32),
}


def register_tiny_architectures(work: Path) -> None:
    """Nothing to register: the tiny checkpoints are native transformers classes."""


def remote_code_problems(models: list[str], root: Path | None) -> list[str]:
    """Nothing: the covered MLLM wrappers load native transformers classes only."""
    return []


def _python_path(pythonpath: list) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in pythonpath)
    return env


def build(work: Path, hub, models: list[str], published_env: dict) -> dict[str, dict]:
    """Write the tiny checkpoints `models` need into the Hub cache `hub` (a
    `parity_inputs.HubCache`), each built by the published side's libraries
    (`published_env["pythonpath"]`: the pinned side folder with `--env pinned`); return,
    per model, the job entry both drivers read."""
    pythonpath = list(published_env["pythonpath"])
    jobs = {}
    for name in models:
        model = MODELS[name]

        def fill(folder: Path, model=model) -> None:
            done = subprocess.run(
                [sys.executable, __file__, "build-tiny", model["builder"], json.dumps(model["params"]), str(folder)],
                env=_python_path(pythonpath), capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"building the tiny {model['repo']} failed:\n{done.stderr[-3000:]}")

        revision = hub.write(model["repo"], fill)
        jobs[name] = {"family": FAMILY, "published": dict(model["published"]), "revision": revision,
                      "embedding_dim": model["embedding_dim"]}
    return jobs


def _parts(encoder):
    """(model, processor) of a mars-zoo `MllmEncoder` or of a published wrapper: the first
    torch module and the first `processor` met going down from the encoder through
    `components` and `model` (the published wrappers keep their model in their components,
    some of them inside an embedder object of the model's own code, which holds the
    processor)."""
    import torch

    model = processor = None
    holders, seen = [encoder], set()
    while holders:
        holder = holders.pop(0)
        if holder is None or id(holder) in seen:
            continue
        seen.add(id(holder))
        processor = processor if processor is not None else getattr(holder, "processor", None)
        if model is None and isinstance(holder, torch.nn.Module):
            model = holder
        holders += [getattr(holder, name, None) for name in ("components", "model")]
    return model, processor


def inspect_images(encoder, images: list) -> tuple:
    """The pixel values `encoder`'s model receives for each image embedded alone (one
    flat float32 array, images in order), and the processor it uses: the first
    `pixel_values` keyword a module of the model is called with, or, where the code calls
    its modules' `forward` directly or passes the pixels by position (GME's remote code),
    what the vision tower's patch convolution (over three channels) receives, which holds
    the same values in the same order."""
    import numpy as np
    import torch

    model, processor = _parts(encoder)
    called: list = []
    convolved: list = []

    def hook(_, args, kwargs):
        if kwargs.get("pixel_values") is not None and not called:
            called.append(kwargs["pixel_values"].detach().float().cpu().numpy().ravel())

    def conv_hook(_, args):
        if not convolved:
            convolved.append(args[0].detach().float().cpu().numpy().ravel())

    handles = [module.register_forward_pre_hook(hook, with_kwargs=True) for module in model.modules()]
    handles += [module.register_forward_pre_hook(conv_hook) for module in model.modules()
                if isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d)) and module.in_channels == 3][:1]
    pixels = []
    try:
        with torch.no_grad():
            for image in images:
                called.clear()
                convolved.clear()
                encoder.encode_image([image])
                pixels.extend(called or convolved)
    finally:
        for handle in handles:
            handle.remove()
    return (np.concatenate(pixels) if len(pixels) == len(images) else None), processor


def _build_tiny(builder: str, params: str, folder: str) -> None:
    module, _, function = builder.partition(":")
    getattr(importlib.import_module(module), function)(Path(folder), **json.loads(params))


if __name__ == "__main__" and sys.argv[1:2] == ["build-tiny"]:
    _build_tiny(*sys.argv[2:5])
