"""The Qwen-VL embedders whose published wrappers run code of the model's own repository
(GME, Qwen3-VL-Embedding, Ops-MM-embedding-v1, jina-embeddings-v4; plugins/mllm) for the
parity harness: tiny checkpoints of the real architectures in the layout of their Hub
repositories, and how each side is asked for each model.

The published wrappers do not embed through transformers alone:

- GME: `AutoModel.from_pretrained(..., trust_remote_code=True)`, the repository's
  `modeling_gme_qwen2vl.py` (`GmeQwen2VL`), which refuses transformers 4.52 and later; the
  published installation notes (docs/INSTALL in the published checkout) install
  transformers 4.51.3 to run it, so GME's published side runs in a side folder of its own
  (`parity_env.GME_PINS`).
- Ops-MM: `ops_mm_embedding_v1.OpsMMEmbeddingV1` from `third_party/ops_mm_embedding`, a
  clone of the Hub repository (as those notes say).
- Qwen3-VL-Embedding: `scirpts.Qwen3VLEmbedder` from `third_party/qwen3_vl_embedding`, where
  the instructions download the repository's `scripts/qwen3_vl_embedding.py`. The name
  `scirpts` is what the published module imports; the instructions create no package of
  that name, so the harness makes one whose `__init__` re-exports the class from that file.
- jina-embeddings-v4: `AutoModel.from_pretrained(..., trust_remote_code=True)`, the
  repository's `JinaEmbeddingsV4Model` (a Qwen2.5-VL of its own code whose layers take a
  task label), which loads the LoRA under `adapters/` through peft with jina's
  `MultiAdapterLinear` and selects the retrieval task's weights per forward pass. mars-zoo
  loads instead jina's retrieval release with that LoRA merged
  (`jinaai/jina-embeddings-v4-vllm-retrieval`) into the native class: the harness builds
  both repositories, the release by merging the tiny repository's own retrieval LoRA, so
  that the row compares the two loading paths.

None of that code is in this repository. `--remote-code DIR` gives it, one folder per Hub
repository (`DIR/<org>/<name>/`, the repository's files at their paths: `hf download REPO
--include '*.py' 'scripts/*' config.json --local-dir DIR/REPO`); only `auto_map` is read
from its `config.json` (GME, jina: the classes AutoModel loads). The tiny repositories copy
the remote code beside their weights, as the Hub repositories hold it.

Each tiny repository holds what its real one does: a Qwen2-style byte-level BPE tokenizer
(Qwen2's split pattern, NFC, the Qwen special tokens, `tokenizer_class` Qwen2Tokenizer), the
image processor config naming the class the real one names (`Qwen2VLImageProcessor` for the
Qwen2-VL fine-tunes, `Qwen2VLImageProcessorFast` for Qwen3-VL), a chat template, and bf16
weights of the real architecture at tiny width (two decoder layers of 32; the vision
towers' real patch, merge and temporal sizes, so the processors run at real pixel counts),
built by the published environment's transformers (GME's in its own), seeded and perturbed
so that no norm or bias sits at a constant. GME's weights are Qwen2-VL's less the LM head,
under `GmeQwen2VL`'s names (`visual.*`, `model.*`); jina's are fp32 (see `_build_jina`).

Where a published wrapper cannot run as published on this CPU-only harness, the harness says
so in the job entry and the table: Ops-MM's asks for flash-attention 2 (a CUDA kernel) unless
its config names another implementation, and gets "sdpa" through the config field it reads
(`attn_implementation`); it loads bf16 weights on every device, and jina's encode loop runs
under bf16 autocast on every device. With `--published-precision fp32` (the default) the
harness loads those weights in fp32 and disables that autocast (`published_context`), so
that the recipes are compared in fp32; `as-published` leaves them, to measure what bf16 does.

This module imports only the standard library at import time: the published-side driver
imports it inside the published environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from parity_mllm import inspect_images  # noqa: F401  (the driver's pixel hook for this family)

FAMILY = "qwen_vl"
SEED = 0
GME_REPO = "Alibaba-NLP/gme-Qwen2-VL-2B-Instruct"
OPS_REPO = "OpenSearch-AI/Ops-MM-embedding-v1-2B"
QWEN3_REPO = "Qwen/Qwen3-VL-Embedding-2B"
QWEN3_SCRIPT = "scripts/qwen3_vl_embedding.py"
JINA_REPO = "jinaai/jina-embeddings-v4"
JINA_MERGED = "jinaai/jina-embeddings-v4-vllm-retrieval"  # what mars-zoo loads (see plugins/mllm/jina.py)
JINA_CODE = ("modeling_jina_embeddings_v4.py", "configuration_jina_embeddings_v4.py", "custom_lora_module.py",
             "qwen2_5_vl.py")
JINA_TASKS = ["retrieval", "text-matching", "code"]
JINA_MAX_PIXELS = 768 * 28 * 28

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
    "<|video_pad|>",
)
# Qwen2's pre-tokenizer split (its tokenizer.json), applied before the byte-level mapping.
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
              r"|\s+(?!\S)|\s+")


def _model(model_config: str, repo: str, pretrained: str, encoder: str, builder: str, code: tuple[str, ...],
           **published: object) -> dict:
    """How a published script runs a model (scripts/paired_image_text_retrieval/*.sh: main.py's
    flags), which tiny repository it reads, the remote code it runs (paths in the Hub
    repository) and what the harness changes on the published side (`published`, see
    the module docstring)."""
    flags = {"model_config": model_config, "model_name": repo, "pretrained": pretrained,
             "image_encoder_type": encoder, "text_encoder_type": encoder}
    return {"published": flags, "repo": repo, "builder": builder, "code": code, **published}


MODELS = {
    "gme/gme-qwen2-vl-2b-instruct": _model("GME", GME_REPO, "gme", "gme", "gme", ("modeling_gme_qwen2vl.py",),
                                           env="gme"),
    "ops-mm/ops-mm-embedding-v1-2b": _model(
        "OpsMM", OPS_REPO, "opsmm", "opsmm_v1", "ops_mm", ("ops_mm_embedding_v1.py",),
        published_args={"attn_implementation": "sdpa"}, published_fp32="bf16 weights on every device"),
    "qwen3-vl/qwen3-vl-embedding-2b": _model(
        "Qwen3VLEmbedding", QWEN3_REPO, "qwen3_vl_embedding", "qwen3_vl_embedding", "qwen3", (QWEN3_SCRIPT,)),
    "jina/jina-embeddings-v4": _model(
        "Jina", JINA_REPO, "hf", "jina", "jina", JINA_CODE, reads=JINA_MERGED,
        published_fp32="bf16 autocast around every forward pass"),
}


def register_tiny_architectures(work: Path) -> None:
    """Nothing to register: every tiny model here is read from its Hub repository."""


def _code_folder(root: Path | None, model: dict) -> Path | None:
    """The folder of `model`'s Hub repository in `--remote-code`, if it holds every file the
    published side runs (and, where AutoModel loads remote code, a config.json with auto_map)."""
    folder = root / model["repo"] if root else None
    if folder is None or not all((folder / path).is_file() for path in model["code"]):
        return None
    if model["builder"] in ("gme", "jina") and not _auto_map(folder):
        return None
    return folder


def _auto_map(folder: Path) -> dict | None:
    config = folder / "config.json"
    return json.loads(config.read_text()).get("auto_map") if config.is_file() else None


def remote_code_problems(models: list[str], root: Path | None) -> list[str]:
    """What `--remote-code` (`root`) lacks for `models`, one sentence per Hub repository."""
    problems = []
    for name in models:
        model = MODELS[name]
        if _code_folder(root, model) is None:
            where = f"folder {root / model['repo']}" if root else "--remote-code"
            config = " and a config.json with auto_map" if model["builder"] in ("gme", "jina") else ""
            problems.append(f"{model['repo']}: no {where} with {', '.join(model['code'])}{config} "
                            f"(hf download {model['repo']} --include '*.py' 'scripts/*' config.json "
                            f"--local-dir DIR/{model['repo']})")
    return problems


def _environment(model: dict, published_env: dict) -> list[str]:
    """The PYTHONPATH of `model`'s published side: GME's own side folder with `--env
    pinned`, else the published environment's."""
    if model.get("env") == "gme" and published_env["env"] == "pinned":
        from parity_env import GME_PINS, side_folder

        from mars_zoo.core.folders import default_cache_dir

        return [str(side_folder(default_cache_dir(), GME_PINS))]
    return [str(path) for path in published_env["pythonpath"]]


def build(work: Path, hub, models: list[str], published_env: dict) -> dict[str, dict]:
    """Write the tiny repositories `models` need into the Hub cache `hub` (a
    `parity_inputs.HubCache`), each built in its published environment; return, per
    model, the job entry both drivers read. `published_env`: "remote_code" (checked
    beforehand with `remote_code_problems`), "pythonpath" and "env" of the published side,
    and "precision" ("fp32": `published_fp32` where a wrapper hard-codes bf16; "as-published").
    A model whose build fails gets an entry with `error`, which its row shows."""
    from mars_zoo.models.registry import load_registry

    registry = load_registry()
    jobs = {}
    for name in models:
        model = MODELS[name]
        code = _code_folder(published_env["remote_code"], model)
        pythonpath = _environment(model, published_env)
        job = {"family": FAMILY, "published": dict(model["published"]), "revision": registry.get(name).revision,
               "embedding_dim": 32, "published_path": _published_path(work, model, code)}
        if model.get("env"):
            job["pythonpath"] = pythonpath
        if "published_args" in model:
            job["published_args"] = model["published_args"]
        if "published_fp32" in model and published_env.get("precision", "fp32") == "fp32":
            job["published_fp32"] = model["published_fp32"]

        try:
            built = work / "built" / name.replace("/", "--")
            shutil.rmtree(built, ignore_errors=True)
            _run_builder(model["builder"], built, code, pythonpath)
            hub.write(model["repo"], lambda folder: shutil.copytree(built / "repository", folder, dirs_exist_ok=True),
                      commit=None if "reads" in model else job["revision"])
            if "reads" in model:  # mars-zoo reads another repository, built beside the published one
                job["revision"] = hub.write(
                    model["reads"], lambda folder: shutil.copytree(built / "reads", folder, dirs_exist_ok=True))
        except RuntimeError as exc:
            job["error"] = f"the tiny checkpoint could not be built: {exc}"
        jobs[name] = job
    return jobs


def _published_path(work: Path, model: dict, code: Path) -> list[str]:
    """Folders the published side imports from: the clone of Ops-MM's repository, and for
    Qwen3-VL-Embedding a `scirpts` package over the repository's script (see the module
    docstring)."""
    if model["builder"] == "ops_mm":
        return [str(code)]
    if model["builder"] == "qwen3":
        folder = work / "third_party" / "qwen3_vl_embedding"
        (folder / "scirpts").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(code / QWEN3_SCRIPT, folder / "scirpts" / "qwen3_vl_embedding.py")
        (folder / "scirpts" / "__init__.py").write_text("from .qwen3_vl_embedding import Qwen3VLEmbedder\n")
        return [str(folder)]
    return []


def _run_builder(builder: str, folder: Path, code: Path | None, pythonpath: list[str]) -> None:
    """This file run as a script in the published environment (`pythonpath` first), so
    that the files are written by the transformers the real repositories were loaded with:
    the repository into `folder/repository`, and where mars-zoo reads another one
    (jina-embeddings-v4), that one into `folder/reads`."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    done = subprocess.run([sys.executable, __file__, "build", builder, str(folder), str(code or "")], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip()[-3000:] or f"exit {done.returncode}")


@contextlib.contextmanager
def published_context(entry: dict):
    """The published side of `entry`, computing in fp32 where the published wrapper
    hard-codes bf16 (`published_fp32`): weights loaded through AutoModelForImageTextToText
    in fp32 (Ops-MM's `torch_dtype=torch.bfloat16`), and `torch.autocast` disabled
    (jina's encode loop runs every forward pass under bf16 autocast, on any device)."""
    if not entry.get("published_fp32"):
        yield
        return
    import torch
    from transformers import AutoModelForImageTextToText

    loader, autocast = AutoModelForImageTextToText.__dict__["from_pretrained"], torch.autocast

    def fp32(cls, *args, **kwargs):
        return loader.__func__(cls, *args, **{**kwargs, "torch_dtype": torch.float32})

    def disabled(*args, **kwargs):
        return autocast(*args, **{**kwargs, "enabled": False})

    AutoModelForImageTextToText.from_pretrained, torch.autocast = classmethod(fp32), disabled
    try:
        yield
    finally:
        AutoModelForImageTextToText.from_pretrained, torch.autocast = loader, autocast


# --- the builders, run in the published environment (python parity_qwen_vl.py build ...) ---


def qwen2_tokenizer():
    """A Qwen2-style tokenizer: byte-level BPE over Qwen2's split pattern and NFC, trained on
    mars-zoo's fixed corpus, the Qwen special tokens added after the vocabulary (the VLM2Vec
    family's tiny repositories use it too)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import Qwen2TokenizerFast

    from mars_zoo.models.tiny import CORPUS

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer.add_special_tokens(list(QWEN_SPECIAL_TOKENS))
    return Qwen2TokenizerFast(tokenizer_object=tokenizer, unk_token=None, bos_token=None,
                              eos_token="<|im_end|>", pad_token="<|endoftext|>", model_max_length=32768)


def _token_ids(tokenizer) -> dict:
    token = tokenizer.convert_tokens_to_ids
    return {"image_token_id": token("<|image_pad|>"), "video_token_id": token("<|video_pad|>"),
            "vision_start_token_id": token("<|vision_start|>"), "vision_end_token_id": token("<|vision_end|>")}


def _text_ids(tokenizer) -> dict:
    """The language model's special-token ids, as Qwen's configs hold them."""
    token = tokenizer.convert_tokens_to_ids
    return {"vocab_size": len(tokenizer), "bos_token_id": token("<|endoftext|>"), "eos_token_id": token("<|im_end|>")}


def _seeded(model_class, config):
    """`model_class(config)` with seeded weights, none left at a constant."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = model_class(config).eval()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.02)
    return model


def _qwen2vl_config(tokenizer):
    """Qwen2-VL-2B's configuration at tiny width (mars_zoo_mllm.qwen2vl's tiny sizes), in
    the flat form of the Qwen2-VL fine-tunes' config.json."""
    from transformers import Qwen2VLConfig

    from mars_zoo_mllm import qwen2vl

    ids = _token_ids(tokenizer)
    return Qwen2VLConfig(**qwen2vl.TINY_TEXT, **_text_ids(tokenizer), vision_config=dict(qwen2vl.TINY_VISION),
                         tie_word_embeddings=True, **ids)


def _qwen2vl_processor(tokenizer):
    """The Qwen2-VL processor files of the Qwen2-VL fine-tunes (slow `Qwen2VLImageProcessor`
    named in preprocessor_config.json, Qwen2-VL's chat template)."""
    import inspect

    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor

    from mars_zoo_mllm.qwen2vl import QWEN2VL_CHAT_TEMPLATE

    parts = {"image_processor": Qwen2VLImageProcessor(), "tokenizer": tokenizer}
    if "video_processor" in inspect.signature(Qwen2VLProcessor.__init__).parameters:  # transformers >= 4.52
        from transformers import Qwen2VLVideoProcessor

        parts["video_processor"] = Qwen2VLVideoProcessor()
    return Qwen2VLProcessor(**parts, chat_template=QWEN2VL_CHAT_TEMPLATE)


def _save(folder: Path, state: dict, dtype: str = "bfloat16") -> None:
    import torch
    from safetensors.torch import save_file

    save_file({key: value.to(getattr(torch, dtype)).clone().contiguous() for key, value in state.items()},
              str(folder / "model.safetensors"), metadata={"format": "pt"})


def _build_gme(folder: Path, code: Path) -> None:
    """GME: Qwen2-VL-2B at tiny width, its weights under GmeQwen2VL's names (Qwen2-VL's less
    the LM head), the GME fields and the remote code's auto_map in config.json."""
    from transformers import Qwen2VLForConditionalGeneration

    tokenizer = qwen2_tokenizer()
    _qwen2vl_processor(tokenizer).save_pretrained(folder)
    config = _qwen2vl_config(tokenizer)
    model = _seeded(Qwen2VLForConditionalGeneration, config)
    _save(folder, {key: value for key, value in model.state_dict().items() if not key.startswith("lm_head.")})
    stored = {**config.to_dict(), "architectures": ["GmeQwen2VL"], "auto_map": _auto_map(code),
              "min_image_tokens": 256, "max_image_tokens": 1280, "max_length": 1800, "torch_dtype": "bfloat16"}
    (folder / "config.json").write_text(json.dumps(stored, indent=2))
    for path in MODELS["gme/gme-qwen2-vl-2b-instruct"]["code"]:
        shutil.copyfile(code / path, folder / path)


def _build_ops_mm(folder: Path, code: Path) -> None:
    """Ops-MM-embedding-v1-2B: a Qwen2VLForConditionalGeneration (Qwen2-VL-2B at tiny width),
    saved as transformers saves it, in bf16, with the Qwen2-VL processor files and the
    repository's wrapper file."""
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    tokenizer = qwen2_tokenizer()
    _qwen2vl_processor(tokenizer).save_pretrained(folder)
    _seeded(Qwen2VLForConditionalGeneration, _qwen2vl_config(tokenizer)).to(torch.bfloat16).save_pretrained(folder)
    shutil.copyfile(code / "ops_mm_embedding_v1.py", folder / "ops_mm_embedding_v1.py")


def _build_qwen3(folder: Path, code: Path) -> None:
    """Qwen3-VL-Embedding-2B: a Qwen3-VL (mars_zoo_mllm.qwen3_vl's tiny sizes and image
    processor settings) saved as a Qwen3VLForConditionalGeneration in bf16 (`model.*`
    tensors, which the repository's script and Qwen3VLModel both read), the fast image
    processor the repository names, Qwen3-VL's video processor, and the script."""
    import torch
    from transformers import (
        Qwen2VLImageProcessorFast, Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    from mars_zoo_mllm import qwen3_vl
    from mars_zoo_mllm.qwen2vl import QWEN2VL_CHAT_TEMPLATE

    tokenizer = qwen2_tokenizer()
    config = Qwen3VLConfig(text_config={**qwen3_vl.TINY_TEXT, **_text_ids(tokenizer)},
                           vision_config=dict(qwen3_vl.TINY_VISION), tie_word_embeddings=True, **_token_ids(tokenizer))
    Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessorFast(**qwen3_vl.IMAGE_PROCESSOR), tokenizer=tokenizer,
        video_processor=Qwen3VLVideoProcessor(patch_size=16, merge_size=2, temporal_patch_size=2),
        chat_template=QWEN2VL_CHAT_TEMPLATE,
    ).save_pretrained(folder)
    _seeded(Qwen3VLForConditionalGeneration, config).to(torch.bfloat16).save_pretrained(folder)
    (folder / "scripts").mkdir()
    shutil.copyfile(code / QWEN3_SCRIPT, folder / QWEN3_SCRIPT)


def _jina_code(code: Path):
    """jina's modeling module, imported as the package it is written as (relative imports)."""
    import importlib
    import tempfile

    package = Path(tempfile.mkdtemp()) / "jina_remote_code"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for path in JINA_CODE:
        shutil.copyfile(code / path, package / path)
    sys.path.insert(0, str(package.parent))
    return importlib.import_module("jina_remote_code.modeling_jina_embeddings_v4")


def _jina_processor_files(folder: Path, tokenizer, remote: bool) -> None:
    """Qwen2.5-VL's processor files at jina's pixel limit (at most 768 merged patches); in
    the main repository they name jina's processor class through auto_map."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    from mars_zoo_mllm.qwen2vl import QWEN2VL_CHAT_TEMPLATE

    Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(min_pixels=4 * 28 * 28, max_pixels=JINA_MAX_PIXELS),
                        tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor(),
                        chat_template=QWEN2VL_CHAT_TEMPLATE).save_pretrained(folder)
    if remote:
        for name in ("preprocessor_config.json", "tokenizer_config.json"):
            config = json.loads((folder / name).read_text())
            config.update(processor_class="JinaEmbeddingsV4Processor",
                          auto_map={"AutoProcessor": "modeling_jina_embeddings_v4.JinaEmbeddingsV4Processor"})
            (folder / name).write_text(json.dumps(config, indent=2))


def _build_jina(folder: Path, code: Path, reads: Path) -> None:
    """jina-embeddings-v4 as its repository holds it (Qwen2.5-VL-3B at tiny width plus the
    multi-vector projector, jina's config fields and remote code, and under `adapters/` a
    LoRA of jina's multi-task layout, made by jina's own `MultiAdapterLinear` through peft,
    with non-zero weights for each of the three tasks); and into `reads`, the retrieval
    release as mars-zoo loads it: the same Qwen2.5-VL with the retrieval task's LoRA merged
    into its weights (W + scaling * B A), saved as a plain Qwen2_5_VLForConditionalGeneration.
    Both in fp32, so that the loading paths are compared as functions; what storing the
    merged weights in bf16 changes is measured apart (benchmarks/README.md).

    The adapter targets the language model's attention and MLP projections and the
    projector, the modules jina's code passes a task label to (its vision tower calls its
    layers without one)."""
    from functools import partial

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from mars_zoo_mllm import jina

    modeling = _jina_code(code)
    tokenizer = qwen2_tokenizer()
    _jina_processor_files(folder, tokenizer, remote=True)
    _jina_processor_files(reads, tokenizer, remote=False)
    native = Qwen2_5_VLConfig(text_config={**jina.TINY_TEXT, **_text_ids(tokenizer)},
                              vision_config=dict(jina.TINY_VISION), tie_word_embeddings=True, **_token_ids(tokenizer))
    config = modeling.JinaEmbeddingsV4Config(
        **native.to_dict(), multi_vector_projector_dim=8, task_names=JINA_TASKS,
        matryoshka_dims=[128, 256, 512, 1024, 2048], truncate_dim=None, verbosity=0, per_device_eval_batch_size=8)
    config.architectures, config.auto_map = ["JinaEmbeddingsV4Model"], _auto_map(code)
    config._name_or_path = str(folder)  # jina's model loads its processor from here
    model = _seeded(modeling.JinaEmbeddingsV4Model, config)
    lora = LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                      target_modules=r"^(?!.*visual).*(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj"
                                     r"|multi_vector_projector)$")
    lora._custom_modules = {torch.nn.Linear: partial(modeling.MultiAdapterLinear, task_names=JINA_TASKS)}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED + 1)
        adapted = get_peft_model(model, lora)
        with torch.no_grad():
            for name, parameter in adapted.named_parameters():
                if "lora_" in name:
                    parameter.copy_(torch.randn_like(parameter) * 0.05)
    adapted.save_pretrained(folder / "adapters")
    (folder / "adapters" / "README.md").unlink(missing_ok=True)
    adapter_config = json.loads((folder / "adapters" / "adapter_config.json").read_text())
    adapter_config.pop("auto_mapping", None)  # names the temporary package the adapter was made in
    adapter_config["base_model_name_or_path"] = JINA_REPO
    (folder / "adapters" / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))
    merged = {}
    for name, module in adapted.named_modules():
        if isinstance(module, modeling.MultiAdapterLinear) and "multi_vector_projector" not in name:
            a, b = module.lora_A["default"]["retrieval"].weight, module.lora_B["default"]["retrieval"].weight
            key = name.removeprefix("base_model.model.") + ".weight"
            merged[key] = module.base_layer.weight + module.scaling["default"] * (b @ a)
    base = adapted.get_base_model().state_dict()
    weights = {key.replace(".base_layer.", "."): value for key, value in base.items()
               if "lora_" not in key and key != "lm_head.weight"}  # the head is tied to the embeddings
    _save(folder, weights, "float32")
    stored = {**config.to_dict(), "torch_dtype": "float32"}
    stored.pop("_name_or_path", None)
    (folder / "config.json").write_text(json.dumps(stored, indent=2))
    for path in JINA_CODE:
        shutil.copyfile(code / path, folder / path)
    release = _seeded(Qwen2_5_VLForConditionalGeneration, native)
    state = {key: value for key, value in weights.items() if not key.startswith("multi_vector_projector")}
    state.update(merged)
    release.load_state_dict(state, strict=False)  # lm_head: tied to the embeddings
    release.save_pretrained(reads)


_BUILDERS = {"gme": _build_gme, "ops_mm": _build_ops_mm, "qwen3": _build_qwen3}


def _build(builder: str, folder: Path, code: Path) -> None:
    (folder / "repository").mkdir(parents=True)
    if builder == "jina":
        (folder / "reads").mkdir()
        _build_jina(folder / "repository", code, folder / "reads")
    else:
        _BUILDERS[builder](folder / "repository", code)


if __name__ == "__main__" and sys.argv[1:2] == ["build"]:  # python parity_qwen_vl.py build BUILDER FOLDER CODE
    _build(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
