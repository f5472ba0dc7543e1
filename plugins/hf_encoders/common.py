"""What every recipe of this family shares: where the weights come from, the one
error paragraph for a failed load, the picklable image transform and the encoder base.

Imported only by loaders, so torch and transformers may be imported at module level.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from mars_zoo import Encoder, MarsZooError, ModelSpec
from mars_zoo.models.tiny import materialize
from mars_zoo.models.weights import WeightsForm, own_weights

# Build a tiny model into a folder: (folder) -> None; its recipe dict keys the folder.
TinyBuilder = Callable[[Path], None]


PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
OWN_WEIGHTS = WeightsForm(
    folder=True, marker="config.json",
    words="a save_pretrained folder (with its config.json): save the fine-tuned model with "
    "model.save_pretrained(FOLDER) and pass that folder",
)


def checkpoint_source(spec: ModelSpec, tiny: tuple[dict, TinyBuilder]) -> tuple[str, str | None]:
    """(what `from_pretrained` reads, the revision to ask for) of the registered checkpoint:
    the Hub repository at its pinned revision, or for a random-weight model the folder
    it is built into once (and then read like any checkpoint)."""
    if spec.random_weights:
        recipe, build = tiny
        with quiet_transformers():
            return str(materialize(spec.name, recipe, build, spec.cache_dir)), None
    return spec.checkpoint, spec.revision


def weights_source(spec: ModelSpec, tiny: tuple[dict, TinyBuilder]) -> tuple[str, str | None]:
    """Where the weights come from: fine-tuned weights (`spec.weights`, a save_pretrained
    folder) win over the registered checkpoint."""
    if not spec.weights:
        return checkpoint_source(spec, tiny)
    return str(own_weights(spec, OWN_WEIGHTS)), None


def load_pretrained(spec: ModelSpec, tiny: tuple[dict, TinyBuilder], read_processor, read_model,
                    dtype: torch.dtype):
    """(processor, model) of `spec`, with every failure turned into one paragraph.

    The model comes from `weights_source`, built by `read_model(source, revision)`, its
    weights in `dtype` (`spec.weights_torch_dtype`: from_pretrained would otherwise keep
    the dtype the checkpoint was saved in). The processor, `read_processor(source,
    revision)`, comes from the fine-tuned folder when it holds one (fine-tuning rarely
    changes it, so most folders do not), else from the registered checkpoint.
    """
    source, revision = weights_source(spec, tiny)
    processor_source, processor_revision = (source, revision)
    if spec.weights and not any((Path(source) / name).is_file() for name in PROCESSOR_FILES):
        processor_source, processor_revision = checkpoint_source(spec, tiny)
    with load_errors(spec, source, revision):
        processor = read_processor(processor_source, revision=processor_revision)
        return processor, read_model(source, revision).to(dtype)


def native(model_class):
    """`read_model` for checkpoints in the class's own layout."""
    return lambda source, revision: model_class.from_pretrained(source, revision=revision)


def with_pil_images(processor_class=None):
    """`read_processor` for CLIP-style checkpoints: the image processor on the PIL backend,
    alone (`processor_class` None) or inside `processor_class` with its tokenizer. The
    published runs used transformers 4.57, which builds these checkpoints' image processor
    on PIL (its "slow" class); transformers 5 picks torchvision, whose bicubic resize
    differs (up to 0.03 on normalised pixels)."""
    from transformers import AutoImageProcessor

    def read(source: str, revision: str | None):
        images = AutoImageProcessor.from_pretrained(source, revision=revision, backend="pil")
        if processor_class is None:
            return images
        return processor_class.from_pretrained(source, revision=revision, image_processor=images)

    return read


@contextlib.contextmanager
def load_errors(spec: ModelSpec, source: str, revision: str | None) -> Iterator[None]:
    """Turn what the Hub, the offline mode or a gated repository raise while loading
    into one paragraph that names the model, the revision and the fix."""
    try:
        with quiet_transformers():
            yield
    except MarsZooError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        where = f"{source} at revision {revision}" if revision else source
        text = str(exc)
        if any(word in text.lower() for word in ("gated", "restricted", "403", "401", "access to model")):
            fix = (
                f"{source} is a gated repository: accept its licence on https://huggingface.co/{source} "
                f"with your account, then log in here with `hf auth login` (or set HF_TOKEN)."
            )
        elif Path(source).exists():
            fix = f"Check that {source} holds a complete save_pretrained folder of this architecture."
        else:
            fix = (
                f"The weights come from the Hugging Face Hub: check the connection and unset HF_HUB_OFFLINE, "
                f"or download them once where the Hub is reachable (hf download {source} "
                f"--revision {revision}) so they are in the local Hugging Face cache."
            )
        first_line = text.strip().splitlines()[0].rstrip(".") if text.strip() else "(no message)"
        raise MarsZooError(
            f"Could not load model {spec.name!r} from {where}: {type(exc).__name__}: {first_line}. {fix}"
        ) from exc


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Loading prints progress bars and expected warnings; the harness has its own reporter."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def jpeg_round_trip(image, quality: int) -> "Image.Image":
    """Re-encode as JPEG and decode again, as a recipe that reads images from JPEG files does."""
    from PIL import Image

    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


class ProcessorTransform:
    """PIL image -> pixel tensor [3, H, W] through the checkpoint's own image processor.

    A plain object holding the processor, so DataLoader workers can unpickle it.
    `jpeg_quality` re-encodes the image first (BGE-VL's published recipe for task 1's images).
    """

    def __init__(self, image_processor, jpeg_quality: int | None = None) -> None:
        self.image_processor = image_processor
        self.jpeg_quality = jpeg_quality

    def __call__(self, image) -> torch.Tensor:
        image = jpeg_round_trip(image, self.jpeg_quality) if self.jpeg_quality else image.convert("RGB")
        return self.image_processor(images=image, return_tensors="pt")["pixel_values"][0]


class TransformersEncoder(Encoder):
    """A transformers model with its picklable image transform; subclasses say how
    pixels and token ids become one vector each."""

    def __init__(self, model, image_transform: ProcessorTransform, device: str) -> None:
        self.model = model.to(device).eval()
        self.image_transform = image_transform
        self.device = device

    def pixels(self, images: "Sequence | torch.Tensor") -> torch.Tensor:
        """A batch tensor on the device (PIL images when the harness ran no transform)."""
        if not isinstance(images, torch.Tensor):
            images = torch.stack([self.image_transform(image) for image in images])
        return images.to(self.device, non_blocking=True)

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.model.parameters())


class DualEncoder(TransformersEncoder):
    """CLIP-like models (`get_image_features` / `get_text_features` whose `pooler_output`
    is the projected embedding). Texts are padded per batch and truncated to the text
    tower's positions; the attention mask is always passed, so a text embeds the same
    alone and inside a padded batch. `paired_jpeg_quality` re-encodes task 1's images
    (only those) as JPEG first, as BGE-VL's published wrapper does."""

    def __init__(self, model, processor, device: str, paired_jpeg_quality: int | None = None) -> None:
        super().__init__(model, ProcessorTransform(processor.image_processor), device)
        if paired_jpeg_quality:
            self.paired_image_transform = ProcessorTransform(processor.image_processor, paired_jpeg_quality)
        self.tokenizer = processor.tokenizer
        self.max_length = model.config.text_config.max_position_embeddings

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        tokens = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {key: tokens[key].to(self.device) for key in ("input_ids", "attention_mask")}

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        return self.model.get_text_features(**self.tokenize(texts)).pooler_output

    def encode_image(self, images) -> torch.Tensor:
        return self.model.get_image_features(pixel_values=self.pixels(images)).pooler_output


class VisionEncoder(TransformersEncoder):
    """Image-only models: `pool(model output)` is the embedding; texts are refused."""

    def __init__(self, model, image_processor, device: str, pool: Callable) -> None:
        super().__init__(model, ProcessorTransform(image_processor), device)
        self.pool = pool

    def encode_image(self, images) -> torch.Tensor:
        return self.pool(self.model(pixel_values=self.pixels(images)))

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        raise MarsZooError(
            f"{type(self.model).__name__} is an image-only model: it does not support text queries. "
            f"Run it with --tasks geolocalization (image queries only)."
        )
