"""One side of the parity harness, run in its own process: `python parity_driver.py SIDE JOB`.

SIDE `published` runs inside the published environment (PYTHONPATH = the pinned side
folder, then the published code) and builds each model exactly as the published
`main.py` does: task and model config merged, the script's command-line arguments
merged over them (`tools.utils._merge_args`), then `models.utils.build_image_encoder` /
`build_text_encoder`. Images go through the published loaders' steps twice (ROUTES): as
the landform, tile and query loaders hand files over (PIL open and convert("RGB"), or the
path itself to an encoder that asks for paths), and as task 1's dataset hands its decoded
images over; then the encoder's `collate_fn` or its processor and a stacked batch, in batches
of the merged config's `batch_size_database` (E5-V's is 1), as the database loops batch them.
Texts go through `encode_text` in the batches the published code uses (the captions in those
batches, each prompt ensemble whole). A family whose wrappers preprocess inside
`encode_image` gives an `inspect_images(encoder, images)` hook that reads the pixels.

SIDE `mars-zoo` loads the same model through its mars-zoo plugin and embeds the same
files and texts through mars-zoo's own embedding path (`mars_zoo.embedding.embed.Embedder`, file
decoding, the plugin's transform, the batch checks and L2 normalisation), the task-1 route
with task 1's preprocessing key (which picks an encoder's `paired_image_transform`).

Each side writes, per model, `<out>/<side>/<model>.npz` (the embeddings of both image routes
and of the texts, fp32; the pixels the model receives on each route) and
`<out>/<side>/meta.json` (library versions and locations, image processor and backend,
weight dtype, errors). Both sides first make the tiny architectures buildable (the family
module's `register_tiny_architectures`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import json
import re
import sys
import traceback
from pathlib import Path

FAMILY_MODULES = {"openclip": "parity_openclip", "hf_encoders": "parity_hf_encoders", "mllm": "parity_mllm",
                  "qwen_vl": "parity_qwen_vl", "vlm2vec": "parity_vlm2vec"}
LIBRARIES = ("torch", "torchvision", "transformers", "tokenizers", "huggingface_hub", "open_clip", "timm",
             "PIL", "numpy", "safetensors", "sentencepiece", "peft", "accelerate")

# main.py's command-line defaults (its argparse parser), over which a script's flags go.
MAIN_DEFAULTS = {
    "project_name": None, "task_name": None, "exp_name": None, "task_config": None, "model_config": None,
    "model_name": None, "pretrained": None, "resume_post_train": None, "output_dir": None, "top_k": None,
    "db_dir": None, "save_details": False, "query_mode": None, "query_images": None, "query_text": None,
    "image_encoder_type": None, "text_encoder_type": None, "ground_truth_csv": None, "radius_deg": None,
    "eval_max_k": None,
}
TASK_CONFIG = "PairedVLRetrieval"  # the task that embeds both images and captions


def _versions() -> dict:
    found = {}
    for name in LIBRARIES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found[name] = {"version": getattr(module, "__version__", "?"), "file": getattr(module, "__file__", "?")}
    return found


def _describe(processor) -> str:
    """Which preprocessing ran: for transformers, the processor's and image processor's
    classes with the image backend (PIL or torchvision; `jpeg95` where mars-zoo re-encodes
    first); for other callables (open_clip's transforms) their repr."""
    inner = getattr(processor, "image_processor", processor)
    if hasattr(inner, "to_dict"):  # a transformers image processor
        bases = {cls.__name__ for cls in type(inner).__mro__}
        backend = "torchvision" if bases & {"TorchvisionBackend", "BaseImageProcessorFast"} else "PIL"
        jpeg = f", jpeg{processor.jpeg_quality}" if getattr(processor, "jpeg_quality", None) else ""
        outer = f"{type(processor).__name__}/" if inner is not processor else ""
        return f"{outer}{type(inner).__name__} [{backend}{jpeg}]"
    return re.sub(r" at 0x[0-9a-f]+", "", " ".join(repr(processor).split()))[:400]


def _pixels_of(batch):
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.float().numpy()
    if hasattr(batch, "get") and batch.get("pixel_values") is not None:
        return batch["pixel_values"].float().numpy()
    return None


def _published_encoders(entry: dict, out: Path):
    import torch
    from configs.config_base import load_model_config, load_task_config, merge_configs
    from models.utils import build_image_encoder, build_text_encoder
    from tools.utils import _merge_args, random_seed

    flags = {key: value for key, value in entry["published"].items() if key in MAIN_DEFAULTS}
    dynamic = argparse.Namespace(**{
        **MAIN_DEFAULTS, "task_config": TASK_CONFIG, "model_config": entry["published"]["model_config"],
        "exp_name": "parity", "query_mode": "text", "output_dir": str(out / "published-logs"), **flags,
    })
    args = _merge_args(merge_configs(load_task_config(TASK_CONFIG), load_model_config(dynamic.model_config)),
                       dynamic)
    for key, value in entry.get("published_args", {}).items():  # config fields the wrappers read
        setattr(args, key, value)
    random_seed(args.seed)
    device = torch.device("cpu")
    return build_image_encoder(args, device), build_text_encoder(args, device), getattr(args, "batch_size_database", None)


ROUTES = ("image", "paired_image")  # tasks 2 and 3 (image files), task 1 (decoded prepared images)


def _dtype_of(model) -> str | None:
    """The dtype of the model's weights (its first floating-point parameter)."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return str(parameter.dtype).removeprefix("torch.")
    return None


def _models_of(encoder) -> list:
    """The torch modules an encoder wrapper holds, itself or one attribute down (the
    published wrappers keep theirs in `model` or in `components.model`, or one further down
    where `components.model` is an embedder object of the model's own code)."""
    import torch

    found = []
    components = getattr(encoder, "components", None)
    for holder in (encoder, components, getattr(components, "model", None)):
        for value in vars(holder).values() if holder is not None else ():
            if isinstance(value, torch.nn.Module) and value not in found:
                found.append(value)
    return found


@contextlib.contextmanager
def _seen_pixels(encoder):
    """The pixels the model itself receives: the input of its first convolution over three
    channels (the patch embedding), for wrappers that preprocess inside `encode_image`."""
    import torch

    seen: list = []
    convs = [m for model in _models_of(encoder) for m in model.modules()
             if isinstance(m, torch.nn.Conv2d) and m.in_channels == 3][:1]
    hooks = [conv.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].detach().float()))
             for conv in convs]
    try:
        yield seen
    finally:
        for hook in hooks:
            hook.remove()


def _published_images(image_encoder, images: list[str], route: str, batch_size: int | None):
    """Embeddings and pixels of `images` as the published loaders hand them to the encoder:
    task 1's dataset decodes each image (PIL, RGB); the landform, tile and query loaders do the
    same, except for an encoder that asks for file paths (`use_path_inputs`), which gets the
    paths. Then the encoder's collate_fn, or its processor and a stacked batch, in batches of
    the merged config's `batch_size_database` (E5-V's is 1)."""
    import numpy as np
    import torch
    from PIL import Image

    if route == "image" and getattr(image_encoder, "use_path_inputs", False):
        items = list(images)
    else:
        items = []
        for path in images:
            with Image.open(path) as image:
                items.append(image.convert("RGB"))
    collate = getattr(image_encoder, "collate_fn", None)
    preprocess = image_encoder.get_processor()
    embeddings, pixels = [], []
    for chunk in _chunks(len(items), batch_size):
        if collate is not None:
            batch, _ = collate([(items[i], Path(images[i]).stem) for i in chunk])
        elif preprocess is not None:
            batch = torch.stack([preprocess(items[i]) for i in chunk], dim=0)
        else:
            batch = [items[i] for i in chunk]
        with torch.no_grad(), _seen_pixels(image_encoder) as seen:
            embeddings.append(image_encoder.encode_image(batch).float().cpu().numpy())
        batch_pixels = _pixels_of(batch)
        pixels.append(torch.cat(seen).numpy() if batch_pixels is None and seen else batch_pixels)
    return np.concatenate(embeddings), None if any(p is None for p in pixels) else np.concatenate(pixels)


def _chunks(count: int, size: int | None) -> list[list[int]]:
    size = size or count
    return [list(range(start, min(start + size, count))) for start in range(0, count, size)]


def _inspected_pixels(entry: dict, encoder, images: list[str], result: dict) -> None:
    """Where the family gives an `inspect_images(encoder, images)` hook (wrappers that
    preprocess inside `encode_image`), the pixels of every route are the ones it reads:
    each image alone, the same calls on both sides."""
    inspect = getattr(importlib.import_module(FAMILY_MODULES[entry["family"]]), "inspect_images", None)
    if inspect is None:
        return
    from PIL import Image

    items = []
    for path in images:
        with Image.open(path) as image:
            items.append(image.convert("RGB"))
    pixels, _ = inspect(encoder, items)
    for route in ROUTES:
        result[f"{route}_pixels"] = pixels


def _published(entry: dict, images: list[str], batches: list[list[str]], out: Path) -> dict:
    """What the published wrappers make of the inputs. An entry may name folders to import
    from (`published_path`: code the wrappers import from their uncommitted `third_party/`)
    and its family a `published_context(entry)` the embedding runs in."""
    family = importlib.import_module(FAMILY_MODULES[entry["family"]])
    sys.path[:0] = [path for path in entry.get("published_path", []) if path not in sys.path]
    context = getattr(family, "published_context", None)
    with context(entry) if context is not None else contextlib.nullcontext():
        return _published_embeddings(entry, images, batches, out)


def _published_embeddings(entry: dict, images: list[str], batches: list[list[str]], out: Path) -> dict:
    import numpy as np
    import torch

    image_encoder, text_encoder, batch_size = _published_encoders(entry, out)
    result = {"processor": _describe(_processor_of(image_encoder)),
              "dtype": next((_dtype_of(m) for m in _models_of(image_encoder)), None),
              "facts": _model_facts(entry, image_encoder)}
    for route in ROUTES:
        result[route], result[f"{route}_pixels"] = _published_images(image_encoder, images, route, batch_size)
    _inspected_pixels(entry, image_encoder, images, result)
    if text_encoder is not None:
        # the captions in the database loop's batches, each prompt ensemble whole
        captions, *ensembles = batches
        text_batches = [[captions[i] for i in chunk] for chunk in _chunks(len(captions), batch_size)] + ensembles
        with torch.no_grad():
            result["text"] = np.concatenate([text_encoder.encode_text(texts).float().cpu().numpy()
                                             for texts in text_batches])
    return result


def _model_facts(entry: dict, encoder) -> dict | None:
    """What the family's `model_facts(encoder)` hook reports of the loaded model, if it has one
    (VLM2Vec's: the adapter layers it holds)."""
    facts = getattr(importlib.import_module(FAMILY_MODULES[entry["family"]]), "model_facts", None)
    return None if facts is None else facts(encoder)


def _processor_of(encoder):
    """The transformers processor a wrapper preprocesses with (its own, its components', the
    embedder object's in them, or for BGE-VL the one the remote code keeps on the model),
    else its preprocessing callable."""
    components = getattr(encoder, "components", None)
    for holder in (encoder, components, getattr(components, "model", None), *_models_of(encoder)):
        if getattr(holder, "processor", None) is not None:
            return holder.processor
    return encoder.get_processor()


def _mars_zoo(entry: dict, name: str, images: list[str], batches: list[list[str]], out: Path) -> dict:
    import dataclasses

    import numpy as np

    from mars_zoo.embedding.cache import EmbeddingCache
    from mars_zoo.data.image_sources import FileImageSource
    from mars_zoo.data.images import PUBLISHED_PREPARATION
    from mars_zoo.data.types import DatasetRef
    from mars_zoo.embedding.embed import EmbedOptions, Embedder
    from mars_zoo.models.registry import load_registry
    from mars_zoo.core.reporting import Reporter

    # the tiny checkpoint's revision and width (and what else the family's job entry names of
    # it, e.g. the base model's commit); everything else is the registered model's
    spec = dataclasses.replace(load_registry().get(name), revision=entry["revision"],
                               embedding_dim=entry["embedding_dim"], **entry.get("spec", {}))
    embedder = Embedder(spec, "parity", EmbedOptions(), EmbeddingCache(out / "mars-zoo-cache" / name), Reporter())
    source = FileImageSource(images, [Path(p).name for p in images], fix="regenerate the parity inputs")
    dataset = DatasetRef("parity", "inputs", None, str(out))
    preparations = {"image": "none", "paired_image": PUBLISHED_PREPARATION}
    result = {}
    for route, preparation in preparations.items():
        result[route] = embedder.images(source, dataset, f"parity {route}s", preprocessing=preparation)
        transform = embedder.image_transform(preparation)
        result[f"{route}_pixels"] = None if transform is None else np.stack(
            [transform(source[i]).numpy() for i in range(len(source))])
    if spec.supports_text:
        result["text"] = embedder.texts([text for batch in batches for text in batch], "parity texts")
    encoder = embedder.encoder.get()
    _inspected_pixels(entry, encoder, images, result)
    result["processor"] = "; task 1: ".join(dict.fromkeys(
        _describe(embedder.image_transform(preparation) or _processor_of(encoder))
        for preparation in preparations.values()))
    result["dtype"] = next((_dtype_of(m) for m in _models_of(encoder)), None)
    result["facts"] = _model_facts(entry, encoder)
    return result


ARRAYS = ("image", "paired_image", "text", "image_pixels", "paired_image_pixels")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("side", choices=("published", "mars-zoo"))
    parser.add_argument("job", type=Path)
    options = parser.parse_args()
    job = json.loads(options.job.read_text())
    work, out = Path(job["work"]), Path(job["out"]) / options.side
    out.mkdir(parents=True, exist_ok=True)
    for family in sorted({entry["family"] for entry in job["models"].values()}):
        importlib.import_module(FAMILY_MODULES[family]).register_tiny_architectures(work)
    meta_path = out / "meta.json"
    # a later run for models of another published environment adds its models to the first run's
    meta = json.loads(meta_path.read_text()) if job.get("append") else {"versions": None, "models": {}}
    for name, entry in job["models"].items():
        if "error" in entry:  # the harness could not build its checkpoint
            meta["models"][name] = {"error": entry["error"]}
            continue
        try:
            if options.side == "published":
                result = _published(entry, job["images"], job["text_batches"], out)
            else:
                result = _mars_zoo(entry, name, job["images"], job["text_batches"], out)
        except Exception as exc:  # one model's failure is reported in the table, not fatal
            meta["models"][name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            continue
        arrays = {key: result[key] for key in ARRAYS if result.get(key) is not None}
        import numpy as np

        np.savez(out / f"{name.replace('/', '--')}.npz", **arrays)
        meta["models"][name] = {"processor": result["processor"], "dtype": result["dtype"], "facts": result["facts"],
                                "transformers": importlib.metadata.version("transformers")}
        if options.side == "published" and entry.get("published_fp32"):
            meta["models"][name]["fp32_instead_of"] = entry["published_fp32"]
    if not job.get("append"):
        meta["versions"] = _versions()
    meta_path.write_text(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
