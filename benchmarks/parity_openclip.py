"""The OpenCLIP family for the parity harness: tiny checkpoints of the paper's real
architectures, in the Hub layout the published wrapper and mars-zoo read, and how each
side is asked for each model.

Tiny means open_clip's own config of the real model with small widths and two layers;
the model type, tokenizer, image size and preprocessing config stay the real ones. Two
registrations make the tiny versions loadable by the names the published code uses,
and are made identically in both processes (`register_tiny_architectures`):

- open_clip: the shrunk config of a *built-in* architecture the published scripts name
  (`ViT-L-14-quickgelu`, for DFN2B and MarScope) is registered under that name with
  `open_clip.add_model_config`, open_clip's API for adding model configs;
- timm: the SigLIP, SigLIP 2 and PE vision towers are timm models; a tiny one is timm's
  real entrypoint called with small widths, registered under a new name
  (`parity_tiny_<real name>`) that the tiny Hub configs name.

Neither changes how a checkpoint is loaded or preprocessed, only which sizes are built.
This module imports only the standard library at import time: the published-side driver
imports it inside the published environment, where mars_zoo is not used.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

FAMILY = "openclip"
SEED = 0
TINY_TIMM_PREFIX = "parity_tiny_"

# Real timm vision towers and the widths of their tiny versions.
TINY_TIMM = {
    "vit_large_patch16_siglip_384": {"embed_dim": 64, "depth": 2, "num_heads": 2},
    "vit_large_patch16_siglip_512": {"embed_dim": 64, "depth": 2, "num_heads": 2},
    "vit_pe_core_large_patch14_336": {"embed_dim": 64, "depth": 2, "num_heads": 2, "attn_pool_num_heads": 2},
}

_TINY_TEXT = {"width": 32, "heads": 2, "layers": 2}
# Built-in open_clip config -> its shrink (a deep update of the real config).
_SHRINK = {
    "ViT-L-14-quickgelu": {
        "embed_dim": 32,
        "vision_cfg": {"layers": 2, "width": 64, "head_width": 32},
        "text_cfg": _TINY_TEXT,
    },
    "ViT-L-16-SigLIP-384": {
        "embed_dim": 64,
        "vision_cfg": {"timm_model_name": TINY_TIMM_PREFIX + "vit_large_patch16_siglip_384"},
        "text_cfg": {**_TINY_TEXT, "vocab_size": 512},
    },
    "ViT-L-16-SigLIP2-512": {
        "embed_dim": 64,
        "vision_cfg": {"timm_model_name": TINY_TIMM_PREFIX + "vit_large_patch16_siglip_512"},
        "text_cfg": {**_TINY_TEXT, "vocab_size": 512},
    },
    "PE-Core-L-14-336": {
        "embed_dim": 32,
        "vision_cfg": {"timm_model_name": TINY_TIMM_PREFIX + "vit_pe_core_large_patch14_336"},
        "text_cfg": _TINY_TEXT,
    },
}

# Built-in configs the published code names directly (not through an hf-hub: config):
# their tiny versions are registered under the real name on both sides.
BUILTIN_OVERRIDES = ("ViT-L-14-quickgelu",)

def _model(model_config: str, architecture: str, pretrained: str, tag: str, **extra) -> dict:
    """How a published script runs a model (its main.py flags, with the encoder types every
    OpenCLIP script passes) and what its tiny checkpoint is built from."""
    flags = {"image_encoder_type": "openclip", "text_encoder_type": "openclip", "model_config": model_config,
             "model_name": architecture, "pretrained": pretrained, **extra.pop("flags", {})}
    return {"published": flags, "architecture": architecture, "tag": tag, **extra}


def _timm_hub(architecture: str, tag: str, **extra) -> dict:
    return _model("OpenCLIP", architecture, f"hf-hub:timm/{architecture}", tag, **extra)


# mars-zoo model -> how the published scripts run it (scripts/*/openclip.sh, marscope.sh)
# and which tiny Hub repositories it reads.
MODELS = {
    "openclip/dfn2b-clip-vit-l-14": _model("OpenCLIP", "ViT-L-14-quickgelu", "dfn2b", "dfn2b"),
    "openclip/vit-l-16-siglip-384": _timm_hub("ViT-L-16-SigLIP-384", "webli", tokenizer="t5"),
    "openclip/vit-l-16-siglip2-512": _timm_hub("ViT-L-16-SigLIP2-512", "webli", tokenizer="gemma"),
    "openclip/pe-core-l-14-336": _timm_hub("PE-Core-L-14-336", "meta"),
    # CLIPMarScope: DFN2B's config forced to 512 px and QuickGELU, the fine-tuned checkpoint
    # loaded on top, non-strict (the checkpoint file is --resume_post_train).
    "openclip/marscope-v1": _model("CLIPMarScope", "ViT-L-14-quickgelu", "dfn2b", "dfn2b", image_size=512,
                                   flags={"resume_post_train": "{work}/marscope/ckpt.pt"}),
}


def _deep_update(base: dict, update: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in update.items():
        merged[key] = _deep_update(merged.get(key, {}), value) if isinstance(value, dict) else value
    return merged


def tiny_config(architecture: str, image_size: int | None = None) -> dict:
    """open_clip's config of `architecture`, shrunk (and forced to `image_size`, with
    QuickGELU, as the published MarScope recipe forces them)."""
    import open_clip

    config = _deep_update(open_clip.get_model_config(architecture), _SHRINK[architecture])
    if image_size is not None:
        config["vision_cfg"]["image_size"] = image_size
        config["quick_gelu"] = True
    return config


def register_tiny_architectures(work: Path) -> None:
    """Make the tiny architectures buildable in this process (see the module docstring)."""
    import open_clip
    from timm.models import register_model
    from timm.models._registry import model_entrypoint

    for real, widths in TINY_TIMM.items():
        def entrypoint(pretrained=False, _real=real, _widths=widths, **kwargs):
            return model_entrypoint(_real)(pretrained=False, **{**_widths, **kwargs})

        entrypoint.__name__ = TINY_TIMM_PREFIX + real
        entrypoint.__module__ = __name__
        register_model(entrypoint)
    open_clip.add_model_config(work / "open_clip_configs")


def _preprocess_cfg(architecture: str, tag: str, image_size: int) -> dict:
    """The preprocessing config open_clip keeps for `architecture`@`tag`, in the form its
    Hub export writes into open_clip_config.json."""
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(architecture, tag)
    return {"size": image_size, "mean": list(cfg["mean"]), "std": list(cfg["std"]),
            "interpolation": cfg["interpolation"], "resize_mode": cfg["resize_mode"]}


def _tiny_state(model_ref: str) -> dict:
    """Seeded weights of the model open_clip builds for `model_ref`."""
    import open_clip
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = open_clip.create_model(model_ref, pretrained=None, load_weights=False, pretrained_text=False) \
            if model_ref.startswith("local-dir:") else open_clip.create_model(model_ref, pretrained=None)
        with torch.no_grad():  # no parameter left at a constant (norms at 1, biases at 0)
            for parameter in model.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.02)
    return {key: value.contiguous() for key, value in model.state_dict().items()}


def _save_weights(folder: Path, state: dict) -> None:
    import torch
    from safetensors.torch import save_file

    save_file(state, str(folder / "open_clip_model.safetensors"))
    torch.save(state, folder / "open_clip_pytorch_model.bin")


def _t5_tokenizer_files(folder: Path) -> None:
    """A tiny SentencePiece-style (Unigram, Metaspace) tokenizer with T5's special tokens
    and its end-of-sequence post-processor, as timm/ViT-B-16-SigLIP's T5Tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    from mars_zoo.models.tiny import CORPUS

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    special = ["<pad>", "</s>", "<unk>"]
    tokenizer.train_from_iterator(CORPUS, trainers.UnigramTrainer(
        vocab_size=400, special_tokens=special, unk_token="<unk>", show_progress=False))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", tokenizer.token_to_id("</s>"))])
    tokenizer.save(str(folder / "tokenizer.json"))
    _tokenizer_config(folder, {"tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "pad_token": "</s>",
                               "unk_token": "<unk>", "extra_ids": 0, "additional_special_tokens": [],
                               "model_max_length": 64})


def _gemma_tokenizer_files(folder: Path) -> None:
    """A tiny Gemma-style (byte-fallback BPE over '▁'-joined words) tokenizer with
    Gemma's special tokens, as timm/ViT-L-16-SigLIP2-512's GemmaTokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, processors, trainers

    from mars_zoo.models.tiny import CORPUS

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    special = ["<pad>", "<eos>", "<bos>", "<unk>"]
    bytes_ = [f"<0x{b:02X}>" for b in range(256)]
    tokenizer.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=500, special_tokens=special + bytes_, show_progress=False))
    # the post-processor agrees with add_bos_token below, as in Gemma's own files:
    # transformers 4.57 rebuilds it from the flags, 5.x keeps the file's
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", tokenizer.token_to_id("<bos>"))])
    tokenizer.save(str(folder / "tokenizer.json"))
    _tokenizer_config(folder, {"tokenizer_class": "GemmaTokenizer", "bos_token": "<bos>", "eos_token": "<eos>",
                               "pad_token": "<pad>", "unk_token": "<unk>", "add_bos_token": True,
                               "add_eos_token": False, "model_max_length": 64})


def _tokenizer_config(folder: Path, config: dict) -> None:
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    special = {key: config[key] for key in ("bos_token", "eos_token", "pad_token", "unk_token") if key in config}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2))


_TOKENIZER_FILES = {"t5": _t5_tokenizer_files, "gemma": _gemma_tokenizer_files}


def remote_code_problems(models: list[str], root: Path | None) -> list[str]:
    """Nothing: no OpenCLIP checkpoint runs remote code."""
    return []


def build(work: Path, hub, models: list[str], published_env: dict) -> dict[str, dict]:
    """Write the tiny checkpoints `models` need into the Hub cache `hub` (a
    `parity_inputs.HubCache`); return, per model, the job entry both drivers read.
    `published_env` is unused: no OpenCLIP checkpoint runs remote code."""
    configs = work / "open_clip_configs"
    configs.mkdir(parents=True, exist_ok=True)
    for architecture in BUILTIN_OVERRIDES:
        (configs / f"{architecture}.json").write_text(json.dumps(tiny_config(architecture)))
    register_tiny_architectures(work)
    jobs = {}
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # open_clip warns that the models it builds have random weights
    try:
        for name in models:
            model = MODELS[name]
            builder = _marscope if name == "openclip/marscope-v1" else (
                _builtin_tag if model["published"]["pretrained"] == model["tag"] else _hf_hub)
            revision = builder(work, hub, model)
            published = {key: value.format(work=work) for key, value in model["published"].items()}
            jobs[name] = {"family": FAMILY, "published": published, "revision": revision,
                          "embedding_dim": tiny_config(model["architecture"])["embed_dim"]}
    finally:
        logging.disable(previous)
    return jobs


def _builtin_tag(work: Path, hub, model: dict) -> str:
    """A pretrained tag's weights (DFN2B): open_clip_pytorch_model.bin (and the
    safetensors twin) in the tag's Hub repository."""
    from open_clip.pretrained import get_pretrained_cfg

    repo = get_pretrained_cfg(model["architecture"], model["tag"])["hf_hub"].rstrip("/")
    state = _tiny_state(model["architecture"])
    return hub.write(repo, lambda folder: _save_weights(folder, state))


def _hf_hub(work: Path, hub, model: dict) -> str:
    """An hf-hub: checkpoint: open_clip_config.json (model and preprocessing config, as
    open_clip's Hub export writes it), weights, and the tokenizer repository its text
    config names (the same repository for SigLIP 2, another for SigLIP)."""
    architecture, tag = model["architecture"], model["tag"]
    repo = model["published"]["pretrained"].removeprefix("hf-hub:")
    config = tiny_config(architecture)
    size = config["vision_cfg"]["image_size"]
    open_clip_config = {"model_cfg": config, "preprocess_cfg": _preprocess_cfg(architecture, tag, size)}
    tokenizer_repo = config["text_cfg"].get("hf_tokenizer_name")

    def fill(folder: Path) -> None:
        (folder / "open_clip_config.json").write_text(json.dumps(open_clip_config, indent=2))
        _save_weights(folder, _tiny_state(f"local-dir:{folder}"))
        if tokenizer_repo == repo:
            _TOKENIZER_FILES[model["tokenizer"]](folder)

    revision = hub.write(repo, fill)
    if tokenizer_repo and tokenizer_repo != repo:
        hub.write(tokenizer_repo, _TOKENIZER_FILES[model["tokenizer"]])
    return revision


def _marscope(work: Path, hub, model: dict) -> str:
    """MarScope both ways from one set of tiny 512 px weights: for the published recipe,
    DFN2B's tag weights plus a training checkpoint file (open_clip_train's format:
    'state_dict' with DistributedDataParallel's 'module.' prefix); for mars-zoo, the
    Hub repository claytonwang/MarsScope-v1 with the open_clip_config.json that
    open_clip's export writes for that model."""
    import torch

    _builtin_tag(work, hub, model)
    size = model["image_size"]
    config = tiny_config(model["architecture"], image_size=size)
    open_clip_config = {"model_cfg": config,
                        "preprocess_cfg": _preprocess_cfg(model["architecture"], model["tag"], size)}
    holder = {}

    def fill(folder: Path) -> None:
        (folder / "open_clip_config.json").write_text(json.dumps(open_clip_config, indent=2))
        holder["state"] = _tiny_state(f"local-dir:{folder}")
        _save_weights(folder, holder["state"])

    revision = hub.write("claytonwang/MarsScope-v1", fill)
    checkpoint = work / "marscope" / "ckpt.pt"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 1, "name": "parity", "state_dict": {f"module.{k}": v for k, v in holder["state"].items()}},
               checkpoint)
    return revision
