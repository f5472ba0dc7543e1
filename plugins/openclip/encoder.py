"""Loading OpenCLIP models through open_clip's own factory (imported lazily)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
from pathlib import Path
from typing import Sequence

import torch

from mars_zoo import Encoder, MarsZooError, ModelSpec
from mars_zoo.models.weights import WeightsForm, own_weights

TINY_CONFIG = Path(__file__).with_name("mars-zoo-tiny-random.json")
TINY_ARCHITECTURE = TINY_CONFIG.stem
HF_HUB = "hf-hub:"
CHECKPOINT_FORMS = ("a state_dict (torch.save or safetensors) or a dict holding one under 'state_dict', as "
                    "open_clip's training writes it")
OWN_WEIGHTS = WeightsForm(folder=False, words=f"one checkpoint file: {CHECKPOINT_FORMS}")


class OpenClipEncoder(Encoder):
    """An open_clip model with its evaluation transform and tokenizer."""

    def __init__(self, model, preprocess, tokenizer, device: str) -> None:
        self.model = model.eval()
        self.image_transform = preprocess
        self.tokenizer = tokenizer
        self.device = device

    def encode_image(self, images) -> torch.Tensor:
        if not isinstance(images, torch.Tensor):  # PIL images, when the harness runs no transform
            images = torch.stack([self.image_transform(image) for image in images])
        return self.model.encode_image(images.to(self.device, non_blocking=True))

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(texts)).to(self.device, non_blocking=True)
        return self.model.encode_text(tokens)

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.model.parameters())


def split_checkpoint(checkpoint: str) -> tuple[str, str | None]:
    """'ARCH@tag' -> (ARCH, tag); 'hf-hub:org/repo' -> (it, None)."""
    architecture, _, tag = checkpoint.partition("@")
    return architecture, tag or None


def _named_architecture(architecture: str):
    """An architecture open_clip knows by name (or this plugin's tiny one), no weights."""
    import open_clip

    if architecture == TINY_ARCHITECTURE:
        open_clip.add_model_config(TINY_CONFIG)
    model, _, preprocess = open_clip.create_model_and_transforms(architecture, pretrained=None)
    return model, preprocess, open_clip.get_tokenizer(architecture)


def _create_tiny_random(seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _named_architecture(TINY_ARCHITECTURE)


def _hub_download(spec: ModelSpec, repo: str, filenames: tuple[str, ...]) -> str:
    """The local path of the first of `filenames` that `repo` holds at `spec.revision`,
    fetched with huggingface_hub (open_clip's own Hub loader takes no revision)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    unreachable = None
    for filename in filenames:
        try:
            return hf_hub_download(repo, filename, revision=spec.revision)
        except RemoteEntryNotFoundError:
            continue  # not in the repository at this revision: try the next name
        except LocalEntryNotFoundError as exc:  # offline, or the Hub unreachable, and not cached
            unreachable = exc
        except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
            raise MarsZooError(
                f"Could not load {spec.name}: the Hub has no {repo} at revision {spec.revision} "
                f"({type(exc).__name__}). Fix: set HF_TOKEN if the repository is gated or private, or "
                f"correct the revision pinned by plugin {spec.plugin or 'openclip'}."
            ) from exc
    if unreachable is not None:
        raise MarsZooError(
            f"Could not load the weights of {spec.name}: {' or '.join(filenames)} of {repo} at revision "
            f"{spec.revision} is not in the local Hugging Face cache and cannot be downloaded "
            f"({unreachable}). Fix: unset HF_HUB_OFFLINE and check the connection, or run once where the "
            f"Hub is reachable and copy the Hugging Face cache (HF_HUB_CACHE) here."
        ) from unreachable
    raise MarsZooError(
        f"Could not load {spec.name}: {repo} at revision {spec.revision} holds none of "
        f"{', '.join(filenames)}. Fix: correct the checkpoint or revision of plugin {spec.plugin or 'openclip'}."
    )


def hub_weights(spec: ModelSpec) -> tuple[str, tuple[str, ...]]:
    """The Hub repository of a checkpoint's weights and the file names to look for, in
    open_clip's order of preference (safetensors first)."""
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
    from open_clip.pretrained import get_pretrained_cfg

    default = (HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME)
    architecture, tag = split_checkpoint(spec.checkpoint)
    if tag is None:
        return architecture.removeprefix(HF_HUB), default
    # open_clip's convention: 'org/name/' for the default file names, 'org/name/file' for one file
    repo, filename = os.path.split(get_pretrained_cfg(architecture, tag).get("hf_hub", ""))
    if not repo:
        raise MarsZooError(
            f"{spec.name}: open_clip has no Hugging Face Hub source for {spec.checkpoint}, so its weights "
            f"cannot be pinned to a revision. Fix: register the checkpoint as 'hf-hub:org/name'."
        )
    return repo, (filename,) if filename else default


def _tag_architecture(architecture: str, tag: str):
    """A built-in architecture with the preprocessing of its pretrained tag, no weights."""
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(architecture, tag)
    model, _, preprocess = open_clip.create_model_and_transforms(
        architecture, pretrained=None, pretrained_text=False, image_mean=cfg.get("mean"),
        image_std=cfg.get("std"), image_interpolation=cfg.get("interpolation"),
        image_resize_mode=cfg.get("resize_mode"),
    )
    return model, preprocess, open_clip.get_tokenizer(architecture)


def _hub_architecture(spec: ModelSpec, repo: str, config_path: Path):
    """The architecture, preprocessing and tokenizer that `repo`'s `open_clip_config.json`
    (fetched at `spec.revision`) describes, no weights. A tokenizer kept in the same
    repository is read at the same revision."""
    import open_clip
    from open_clip.tokenizer import DEFAULT_CONTEXT_LENGTH, HFTokenizer

    local = f"local-dir:{config_path.parent}"
    model, _, preprocess = open_clip.create_model_and_transforms(local, load_weights=False, pretrained_text=False)
    text_cfg = json.loads(config_path.read_text(encoding="utf-8"))["model_cfg"].get("text_cfg", {})
    name = text_cfg.get("hf_tokenizer_name")
    if not name:
        return model, preprocess, open_clip.get_tokenizer(local)
    tokenizer = HFTokenizer(
        name, context_length=text_cfg.get("context_length", DEFAULT_CONTEXT_LENGTH),
        tokenizer_mode=text_cfg.get("tokenizer_mode"), revision=spec.revision if name == repo else None,
        **text_cfg.get("tokenizer_kwargs", {}),
    )
    return model, preprocess, tokenizer


def _weights_source(spec: ModelSpec, path: str) -> tuple[str, str]:
    """Whose weights `path` holds, and the fix when they do not fit the architecture."""
    if spec.weights:
        return f"--weights {path}", f"pass a checkpoint of this architecture: {CHECKPOINT_FORMS}"
    origin = spec.url_weights.url if spec.url_weights else f"{hub_weights(spec)[0]} at revision {spec.revision}"
    return (f"The weights downloaded from {origin} ({path})",
            f"plugin {spec.plugin or 'openclip'} must name, for checkpoint {spec.checkpoint}, weights of that "
            f"architecture: {CHECKPOINT_FORMS}")


def load_weights(spec: ModelSpec, model, path: str) -> None:
    """Load an open_clip checkpoint file (a state_dict, or a dict holding one under
    "state_dict"; safetensors or torch) into `model`, every key matching: the user's own
    weights (`spec.weights`), the file the plugin declares by URL (`spec.weights_file`) or
    the checkpoint's file fetched from the Hub."""
    import open_clip

    source, fix = _weights_source(spec, path)
    try:
        open_clip.load_checkpoint(model, path, strict=True)
    except (RuntimeError, OSError, ValueError, KeyError, AttributeError, StopIteration,
            pickle.UnpicklingError) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise MarsZooError(
            f"{source} could not be loaded into {spec.name} ({spec.checkpoint}): {type(exc).__name__}: "
            f"{detail}. Fix: {fix}."
        ) from exc


def _create_from_url(spec: ModelSpec):
    """A built-in architecture ('ARCH', or 'ARCH@tag' for the tag's preprocessing) with the
    weights file the plugin declares by URL (`spec.weights_file`, fetched by the harness), or
    the user's own (`spec.weights`)."""
    architecture, tag = split_checkpoint(spec.checkpoint)
    model, preprocess, tokenizer = _tag_architecture(architecture, tag) if tag else _named_architecture(architecture)
    load_weights(spec, model, str(own_weights(spec, OWN_WEIGHTS)) if spec.weights else spec.weights_file)
    return model, preprocess, tokenizer


def _create(spec: ModelSpec):
    """Architecture, preprocessing and tokenizer, then the weights: the checkpoint's,
    fetched at the pinned revision, or the user's own (`spec.weights`)."""
    from open_clip.constants import HF_CONFIG_NAME

    if spec.url_weights is not None:
        return _create_from_url(spec)
    architecture, tag = split_checkpoint(spec.checkpoint)
    repo, filenames = hub_weights(spec)
    # every download first, so that a missing file fails before a large model is built
    config = None if tag else Path(_hub_download(spec, repo, (HF_CONFIG_NAME,)))
    weights = str(own_weights(spec, OWN_WEIGHTS)) if spec.weights else _hub_download(spec, repo, filenames)
    if config is not None:
        model, preprocess, tokenizer = _hub_architecture(spec, repo, config)
    else:
        model, preprocess, tokenizer = _tag_architecture(architecture, tag)
    load_weights(spec, model, weights)
    return model, preprocess, tokenizer


@contextlib.contextmanager
def _quiet_open_clip():
    """open_clip logs expected warnings ("no pretrained weights" for the random
    baseline) on the root logger; silence them while loading, and only then."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def load_encoder(spec: ModelSpec, device: str, precision: str) -> OpenClipEncoder:
    """Build the encoder on `device` with weights in the dtype the spec declares (fp32:
    the harness applies autocast for reduced precision, so weights are never down-cast)."""
    with _quiet_open_clip():
        if spec.random_weights:
            _, tag = split_checkpoint(spec.checkpoint)
            model, preprocess, tokenizer = _create_tiny_random(seed=int(tag.removeprefix("seed")))
            if spec.weights:
                load_weights(spec, model, str(own_weights(spec, OWN_WEIGHTS)))
        else:
            model, preprocess, tokenizer = _create(spec)
    model = model.to(device=device, dtype=spec.weights_torch_dtype(device, precision))
    return OpenClipEncoder(model, preprocess, tokenizer, device)
