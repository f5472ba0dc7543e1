"""Loading sentence-transformers models with image and text support.

SentenceTransformer does its own preprocessing inside `encode` (its processor turns
PIL images into pixels), so the harness hands it PIL images; embeddings come back
unnormalised (the harness normalises).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from mars_zoo import Encoder, MarsZooError, ModelSpec
from mars_zoo.models.tiny import clip_processor, materialize, seeded
from mars_zoo.models.weights import WeightsForm, own_weights

TINY_SEED = 0
TINY_IMAGE_SIZE = 32
TINY_TOWER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
TINY_RECIPE = {"model": "SentenceTransformer[CLIPModel]", "seed": TINY_SEED, "tower": TINY_TOWER,
               "image_size": TINY_IMAGE_SIZE, "patch_size": 8, "projection_dim": 24, "format": 1}
OWN_WEIGHTS = WeightsForm(
    folder=True, marker="modules.json",
    words="a sentence-transformers folder (with its modules.json): save the fine-tuned model with "
    "model.save(FOLDER) and pass that folder",
)


class SentenceTransformerEncoder(Encoder):
    def __init__(self, model) -> None:
        self.model = model.eval()

    def _encode(self, items: list) -> torch.Tensor:
        return self.model.encode(items, batch_size=max(1, len(items)), convert_to_tensor=True,
                                 normalize_embeddings=False, show_progress_bar=False)

    def encode_image(self, images) -> torch.Tensor:
        return self._encode(list(images))

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        return self._encode(list(texts))

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.model.parameters())


def build_tiny(folder: Path) -> None:
    """A transformers CLIPModel at tiny width, wrapped in sentence-transformers' CLIPModel
    module and saved as a SentenceTransformer folder (as the Hub CLIP models are)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import CLIPModel as ClipModule
    from transformers import CLIPConfig, CLIPModel

    processor = clip_processor(TINY_IMAGE_SIZE)
    tokenizer = processor.tokenizer
    config = CLIPConfig(
        text_config=dict(TINY_TOWER, vocab_size=len(tokenizer), max_position_embeddings=77,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(TINY_TOWER, image_size=TINY_IMAGE_SIZE, patch_size=TINY_RECIPE["patch_size"]),
        projection_dim=TINY_RECIPE["projection_dim"],
    )
    transformers_folder = folder / "transformers"
    seeded(TINY_SEED, lambda: CLIPModel(config)).save_pretrained(transformers_folder)
    processor.save_pretrained(transformers_folder)
    SentenceTransformer(modules=[ClipModule(str(transformers_folder), _from_auto_load=True)]).save(
        str(folder / "sentence-transformers")
    )


def _source(spec: ModelSpec) -> tuple[str, str | None]:
    if spec.weights:
        return str(own_weights(spec, OWN_WEIGHTS)), None
    if spec.random_weights:
        return str(materialize(spec.name, TINY_RECIPE, build_tiny, spec.cache_dir) / "sentence-transformers"), None
    return spec.checkpoint, spec.revision


def load_encoder(spec: ModelSpec, device: str, precision: str) -> SentenceTransformerEncoder:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    source, revision = _source(spec)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = SentenceTransformer(source, revision=revision, device=device)
    except (OSError, ValueError, RuntimeError) as exc:
        where = f"{source} at revision {revision}" if revision else source
        raise MarsZooError(
            f"Could not load model {spec.name!r} from {where} with sentence-transformers: "
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else '(no message)'}. "
            f"The model comes from the Hugging Face Hub: check the connection and unset HF_HUB_OFFLINE, or "
            f"download it once where the Hub is reachable (hf download {source}"
            f"{f' --revision {revision}' if revision else ''}) so it is in the local Hugging Face cache."
        ) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = [modality for modality in ("image", "text") if not model.supports(modality)]
    if missing:
        raise MarsZooError(
            f"Model {spec.name!r} ({source}) loads in sentence-transformers but does not embed "
            f"{' or '.join(missing)} (it supports: {', '.join(map(str, model.modalities)) or 'nothing'}). "
            f"The st family needs a model that embeds both images and texts, such as a CLIP model."
        )
    return SentenceTransformerEncoder(model.to(spec.weights_torch_dtype(device, precision)))
