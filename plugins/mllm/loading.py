"""Loading an MLLM embedder: checkpoint, fine-tuned weights or seeded tiny model;
dtype; an adapter on the base it names; errors that say what to do.

One path for all three sources, so the tiny models test the code that loads the
real checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from mars_zoo import RESOLVE_AT_FIRST_USE, MarsZooError, ModelSpec
from mars_zoo.models.weights import WeightsForm, own_weights
from mars_zoo_mllm.encoder import MllmEncoder
from mars_zoo_mllm.recipe import Recipe, TinyModel

ADAPTER_CONFIG = "adapter_config.json"
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def _local_snapshot(checkpoint: str, revision: str | None) -> Path:
    if Path(checkpoint).is_dir():
        return Path(checkpoint)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(checkpoint, revision=revision))


def _adapter_base(
    folder: Path, declared: tuple[str, str] | None, own: bool, cache_dir: Path
) -> tuple[str, str | None]:
    """The base model the adapter in `folder` names in its adapter_config.json, and the
    revision to load: none for a folder; for the base the spec declares (`declared`: its
    repository and the commit the harness resolved), that commit. Another Hub repository is
    refused for the checkpoint itself (its weights would not be the ones the embedding cache is
    keyed by), and for `own` weights (trained on another base) loaded at the commit recorded at
    first use in the mars-zoo cache `cache_dir` (adapter configs name no revision)."""
    from mars_zoo.models.model_revisions import resolve_repository_revision

    base = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{folder / ADAPTER_CONFIG} names no base model (base_model_name_or_path)")
    if Path(base).is_dir():
        return base, None
    if Path(base).is_absolute() or base.startswith("."):
        raise ValueError(f"{folder / ADAPTER_CONFIG} names the base model folder {base}, which does not exist")
    if declared is not None and not own and base != declared[0]:
        raise BaseMismatch(f"its adapter_config.json names the base model {base}, not {declared[0]}")
    if declared is not None and base == declared[0] and declared[1] != RESOLVE_AT_FIRST_USE:
        return declared
    return base, resolve_repository_revision(base, f"The base model {base} of the adapter in {folder}", cache_dir)


class BaseMismatch(Exception):
    """A checkpoint's adapter names another base model than its spec declares."""


def load_model(
    recipe: Recipe, source: str, revision: str | None, dtype: torch.dtype, adapter: bool, *, cache_dir: Path,
    base: tuple[str, str] | None = None, own: bool = False,
) -> Any:
    """The model of `source` (Hub id or folder) in `dtype`. With `adapter`, `source` is a
    peft adapter loaded as VLM2Vec's `MMEBModel.load` loads it: the base model its
    adapter_config.json names (never weights beside the adapter; `base`: the repository and
    commit the spec declares for it; `own`: `source` is own weights; other revisions recorded
    in the mars-zoo cache `cache_dir`), built with the adapter's own config.json where it has
    one, the adapter applied once. The published code keeps the adapter unmerged; merging it
    is the same function (equal to 1e-7 in fp32), faster."""
    import transformers

    model_class = getattr(transformers, recipe.model_class)
    if not adapter:
        return model_class.from_pretrained(source, revision=revision, dtype=dtype)
    folder = _local_snapshot(source, revision)
    base_source, base_revision = _adapter_base(folder, base, own, cache_dir)
    config = transformers.AutoConfig.from_pretrained(folder) if (folder / "config.json").is_file() else None
    model = model_class.from_pretrained(base_source, revision=base_revision, config=config, dtype=dtype)
    return with_adapter(model, folder, recipe.adapter_renames).merge_and_unload()


PEFT_PREFIX = "base_model.model."


def with_adapter(model: Any, folder: Path, renames: tuple[tuple[str, str], ...]) -> Any:
    """`model` wrapped in the peft adapter saved in `folder`, every one of its tensors loaded.

    The adapter's tensor names are first renamed to `model`'s module names by `renames`
    (regex, replacement; the first that matches, applied without peft's prefix), as
    transformers renames the base's own legacy names. peft only warns when a saved tensor
    finds no module (the adapter then silently stays at its initial values, which for a
    trained LoRA or DoRA adapter means no adapter at all), so that is an error here."""
    import re

    from peft import PeftConfig, PeftModel, load_peft_weights, set_peft_model_state_dict

    def renamed(key: str) -> str:
        name = key.removeprefix(PEFT_PREFIX)
        for pattern, replacement in renames:
            name, count = re.subn(pattern, replacement, name)
            if count:
                break
        return PEFT_PREFIX + name if key.startswith(PEFT_PREFIX) else name

    peft_model = PeftModel(model, PeftConfig.from_pretrained(str(folder)))
    weights = {renamed(key): value for key, value in load_peft_weights(str(folder), device="cpu").items()}
    result = set_peft_model_state_dict(peft_model, weights)
    missing = [key for key in result.missing_keys if ".lora_" in key]
    if missing or result.unexpected_keys:
        unmatched = (result.unexpected_keys or missing)[:3]
        raise ValueError(
            f"the adapter in {folder} does not fit the modules of {type(model).__name__} "
            f"({len(result.unexpected_keys)} of its tensors name no module of the model, {len(missing)} of the "
            f"model's adapter tensors are not in it; e.g. {', '.join(unmatched)})"
        )
    return peft_model


def load_processor(recipe: Recipe, source: str, revision: str | None) -> Any:
    """The checkpoint's processor with the recipe's pixel limits and image backend. The
    image processor is loaded on its own and handed to the processor, so that a backend
    asked for reaches it alone (a processor that also holds a video processor, which has
    no PIL backend, would refuse the keyword)."""
    from transformers import AutoImageProcessor, AutoProcessor

    kwargs = dict(recipe.processor_kwargs)
    if recipe.image_size or recipe.image_backend:
        limits = {}
        if recipe.image_size:
            limits = {"size": dict(recipe.image_size), "min_pixels": recipe.image_size["shortest_edge"],
                      "max_pixels": recipe.image_size["longest_edge"]}
        backend = {"backend": recipe.image_backend} if recipe.image_backend else {}
        kwargs["image_processor"] = AutoImageProcessor.from_pretrained(source, revision=revision, **limits, **backend)
    return AutoProcessor.from_pretrained(source, revision=revision, **kwargs)


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def load_encoder(
    spec: ModelSpec, recipe: Recipe, device: str, precision: str, tiny: TinyModel | None = None
) -> MllmEncoder:
    """Build the encoder of `spec` on `device`.

    Sources, in order: `spec.weights` (a save_pretrained folder of fine-tuned
    weights, or for adapter models of merged weights or of a peft adapter naming its base;
    its processor files if it has them, else the checkpoint's), the seeded
    tiny model, or the pinned checkpoint on the Hugging Face Hub.
    """
    source, revision = spec.checkpoint, spec.revision
    if tiny is not None:
        source, revision = str(tiny.folder(spec.cache_dir)), None
    model_source, model_revision = source, revision
    processor_source, processor_revision = source, revision
    adapter = recipe.adapter
    if spec.weights:
        merged = " (merged weights, or a peft adapter with its base)" if adapter else ""
        form = WeightsForm(folder=True, words=f"the folder that save_pretrained of a fine-tuned "
                                               f"{recipe.model_class} wrote{merged}")
        weights = own_weights(spec, form)
        model_source, model_revision = str(weights), None
        # fine-tuned weights of an adapter model: a new adapter to merge, or merged weights
        adapter = adapter and (weights / ADAPTER_CONFIG).is_file()
        if any((weights / name).is_file() for name in PROCESSOR_FILES):
            processor_source, processor_revision = str(weights), None
    declared = (spec.base_repo, spec.base_revision) if spec.base_repo else None
    try:
        model = load_model(recipe, model_source, model_revision, spec.weights_torch_dtype(device, precision), adapter,
                           cache_dir=spec.cache_dir, base=declared, own=bool(spec.weights))
        processor = load_processor(recipe, processor_source, processor_revision)
    except BaseMismatch as exc:
        raise MarsZooError(
            f"Could not load {spec.name}: the adapter {model_source} at revision {model_revision} does not fit its "
            f"plugin: {exc}, the base the model declares (base_repo). Fix: report it to the plugin, which must "
            f"declare the base the adapter names."
        ) from exc
    except (OSError, ValueError) as exc:
        raise MarsZooError(_load_error(spec, model_source, model_revision, exc, adapter)) from exc
    return MllmEncoder(model.to(device), processor, recipe, device)


def _load_error(spec: ModelSpec, source: str, revision: str | None, exc: Exception, adapter: bool) -> str:
    if Path(source).is_dir():
        fix = "with its config.json and weights"
        if adapter:
            fix = "or by save_pretrained of its peft adapter, whose adapter_config.json names the base model"
        return (
            f"Could not load {spec.name} from the folder {source} ({_describe(exc)}). Fix: pass a "
            f"folder written by save_pretrained of this model's architecture, {fix}."
        )
    return (
        f"Could not load {spec.name}: {source} at revision {revision or 'unpinned'} is not in the "
        f"local Hugging Face cache or cannot be fetched ({_describe(exc)}). Fix: run once where "
        f"the Hub is reachable (without HF_HUB_OFFLINE=1), or fetch it ahead with "
        f"`hf download {source} --revision {revision}`; if the Hub says the revision does not "
        f"exist, the pin is stale: report it to the plugin."
    )
