"""One side of the parity harness, run in its own process: `python parity_driver.py SIDE JOB`.

SIDE `published` runs inside the published environment (PYTHONPATH = the pinned side
folder, then the published code) and builds each model exactly as the published
`main.py` does: task and model config merged, the script's command-line arguments
merged over them (`tools.utils._merge_args`), then `models.utils.build_image_encoder` /
`build_text_encoder`. Images go through the published cross-modal dataset's steps
(PIL open, convert("RGB"), the encoder's `collate_fn` or its processor, a stacked
batch) and texts through `encode_text` in the batches the published code uses.

SIDE `mars-zoo` loads the same model through its mars-zoo plugin and embeds the same
files and texts through mars-zoo's own embedding path (`mars_zoo.embed.Embedder`, file
decoding, the plugin's transform, the batch checks and L2 normalisation).

Each side writes, per model, `<out>/<side>/<model>.npz` (image and text embeddings,
fp32; the preprocessed pixels where the side exposes them) and `<out>/<side>/meta.json`
(library versions and locations, processor classes, errors). Both sides first make the
tiny architectures buildable (the family module's `register_tiny_architectures`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import traceback
from pathlib import Path

FAMILY_MODULES = {"openclip": "parity_openclip"}
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
    """Which preprocessing ran: the class (and for transformers processors the image
    processor's class, which names the slow or fast backend), or a transform's repr."""
    inner = getattr(processor, "image_processor", None)
    if inner is not None:
        return f"{type(processor).__name__}({type(inner).__name__})"
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
    random_seed(args.seed)
    device = torch.device("cpu")
    return build_image_encoder(args, device), build_text_encoder(args, device)


def _published(entry: dict, images: list[str], batches: list[list[str]], out: Path) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    image_encoder, text_encoder = _published_encoders(entry, out)
    pils = []
    for path in images:
        with Image.open(path) as image:
            pils.append(image.convert("RGB"))
    collate = getattr(image_encoder, "collate_fn", None)
    preprocess = image_encoder.get_processor()
    if collate is not None:
        batch, _ = collate(list(zip(pils, [Path(p).stem for p in images])))
    elif preprocess is not None:
        batch = torch.stack([preprocess(image) for image in pils], dim=0)
    else:
        batch = pils
    with torch.no_grad():
        image_emb = image_encoder.encode_image(batch).float().cpu().numpy()
        text_emb = np.concatenate([text_encoder.encode_text(texts).float().cpu().numpy() for texts in batches])
    return {"image": image_emb, "text": text_emb, "pixels": _pixels_of(batch),
            "processor": _describe(preprocess)}


def _mars_zoo(entry: dict, name: str, images: list[str], batches: list[list[str]], out: Path) -> dict:
    import dataclasses

    import numpy as np

    from mars_zoo.cache import EmbeddingCache
    from mars_zoo.data.image_sources import FileImageSource
    from mars_zoo.data.types import DatasetRef
    from mars_zoo.embed import EmbedOptions, Embedder
    from mars_zoo.registry import load_registry
    from mars_zoo.reporting import Reporter

    # the tiny checkpoint's revision and width; everything else is the registered model's
    spec = dataclasses.replace(load_registry().get(name), revision=entry["revision"],
                               embedding_dim=entry["embedding_dim"])
    embedder = Embedder(spec, "parity", EmbedOptions(), EmbeddingCache(out / "mars-zoo-cache" / name), Reporter())
    source = FileImageSource(images, [Path(p).name for p in images], fix="regenerate the parity inputs")
    image_emb = embedder.images(source, DatasetRef("parity", "inputs", None, str(out)), "parity images")
    texts = [text for batch in batches for text in batch]
    text_emb = embedder.texts(texts, "parity texts")
    transform = getattr(embedder.encoder.get(), "image_transform", None)
    pixels = None if transform is None else np.stack([transform(source[i]).numpy() for i in range(len(source))])
    return {"image": image_emb, "text": text_emb, "pixels": pixels, "processor": _describe(transform)}


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
    meta = {"versions": None, "models": {}}
    for name, entry in job["models"].items():
        try:
            if options.side == "published":
                result = _published(entry, job["images"], job["text_batches"], out)
            else:
                result = _mars_zoo(entry, name, job["images"], job["text_batches"], out)
        except Exception as exc:  # one model's failure is reported in the table, not fatal
            meta["models"][name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            continue
        arrays = {key: result[key] for key in ("image", "text", "pixels") if result[key] is not None}
        import numpy as np

        np.savez(out / f"{name.replace('/', '--')}.npz", **arrays)
        meta["models"][name] = {"processor": result["processor"]}
    meta["versions"] = _versions()
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
