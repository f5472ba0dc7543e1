"""What the parity harness feeds both sides: a private Hugging Face Hub cache holding the
tiny checkpoints, and the images and texts to embed."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from mars_zoo.core.protocol import GEO_LANDFORMS, geo_query_name, landform_query_name, prompts_for


# Files loaders ask for whether or not a repository has them. Online, the Hub answers
# 404 for a missing one and huggingface_hub records that in .no_exist/<commit>/<name>;
# offline, transformers reads that record to know a file is absent rather than merely
# not downloaded (without it, `AutoTokenizer.from_pretrained` fails on config.json).
PROBED_FILES = (
    "config.json", "generation_config.json", "preprocessor_config.json", "processor_config.json",
    "video_preprocessor_config.json", "chat_template.json", "chat_template.jinja", "added_tokens.json",
    "special_tokens_map.json", "tokenizer_config.json", "tokenizer.json", "tokenizer.model", "spiece.model",
    "vocab.json", "merges.txt", "vocab.txt", "adapter_config.json", "model.safetensors",
    "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
    "open_clip_config.json", "open_clip_model.safetensors", "open_clip_pytorch_model.bin",
)


class HubCache:
    """A Hugging Face Hub cache (`HF_HOME/hub`) laid out exactly as huggingface_hub lays out
    a download: models--org--name/snapshots/<commit>/<files>, refs/main naming the
    commit, and .no_exist/<commit>/<name> for each of PROBED_FILES the repository lacks.
    With HF_HUB_OFFLINE=1 a name (`from_pretrained("org/name")`, an open_clip
    `hf-hub:org/name`, a pretrained tag's `hf_hub`) resolves to these files, at `main` or
    at the commit, with no change to the code that asks."""

    def __init__(self, hf_home: Path) -> None:
        self.hf_home = hf_home
        self.root = hf_home / "hub"

    def write(self, repo: str, fill: Callable[[Path], None], commit: str | None = None) -> str:
        """Fill a snapshot of `repo` with `fill(folder)` and make it the repository's
        `main`; return its commit: `commit` where the code that reads it asks for a
        pinned revision, else a hash of the files (equal contents, equal commits)."""
        repo_dir = self.root / f"models--{repo.replace('/', '--')}"
        (repo_dir / "snapshots").mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=repo_dir, prefix=".staging-"))
        try:
            fill(staging)
            commit = commit or _tree_sha1(staging)
            target = repo_dir / "snapshots" / commit
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        (repo_dir / "refs").mkdir(exist_ok=True)
        (repo_dir / "refs" / "main").write_text(commit)
        absent = repo_dir / ".no_exist" / commit
        absent.mkdir(parents=True, exist_ok=True)
        for name in PROBED_FILES:
            if not (target / name).exists():
                (absent / name).touch()
        return commit


def _tree_sha1(folder: Path) -> str:
    digest = hashlib.sha1()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# (file name, width, height, PIL mode, format, save options): odd sizes on both sides of
# every model's input size, greyscale, palette and alpha, PNG and JPEG.
IMAGES = (
    ("rgb_odd.png", 333, 517, "RGB", "PNG", {}),
    ("rgb_q95.jpg", 512, 512, "RGB", "JPEG", {"quality": 95}),
    ("rgb_wide.jpg", 701, 389, "RGB", "JPEG", {"quality": 90}),
    ("grey.png", 257, 263, "L", "PNG", {}),
    ("grey.jpg", 97, 131, "L", "JPEG", {"quality": 95}),
    ("small.png", 31, 45, "RGB", "PNG", {}),
    ("palette.png", 300, 200, "P", "PNG", {}),
    ("alpha.png", 224, 336, "RGBA", "PNG", {}),
)


def _pixels(width: int, height: int, seed: int) -> np.ndarray:
    """A deterministic 8-bit RGB array with smooth gradients, edges and noise, so that
    resampling, cropping and normalisation differences all show in the pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [
        127.5 + 127.5 * np.sin(x / (7 + 3 * c) + y / (11 + 2 * c) + c) for c in range(3)
    ]
    image = np.stack(channels, axis=-1)
    image[(x // 17 + y // 13) % 2 == 0] *= 0.6  # hard edges
    image += rng.normal(0, 12, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def make_images(folder: Path) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed, (name, width, height, mode, fmt, options) in enumerate(IMAGES):
        image = Image.fromarray(_pixels(width, height, seed), "RGB")
        if mode == "P":
            image = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT)
        elif mode == "RGBA":
            alpha = Image.fromarray(_pixels(width, height, seed + 100)[..., 0], "L")
            image.putalpha(alpha)
        else:
            image = image.convert(mode)
        image.save(folder / name, format=fmt, **options)
        paths.append(folder / name)
    return paths


CAPTIONS = (
    "A crater with layered ejecta on a dusty plain.",
    "Dark sand dunes, barchan shaped, moving east across the floor of a large crater",
    "ALLUVIAL FAN at the mouth of a channel — bright, fine-grained deposits; 3.2 km wide.",
    "   ",  # only whitespace: kept by the published row rule
    "gullies",
    " ".join(["A very long caption that runs past every model's context length."] * 12),
    "Écoulement fluvial ancien près de Jezero (café, naïve) — 火星の峡谷",
)


def text_batches() -> list[list[str]]:
    """The texts, grouped as the published code batches them: the captions together
    (task 1), then the three prompts of each concept together (tasks 2 and 3)."""
    concepts = [geo_query_name(name) for name in GEO_LANDFORMS]
    concepts += [landform_query_name(name) for name in ("glacier-like_form", "dark_slope_streak")]
    return [list(CAPTIONS), *(prompts_for(concept) for concept in dict.fromkeys(concepts))]
