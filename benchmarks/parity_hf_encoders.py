"""The transformers dual and vision-only encoders (plugins/hf_encoders: BGE-VL-large, AIMv2
LiT and 448 px, DINOv3) for the parity harness: tiny checkpoints of the real architectures in
the layout of their Hub repositories, and how each side is asked for each model.

Each repository is written at the commit the published code asks for (its scripts pin the
AIMv2 revisions; BGE-VL and DINOv3 are read at `main`, which is made the commit mars-zoo
pins), with what those repositories hold:

- BGE-VL-large: a CLIPModel config whose `auto_map` names the repository's remote code
  (`trust_remote_code=True` in the published wrapper), fp16 weights (the Hub file is fp16),
  the CLIP tokenizer and image processor files.
- AIMv2: Apple's config and weight layout (fused qkv, `trunk.blocks.N` ...), built by
  Apple's remote code itself, which the published wrapper runs; the LiT repository adds
  the CLIP tokenizer.
- DINOv3: the native DINOv3ViT config and weights, and the image processor config naming
  `DINOv3ViTImageProcessorFast`, as the repository (written by transformers 4.56) does.

The remote code is not part of this repository and cannot be made up here: `--remote-code
DIR` gives it, one folder per Hub repository (`DIR/<org>/<name>/`) holding the Python files
and the `config.json` of the real repository at the published revision (`hf download REPO
--revision REV --include '*.py' config.json --local-dir DIR/REPO`); only `auto_map` is read
from that config. Without it the harness stops before building anything (exit 2) and
says which repositories to download.

Every model's weights are built in the published environment (`_weights`), so their tensors
are named as in the Hub files. Tiny means two layers of width 32 with the real image and
patch sizes, so the processors run at the sizes the real checkpoints use. This module imports only the standard library at
import time: the published-side driver imports it inside the published environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

FAMILY = "hf_encoders"
SEED = 0
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TOWER = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
PROJECTION = 24
START, END = "<|startoftext|>", "<|endoftext|>"


def _model(model_config: str, repo: str, image_encoder: str, text_encoder: str, pretrained: str,
           builder: str, remote_code: bool) -> dict:
    """How the published scripts run a model (scripts/*/<model>.sh: main.py's flags) and
    which tiny repository it reads."""
    flags = {"model_config": model_config, "model_name": repo, "pretrained": pretrained,
             "image_encoder_type": image_encoder, "text_encoder_type": text_encoder}
    return {"published": flags, "repo": repo, "builder": builder, "remote_code": remote_code}


MODELS = {
    "bge-vl/bge-vl-large": _model("BGEVL", "BAAI/BGE-VL-large", "bge-vl", "bge-vl", "bge-vl", "bge_vl", True),
    "aimv2/aimv2-large-patch14-224-lit": _model(
        "AimV2VL", "apple/aimv2-large-patch14-224-lit", "aimv2_vl", "aimv2_vl",
        "c2cd59a786c4c06f39d199c50d08cc2eab9f8605", "aimv2_lit", True),
    "aimv2/aimv2-large-patch14-448": _model(
        "AimV2Vis", "apple/aimv2-large-patch14-448", "aimv2_vis", "none",
        "cefb13f21003bdadba65bfbee956c82b976cd23d", "aimv2_vision", True),
    "dinov3/dinov3-vitl16-pretrain-lvd1689m": _model(
        "DinoV3", "facebook/dinov3-vitl16-pretrain-lvd1689m", "dinov3", "none", "hf", "dinov3", False),
}


def register_tiny_architectures(work: Path) -> None:
    """Nothing to register: every tiny model here is read from its Hub repository."""


def remote_code_problems(models: list[str], root: Path | None) -> list[str]:
    """What `--remote-code` (`root`) lacks for `models`, one sentence per Hub repository
    with the command that downloads it."""
    problems = []
    for repo, revision in dict.fromkeys((MODELS[name]["repo"], _published_revision(MODELS[name]))
                                        for name in models if MODELS[name]["remote_code"]):
        if _remote_code(root, repo) is None:
            problems.append(f"{repo}: no {'folder ' + str(root / repo) if root else '--remote-code'} with its *.py "
                            f"files and a config.json with auto_map (hf download {repo} --revision {revision} "
                            f"--include '*.py' config.json --local-dir DIR/{repo})")
    return problems


def _published_revision(model: dict) -> str:
    """The revision the published scripts load: the pinned commit they pass as
    --pretrained for AIMv2, `main` for the others."""
    pinned = model["published"]["pretrained"]
    return pinned if len(pinned) == 40 else "main"


def build(work: Path, hub, models: list[str], published_env: dict) -> dict[str, dict]:
    """Write the tiny repositories `models` need into the Hub cache `hub` (a
    `parity_inputs.HubCache`); return, per model, the job entry both drivers read.
    `published_env`: "remote_code", the folder of `--remote-code` (checked beforehand with
    `remote_code_problems`), and "pythonpath", the published environment, where the
    weights are built (see `_weights`). A model whose build fails gets an entry with
    `error`, which its row shows."""
    from mars_zoo.models.registry import load_registry

    registry = load_registry()
    jobs = {}
    for name in models:
        model = MODELS[name]
        commit = registry.get(name).revision  # the commit mars-zoo pins, made the repository's main
        job = {"family": FAMILY, "published": dict(model["published"]), "revision": commit}
        code = _remote_code(published_env["remote_code"], model["repo"]) if model["remote_code"] else None
        try:
            job["embedding_dim"] = _BUILDERS[model["builder"]](hub, model["repo"], commit, code,
                                                               published_env["pythonpath"])
        except (ValueError, OSError, RuntimeError) as exc:
            job["error"] = f"the tiny checkpoint could not be built: {exc}"
        jobs[name] = job
    return jobs


def _remote_code(root: Path | None, repo: str) -> dict | None:
    """{"files": the repository's Python files, "auto_map": its config's auto_map}, or None."""
    folder = root / repo if root else None
    if folder is None or not (folder / "config.json").is_file():
        return None
    files = sorted(folder.glob("*.py"))
    auto_map = json.loads((folder / "config.json").read_text()).get("auto_map")
    return {"files": files, "auto_map": auto_map} if files and auto_map else None


def _with_remote_code(folder: Path, config: dict, code: dict) -> None:
    """config.json with the real auto_map, and the remote code beside it."""
    for path in code["files"]:
        shutil.copyfile(path, folder / path.name)
    (folder / "config.json").write_text(json.dumps({**config, "auto_map": code["auto_map"]}, indent=2))


def _perturbed(model):
    """Seeded weights with no parameter left at a constant (norms at 1, biases at 0)."""
    import torch

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(SEED)
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.02)
    return model


def _save_weights(folder: Path, model, dtype: str) -> None:
    import torch
    from safetensors.torch import save_file

    cast = getattr(torch, dtype)
    state = {key: value.to(cast).contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})


def _model_from_config(folder: Path):
    """The model transformers builds from the config in `folder` (the remote code's own
    class where the config's auto_map names one), seeded and perturbed."""
    import torch
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(str(folder), trust_remote_code=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return _perturbed(AutoModel.from_config(config, trust_remote_code=True))


def _weights(folder: Path, pythonpath: list, dtype: str = "float32") -> None:
    """model.safetensors of `_model_from_config(folder)` in `dtype`, built in the published
    environment (this file run as a script there), so that the tensors are named as the
    transformers the Hub files were written with names them (transformers 5 renames some,
    e.g. DINOv3's `layer.N` to `model.layer.N`) and remote code written for transformers 4
    runs (it does not import on transformers 5)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in pythonpath)
    done = subprocess.run([sys.executable, __file__, "weights", str(folder), dtype], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise RuntimeError(f"building the model from {folder / 'config.json'} failed: {last}")


def _clip_tokenizer_files(folder: Path) -> None:
    """A tiny tokenizer in the format of OpenAI CLIP's tokenizer.json (NFC, whitespace
    collapsed, lower case; CLIP's split pattern then byte level; BPE with '</w>' word ends;
    start and end tokens last in the vocabulary, wrapped around every text), with the
    vocab.json and merges.txt of the slow tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    from mars_zoo.models.tiny import CORPUS

    tokenizer = Tokenizer(models.BPE(unk_token=END, end_of_word_suffix="</w>"))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]"
                                   r"|[^\s\p{L}\p{N}]+"), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=400, end_of_word_suffix="</w>", initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    trained = json.loads(tokenizer.to_str())["model"]
    vocab = {**trained["vocab"], START: len(trained["vocab"]), END: len(trained["vocab"]) + 1}
    merges = [tuple(merge.split(" ")) if isinstance(merge, str) else tuple(merge) for merge in trained["merges"]]
    tokenizer.model = models.BPE(vocab, merges, unk_token=END, end_of_word_suffix="</w>")
    tokenizer.add_special_tokens([START, END])
    tokenizer.post_processor = processors.RobertaProcessing(
        (END, tokenizer.token_to_id(END)), (START, tokenizer.token_to_id(START)), trim_offsets=False,
        add_prefix_space=False)
    tokenizer.save(str(folder / "tokenizer.json"))
    tokenizer.model.save(str(folder))
    specials = {"bos_token": START, "eos_token": END, "pad_token": END, "unk_token": END}
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {**specials, "tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True,
         "errors": "replace", "add_prefix_space": False, "processor_class": "CLIPProcessor"}, indent=2))


def _clip_image_processor_file(folder: Path, size: int, processor_class: str | None) -> None:
    """preprocessor_config.json of a CLIP image processor at `size` (resize the shorter
    side bicubic, centre crop, OpenAI statistics), as CLIP-style repositories hold it."""
    config = {"crop_size": {"height": size, "width": size}, "do_center_crop": True, "do_convert_rgb": True,
              "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": list(OPENAI_MEAN),
              "image_processor_type": "CLIPImageProcessor", "image_std": list(OPENAI_STD), "resample": 3,
              "rescale_factor": 1 / 255, "size": {"shortest_edge": size}}
    if processor_class:
        config["processor_class"] = processor_class
    (folder / "preprocessor_config.json").write_text(json.dumps(config, indent=2))


def _vocab_size(folder: Path) -> int:
    return len(json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"])


def _bge_vl(hub, repo: str, commit: str, code: dict, pythonpath: list) -> int:
    """BGE-VL-large: CLIP ViT-L/14's config shape (224 px, patch 14, OpenAI CLIP's text
    special-token ids) at tiny width, fp16 weights, remote code, CLIP processor files."""
    from transformers import CLIPConfig

    def fill(folder: Path) -> None:
        _clip_tokenizer_files(folder)
        _clip_image_processor_file(folder, 224, "CLIPProcessor")
        text = {**TOWER, "vocab_size": _vocab_size(folder), "max_position_embeddings": 77, "hidden_act": "quick_gelu",
                "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}
        vision = {**TOWER, "image_size": 224, "patch_size": 14, "hidden_act": "quick_gelu"}
        config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=PROJECTION).to_dict()
        config.pop("dtype", None)
        _with_remote_code(folder, {**config, "architectures": ["CLIPModel"], "torch_dtype": "float16"}, code)
        _weights(folder, pythonpath, "float16")

    hub.write(repo, fill, commit=commit)
    return PROJECTION


def _aimv2_lit(hub, repo: str, commit: str, code: dict, pythonpath: list) -> int:
    """AIMv2 LiT in Apple's config and weight layout (text causal, end-of-text pooling,
    attention-pool image head), with the CLIP tokenizer and image processor files."""

    def fill(folder: Path) -> None:
        _clip_tokenizer_files(folder)
        _clip_image_processor_file(folder, 224, "CLIPProcessor")
        end = json.loads((folder / "tokenizer.json").read_text())
        end_id = next(token["id"] for token in end["added_tokens"] if token["content"] == END)
        config = {"architectures": ["AIMv2Model"], "model_type": "aimv2", "projection_dim": PROJECTION,
                  "init_temperature": 0.07, "max_logit_scale": 100.0, "torch_dtype": "float32",
                  "vision_config": {**TOWER, "image_size": 224, "patch_size": 14, "num_queries": 1,
                                    "num_channels": 3, "rms_norm_eps": 1e-5, "qkv_bias": False, "use_bias": False},
                  "text_config": {**TOWER, "vocab_size": _vocab_size(folder), "eos_token_id": end_id,
                                  "max_context_length": 77, "rms_norm_eps": 1e-5, "qkv_bias": False,
                                  "use_bias": False}}
        _with_remote_code(folder, config, code)
        _weights(folder, pythonpath)

    hub.write(repo, fill, commit=commit)
    return PROJECTION


def _aimv2_vision(hub, repo: str, commit: str, code: dict, pythonpath: list) -> int:
    """AIMv2 448 px, vision only, in Apple's config and weight layout (no pooling head)."""

    def fill(folder: Path) -> None:
        _clip_image_processor_file(folder, 448, None)
        config = {"architectures": ["AIMv2Model"], "model_type": "aimv2", "torch_dtype": "float32", **TOWER,
                  "image_size": 448, "patch_size": 14, "num_channels": 3, "rms_norm_eps": 1e-5,
                  "qkv_bias": False, "use_bias": False}
        _with_remote_code(folder, config, code)
        _weights(folder, pythonpath)

    hub.write(repo, fill, commit=commit)
    return TOWER["hidden_size"]


def _dinov3(hub, repo: str, commit: str, code: dict, pythonpath: list) -> int:
    """DINOv3 ViT-L/16's config shape (224 px, patch 16, four register tokens) at tiny
    width, and the image processor config the repository holds."""
    from transformers import DINOv3ViTConfig

    def fill(folder: Path) -> None:
        config = DINOv3ViTConfig(**TOWER, image_size=224, patch_size=16, num_register_tokens=4).to_dict()
        config.pop("dtype", None)
        stored = {**config, "architectures": ["DINOv3ViTModel"], "torch_dtype": "float32"}
        (folder / "config.json").write_text(json.dumps(stored, indent=2))
        _weights(folder, pythonpath)
        (folder / "preprocessor_config.json").write_text(json.dumps({
            "image_processor_type": "DINOv3ViTImageProcessorFast", "do_resize": True,
            "size": {"height": 224, "width": 224}, "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255,
            "do_normalize": True, "image_mean": list(IMAGENET_MEAN), "image_std": list(IMAGENET_STD)}, indent=2))

    hub.write(repo, fill, commit=commit)
    return TOWER["hidden_size"]


_BUILDERS = {"bge_vl": _bge_vl, "aimv2_lit": _aimv2_lit, "aimv2_vision": _aimv2_vision, "dinov3": _dinov3}


if __name__ == "__main__":  # python parity_hf_encoders.py weights FOLDER DTYPE (see _weights)
    _save_weights(Path(sys.argv[2]), _model_from_config(Path(sys.argv[2])), sys.argv[3])
