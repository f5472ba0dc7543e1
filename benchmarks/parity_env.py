"""The published code's environment, installed beside the project's (never into it).

The published evaluation pins transformers 4.57.3 and qwen-vl-utils 0.0.14 and asks for
at least some version of the rest (its requirements.txt). Its processors and tokenizers
differ from transformers 5's, so the wrappers must run on those versions to be the
published protocol. `side_folder` installs them with pip into a folder of the mars-zoo
cache keyed by the pins (`pip install --target`), once; the published side then runs
with that folder first on PYTHONPATH.

torch and torchvision are not installed there: the published code pins torch 2.8.0, a
2.5 GB download with its CUDA libraries, while the numerics compared here (tiny fp32
models on the CPU) depend on the preprocessing and recipe code, not on the torch build.
The project's torch and torchvision serve both sides, so a difference the harness
measures never comes from torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PUBLISHED_COMMIT_DATE = "2026-02-14"  # the published repository's first commit ("benchmark init")

# (requirement, why this version). Where requirements.txt gives only a lower bound, the
# pin is the last release before the published commit: a version that could have run it.
PINS = (
    ("transformers==4.57.3", "requirements.txt"),
    ("qwen-vl-utils==0.0.14", "requirements.txt"),
    ("open-clip-torch==3.2.0", ">=2.24.0 in requirements.txt; 3.3.0 came out 2026-02-26"),
    ("timm==1.0.24", ">=0.9.12 in requirements.txt; 1.0.25 came out 2026-02-23"),
    ("pillow==12.1.1", ">=9.5.0 in requirements.txt; 12.1.1 came out 2026-02-11, 12.2.0 2026-04-01"),
    ("peft==0.18.1", ">=0.15.2 in requirements.txt; 0.19.0 came out 2026-04-14"),
    ("accelerate==1.12.0", ">=0.28.0 in requirements.txt; 1.13.0 came out 2026-03-04"),
    ("sentencepiece>=0.1.99", "requirements.txt"),
    # imported by VLM2Vec's src/ (the published third_party/vlm2vec), which the VLM2Vec and
    # B3++ wrappers load
    ("scikit-image==0.26.0", "no version in requirements.txt; 0.27.0rc1 came out 2026-10-27"),
    ("scikit-learn==1.8.0", ">=1.2.0 in requirements.txt; 1.9.0 came out 2026-06-02"),
    ("opencv-contrib-python==4.13.0.92", "no version in requirements.txt; 5.0.0.93 came out 2026-07-02"),
    ("einops>=0.7.0", "requirements.txt"),
    ("numpy>=1.24.0", "requirements.txt"),
    ("tqdm>=4.65.0", "requirements.txt"),
)
# GME's remote code refuses transformers 4.52 and later; the published installation notes
# (docs/INSTALL in the published checkout) install transformers 4.51.3 over the pins to run
# it, so GME runs in a side folder of its own with that one pin changed.
GME_PINS = tuple(("transformers==4.51.3", "the published docs/INSTALL, for GME only")
                 if pin.startswith("transformers==") else (pin, why) for pin, why in PINS)
# Resolved with the pins but taken from the project's environment (see the docstring).
FROM_PROJECT = ("torch", "torchvision", "torchaudio", "triton")
FROM_PROJECT_PREFIXES = ("nvidia-", "cuda-")


class SideEnvError(RuntimeError):
    """pip could not resolve or install the published pins."""


def _key(pins: tuple) -> str:
    fields = {"pins": [pin for pin, _ in pins], "python": sys.version_info[:2], "from_project": FROM_PROJECT}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _pip(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SideEnvError(f"pip {' '.join(args[:2])} failed:\n{done.stderr[-3000:]}")
    return done


def _resolved(staging: Path, pins: tuple) -> list[str]:
    """Every distribution the pins need (pip's own resolution, as if nothing were
    installed), less those taken from the project."""
    report = staging / "pip-report.json"
    _pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
         *[pin for pin, _ in pins])
    chosen = []
    for item in json.loads(report.read_text())["install"]:
        name, version = item["metadata"]["name"].lower(), item["metadata"]["version"]
        if name in FROM_PROJECT or name.startswith(FROM_PROJECT_PREFIXES):
            continue
        chosen.append(f"{name}=={version}")
    report.unlink()
    return sorted(chosen)


def side_folder(cache_root: Path, pins: tuple = PINS) -> Path:
    """The folder holding `pins` (the published pins, or GME_PINS), installed on first
    use. Built in a staging folder and renamed into place when complete, so an
    interrupted install is never used."""
    folder = cache_root / "parity-env" / _key(pins)
    if (folder / "parity-env.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".staging-"))
    try:
        distributions = _resolved(staging, pins)
        _pip("install", "--quiet", "--no-deps", "--no-compile", "--target", str(staging), *distributions)
        record = {"pins": dict(pins), "installed": distributions, "from_project": list(FROM_PROJECT)}
        (staging / "parity-env.json").write_text(json.dumps(record, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
