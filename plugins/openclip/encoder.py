"""Loading OpenCLIP models through open_clip's own factory (imported lazily)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Sequence

import torch

from mars_zoo import Encoder, MarsZooError, ModelSpec

TINY_CONFIG = Path(__file__).with_name("mars-zoo-tiny-random.json")
TINY_ARCHITECTURE = TINY_CONFIG.stem


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


def _create_tiny_random(seed: int):
    import open_clip

    open_clip.add_model_config(TINY_CONFIG)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, _, preprocess = open_clip.create_model_and_transforms(TINY_ARCHITECTURE, pretrained=None)
    return model, preprocess, open_clip.get_tokenizer(TINY_ARCHITECTURE)


def _create_pretrained(spec: ModelSpec):
    import open_clip

    architecture, tag = split_checkpoint(spec.checkpoint)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            architecture, pretrained=tag, require_pretrained=True
        )
        tokenizer = open_clip.get_tokenizer(architecture)
    except (RuntimeError, OSError, ValueError) as exc:
        raise MarsZooError(
            f"Could not load the weights of {spec.name} ({spec.checkpoint}) through open_clip: {exc} "
            f"The weights come from the Hugging Face Hub: check the connection, unset HF_HUB_OFFLINE, "
            f"or run once where the Hub is reachable so they land in the local Hugging Face cache."
        ) from exc
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
    """Build the encoder in fp32 on `device`; the harness applies autocast for
    reduced precision, so weights are never down-cast here."""
    with _quiet_open_clip():
        if spec.random_weights:
            _, tag = split_checkpoint(spec.checkpoint)
            model, preprocess, tokenizer = _create_tiny_random(seed=int(tag.removeprefix("seed")))
        else:
            model, preprocess, tokenizer = _create_pretrained(spec)
    return OpenClipEncoder(model.to(device), preprocess, tokenizer, device)
