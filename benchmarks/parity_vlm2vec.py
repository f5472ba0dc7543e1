"""VLM2Vec's loader for the parity harness: VLM2Vec-V2.0 and B3++, which the published
wrappers (`models/vlm2vec.py`, `models/*/vlm2vec_*_encoder.py`) run through VLM2Vec's own
code (`third_party/vlm2vec`, a clone of github.com/TIGER-AI-Lab/VLM2Vec that the published
repository does not hold): `MMEBModel.load`, VLM2Vec's copy of the Qwen2-VL classes, its
image processor and `Qwen2_VL_process_fn`. `--remote-code DIR` gives the clone, at
`DIR/TIGER-AI-Lab/VLM2Vec` (`git clone https://github.com/TIGER-AI-Lab/VLM2Vec
DIR/TIGER-AI-Lab/VLM2Vec`); the published side imports its `src` package from there.

Tiny repositories in the Hub's layout, built by the published environment's libraries:

- `Qwen/Qwen2-VL-2B-Instruct`, the base both adapters name: a Qwen2-VL at tiny width (two
  decoder layers of 32, one vision block, the real 14 px patches and 2x2 merge), its
  config.json in the flat layout of the Hub's file, weights in bf16 as the Hub's are, tensors
  named as transformers 4 names them; the Qwen-VL family's Qwen2 tokenizer
  (`parity_qwen_vl.qwen2_tokenizer`), the Qwen2-VL image processor.
- `VLM2Vec/VLM2Vec-V2.0` and `raghavlite/B3_Qwen2_2B`: adapter repositories as VLM2Vec's
  training saves them: adapter_config.json naming the base, a seeded non-zero adapter (DoRA
  for VLM2Vec, its magnitudes off the weight norms; LoRA for B3++) over VLM2Vec's target
  modules, tensors named as VLM2Vec's Qwen2-VL class names its modules (`model.layers.N`), the
  config, tokenizer and processor files. The tokenizers differ in padding side (VLM2Vec's left,
  B3's right: the real files' sides are not known here, and both are compared), and B3's
  repository also holds full weights of another model (`model.safetensors`: the base with every
  weight moved by 0.05), the "LoRA baked" layout its script's comment suggests, which a loader
  must not read in place of the base.

The published side runs `MMEBModel.load` literally, so what it does with the adapter (how often,
onto which weights) is what the embeddings show; each published model also reports the LoRA
layers it ended with (`model_facts`: LoRA layers, adapters per layer, nested LoRA
layers) and which VLM2Vec code ran (a hash of its `src/`). What the published code needs but
cannot have here is replaced on the published side only (`published_context`): flash-attn (imported unconditionally by VLM2Vec's
InternVideo2 module, and asked for by `MMEBModel.load`) is CUDA-only, so a stub package satisfies
the imports and every "flash_attention_2" request runs as SDPA, the attention transformers 5
gives mars-zoo (a different attention kernel changes rounding only); and the three helpers
VLM2Vec's InternVideo2 module imports from where transformers 4.57 no longer has them
(`MOVED_HELPERS`) are put back there.

This module imports only the standard library at import time: the published-side driver
imports it inside the published environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

FAMILY = "vlm2vec"
BASE_REPO = "Qwen/Qwen2-VL-2B-Instruct"
VLM2VEC = "TIGER-AI-Lab/VLM2Vec"  # where --remote-code holds the clone of github.com/<this>
# VLM2Vec's ModelArguments.lora_target_modules default.
TARGET_MODULES = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj", "k_proj", "q_proj", "out_proj", "v_proj",
                  "gate_proj", "up_proj"]
TEXT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "rope_scaling": {"type": "mrope", "mrope_section": [2, 1, 1]}}
VISION = {"depth": 1, "embed_dim": 32, "hidden_size": 32, "num_heads": 2, "mlp_ratio": 2, "in_chans": 3,
          "patch_size": 14, "spatial_patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}


def _model(model_config: str, repo: str, pretrained: str, adapter: dict) -> dict:
    """How the published scripts run a model (scripts/paired_image_text_retrieval/*.sh: main.py's
    flags) and how its tiny adapter repository is built."""
    flags = {"model_config": model_config, "model_name": repo, "pretrained": pretrained,
             "image_encoder_type": "vlm2vec", "text_encoder_type": "vlm2vec"}
    return {"published": flags, "repo": repo, "adapter": adapter, "embedding_dim": TEXT["hidden_size"]}


MODELS = {
    "vlm2vec/vlm2vec-v2.0": _model("VLM2Vec", "VLM2Vec/VLM2Vec-V2.0", "vlm2vec",
                                   {"kind": "dora", "seed": 1, "padding_side": "left", "weights_beside": False}),
    "b3/b3-qwen2-2b": _model("B3Qwen2", "raghavlite/B3_Qwen2_2B", "b3-qwen2",
                             {"kind": "lora", "seed": 2, "padding_side": "right", "weights_beside": True}),
}


def register_tiny_architectures(work: Path) -> None:
    """Nothing to register: the tiny checkpoints are Qwen2-VL, which both sides' classes load."""


def remote_code_problems(models: list[str], root: Path | None) -> list[str]:
    """What `--remote-code` (`root`) lacks for `models`: the clone of VLM2Vec."""
    if not models or (root is not None and (root / VLM2VEC / "src" / "model" / "model.py").is_file()):
        return []
    where = f"{root / VLM2VEC}" if root is not None else f"DIR/{VLM2VEC}"
    return [f"{', '.join(models)}: the published wrappers import VLM2Vec's src/ (the published code's "
            f"third_party/vlm2vec), which {where} does not hold (git clone https://github.com/{VLM2VEC} {where})"]


FLASH_ATTN_STUB = {
    "__init__.py": '"""A stand-in for flash-attn (CUDA-only): its names import, calling one fails."""\n',
    "flash_attn_interface.py": "from flash_attn import _unavailable as flash_attn_varlen_qkvpacked_func\n"
                               "from flash_attn import _unavailable as flash_attn_varlen_func\n"
                               "from flash_attn import _unavailable as flash_attn_func\n",
    "bert_padding.py": "from flash_attn import _unavailable as index_first_axis, _unavailable as pad_input\n"
                       "from flash_attn import _unavailable as unpad_input\n",
}
STUB_CALL = "def _unavailable(*args, **kwargs):\n    raise RuntimeError('flash-attn is not installed: a stub')\n"


def _write_flash_attn_stub(folder: Path) -> None:
    package = folder / "flash_attn"
    package.mkdir(parents=True, exist_ok=True)
    for name, text in FLASH_ATTN_STUB.items():
        (package / name).write_text(text + (STUB_CALL if name == "__init__.py" else ""))


# transformers 4.52 (VLM2Vec's own pin) re-exported these helpers of `pytorch_utils` from
# `modeling_utils`, where VLM2Vec's InternVideo2 module imports them; 4.57 (the published pin) does not.
MOVED_HELPERS = ("apply_chunking_to_forward", "find_pruneable_heads_and_indices", "prune_linear_layer")


@contextlib.contextmanager
def published_context(entry: dict):
    """The published side of `entry`: every "flash_attention_2" that a config is set to becomes
    "sdpa" (flash-attn needs CUDA; see the module docstring), and `MOVED_HELPERS` are importable
    from where VLM2Vec's code imports them (the InternVideo2 code that uses them never runs)."""
    from transformers import PretrainedConfig, modeling_utils, pytorch_utils

    for name in MOVED_HELPERS:
        if not hasattr(modeling_utils, name):
            setattr(modeling_utils, name, getattr(pytorch_utils, name))
    attention = PretrainedConfig._attn_implementation

    def setter(config, value):
        attention.fset(config, "sdpa" if value == "flash_attention_2" else value)

    PretrainedConfig._attn_implementation = property(attention.fget, setter)
    try:
        yield
    finally:
        PretrainedConfig._attn_implementation = attention


def _python_path(pythonpath: list) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in pythonpath)
    return env


def _in_published_env(pythonpath: list, *args: str) -> None:
    done = subprocess.run([sys.executable, __file__, *args], env=_python_path(pythonpath),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building the tiny {args[0]} failed:\n{done.stderr[-3000:]}")


def build(work: Path, hub, models: list[str], published_env: dict) -> dict[str, dict]:
    """Write the tiny base and the adapter repositories `models` need into the Hub cache `hub`
    (a `parity_inputs.HubCache`), built by the published side's libraries; return, per model,
    the job entry both drivers read."""
    pythonpath = list(published_env["pythonpath"])
    stub = work / "published-stubs"
    _write_flash_attn_stub(stub)
    code = [str(published_env["remote_code"] / VLM2VEC), str(stub)]
    base_revision = hub.write(BASE_REPO, lambda folder: _in_published_env(pythonpath, "base", str(folder)))
    base = hub.root / f"models--{BASE_REPO.replace('/', '--')}" / "snapshots" / base_revision
    jobs = {}
    for name in models:
        model = MODELS[name]
        revision = hub.write(model["repo"], lambda folder, model=model: _in_published_env(
            pythonpath, "adapter", str(folder), str(base), json.dumps(model["adapter"])))
        jobs[name] = {"family": FAMILY, "published": dict(model["published"]), "revision": revision,
                      "embedding_dim": model["embedding_dim"], "spec": {"base_revision": base_revision},
                      "published_path": code}
    return jobs


# --- the published side's checks -------------------------------------------------------------

def _parts(encoder):
    """(model, processor) of a mars-zoo `MllmEncoder` or of a published VLM2Vec wrapper."""
    holder = getattr(encoder, "components", encoder)
    return holder.model, holder.processor


def inspect_images(encoder, images: list) -> tuple:
    """The flattened patches Qwen2-VL's patch embedding receives for each image embedded alone
    (one float32 array, images in order), and the processor."""
    import numpy as np

    model, processor = _parts(encoder)
    patch_embeddings = [module for name, module in model.named_modules() if name.endswith("patch_embed")]
    return np.concatenate([_patches(encoder, patch_embeddings, image) for image in images]), processor


def _patches(encoder, modules: list, image) -> "np.ndarray":
    """What the first of `modules` to run receives when `encoder` embeds `image` alone."""
    import torch

    seen: list = []
    handles = [module.register_forward_pre_hook(lambda _, args: seen.append(args[0])) for module in modules]
    try:
        with torch.no_grad():
            encoder.encode_image([image])
    finally:
        for handle in handles:
            handle.remove()
    return seen[0].detach().float().cpu().numpy().ravel()


def model_facts(encoder) -> dict:
    """What the loaded model holds of the adapter: the LoRA layers, how many adapters each
    carries, and LoRA layers inside LoRA layers (an adapter applied on top of another); on the
    published side, which VLM2Vec code ran (a hash over its `src/` Python files)."""
    import hashlib

    from peft.tuners.lora import LoraLayer

    model, _ = _parts(encoder)
    layers = {name: module for name, module in model.named_modules() if isinstance(module, LoraLayer)}
    nested = [name for name in layers if any(name.startswith(other + ".") for other in layers)]
    names = sorted({adapter for module in layers.values() for adapter in module.lora_A})
    counts = sorted({len(module.lora_A) for module in layers.values()})
    facts = {"lora_layers": len(layers), "adapters": names, "adapters_per_layer": counts, "nested": len(nested)}
    src = sys.modules.get("src")
    if src is not None and getattr(src, "__file__", None):
        digest = hashlib.sha1()
        root = Path(src.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
        facts["vlm2vec_src_sha1"] = digest.hexdigest()
    return facts


# --- building, in the published environment (python parity_vlm2vec.py base|adapter ...) -----------

def _tokenizer(padding_side: str):
    """The Qwen-VL family's tiny Qwen2 tokenizer (Qwen2's pre-tokeniser and normaliser, the Qwen
    special tokens, model_max_length 32768), padding on `padding_side`."""
    from parity_qwen_vl import qwen2_tokenizer

    tokenizer = qwen2_tokenizer()
    tokenizer.padding_side = padding_side
    return tokenizer


def _flat_config(tokenizer) -> dict:
    """config.json in the Hub file's flat layout (text fields at the top, vision_config)."""
    token = tokenizer.convert_tokens_to_ids
    return {
        "architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl", **TEXT,
        "vocab_size": len(tokenizer), "hidden_act": "silu", "max_position_embeddings": 32768,
        "max_window_layers": 2, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "sliding_window": 32768,
        "use_sliding_window": False, "tie_word_embeddings": True, "attention_dropout": 0.0,
        "initializer_range": 0.02, "use_cache": True, "torch_dtype": "bfloat16",
        "bos_token_id": token("<|endoftext|>"), "eos_token_id": token("<|im_end|>"),
        "vision_start_token_id": token("<|vision_start|>"), "vision_end_token_id": token("<|vision_end|>"),
        "image_token_id": token("<|image_pad|>"),
        "video_token_id": token("<|video_pad|>"), "vision_config": dict(VISION),
    }


def _processor_files(folder: Path, padding_side: str) -> dict:
    """The tokenizer, image and video processor files into `folder`; returns config.json's content."""
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    tokenizer = _tokenizer(padding_side)
    Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(), tokenizer=tokenizer,
                     video_processor=Qwen2VLVideoProcessor()).save_pretrained(folder)
    return _flat_config(tokenizer)


def _build_base(folder: Path) -> None:
    import torch
    from transformers import AutoConfig, Qwen2VLForConditionalGeneration

    config = _processor_files(folder, "right")
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Qwen2VLForConditionalGeneration(AutoConfig.from_pretrained(folder))
    model.to(torch.bfloat16).save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(config, indent=2))  # the flat layout, not 4.57's


# VLM2Vec's Qwen2-VL class keeps transformers 4.45's module tree (`model.layers`, `visual`),
# so its adapters name their tensors so; transformers 4.57's class nests them differently.
ADAPTER_KEYS = (("base_model.model.model.language_model.", "base_model.model.model."),
                ("base_model.model.model.visual.", "base_model.model.visual."))


def _build_adapter(folder: Path, base: Path, options: str) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file, save_file
    from transformers import Qwen2VLForConditionalGeneration

    adapter = json.loads(options)
    config = _processor_files(folder, adapter["padding_side"])
    model = Qwen2VLForConditionalGeneration.from_pretrained(base, dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(adapter["seed"])
        lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules=TARGET_MODULES,
                          use_dora=adapter["kind"] == "dora", init_lora_weights=False)
        peft_model = get_peft_model(model, lora)
        with torch.no_grad():
            for name, parameter in peft_model.named_parameters():
                if "lora_magnitude_vector" in name:
                    parameter.mul_(1 + 0.5 * torch.rand_like(parameter))
    peft_model.save_pretrained(folder)
    tensors = load_file(folder / "adapter_model.safetensors")
    renamed = {}
    for key, value in tensors.items():
        for old, new in ADAPTER_KEYS:
            key = key.replace(old, new)
        renamed[key] = value.contiguous()
    save_file(renamed, folder / "adapter_model.safetensors", metadata={"format": "pt"})
    adapter_config = json.loads((folder / "adapter_config.json").read_text())
    adapter_config["base_model_name_or_path"] = BASE_REPO
    (folder / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    if adapter["weights_beside"]:
        other = load_file(base / "model.safetensors")
        save_file({key: value + 0.05 for key, value in other.items()}, folder / "model.safetensors",
                  metadata={"format": "pt"})


if __name__ == "__main__" and sys.argv[1:2] == ["base"]:
    _build_base(Path(sys.argv[2]))
elif __name__ == "__main__" and sys.argv[1:2] == ["adapter"]:
    _build_adapter(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
