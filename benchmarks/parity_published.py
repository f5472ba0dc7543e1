"""Parity with the published MarsRetrieval evaluation code: the same tiny checkpoint must
give the same embeddings through the published wrapper and through mars-zoo's plugin.

    python benchmarks/parity_published.py --published DIR [--families openclip hf_encoders mllm qwen_vl vlm2vec]
        [--models M ...] [--remote-code DIR] [--env pinned|current] [--mars-zoo-pillow current|published]
        [--published-precision fp32|as-published] [--json OUT] [--work DIR]

DIR is a checkout of the published code (github.com/ml-stat-Sustech/MarsRetrieval); it is
never copied into this repository. For every paper model of the chosen families the
harness builds a tiny random checkpoint of the real architecture, in the Hub's layout
(configs, weights, tokenizer and processor files), into a private Hugging Face cache; makes
images (PNG and JPEG, odd sizes, greyscale, palette, alpha) and texts (captions and the
protocol's three prompt templates); and embeds them on both sides, each in its own process
with HF_HUB_OFFLINE=1 and that cache as HF_HOME:

- published: PYTHONPATH = the side folder holding the published pins (`--env pinned`,
  installed once with pip into the mars-zoo cache; see parity_env.py), then DIR; the
  models are built as the published main.py builds them from the scripts' arguments
  (parity_driver.py). `--env current` runs the published code on this environment's
  libraries instead: comparing the two runs separates recipe differences from library
  version differences.
- mars-zoo: the model's plugin through mars-zoo's embedding path, in this environment
  (`--mars-zoo-pillow published`: with the published environment's Pillow alone first on its
  PYTHONPATH, so that what Pillow's resampling changes is told apart from the recipes).

Some published wrappers run code of the checkpoint's repository (`trust_remote_code=True`:
BGE-VL, AIMv2, GME, jina-embeddings-v4; files its instructions copy into `third_party/`:
Ops-MM, Qwen3-VL-Embedding) or of another one cloned there (VLM2Vec's `src/`, for VLM2Vec-V2.0
and B3++); it is not in this repository, and `--remote-code` gives it (see
parity_hf_encoders.py, parity_qwen_vl.py and parity_vlm2vec.py). A model whose published wrapper needs other
libraries than the pins runs in a published process of its own (GME: transformers 4.51.3).

It prints per model the max |difference| of the L2-normalised fp32 embeddings (images of tasks
2 and 3, task 1's images, texts; each where the model has them) and of the pixels the model
receives, for both kinds of images, and each side's image processor (class and backend) and
weight dtype. Images of tasks 2 and 3 are files, as the landform, tile and query loaders hand
them over; task 1's are the decoded images its dataset hands over (for most wrappers the same
thing; BGE-VL's re-encodes those as JPEG). The targets are
1e-4 on embeddings and 1e-6 on pixels; a model over one passes only with a documented cause
(CAUSES, with the size measured when it was documented). Exit status: 0 every model on target or explained,
1 a model missed it without a documented cause (or failed on a side), 2 a usage error,
3 a side's process or the pinned environment's install failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "parity_driver.py"
TARGET = 1e-4
PIXEL_TARGET = 1e-6
FAMILIES = {"openclip": "parity_openclip", "hf_encoders": "parity_hf_encoders", "mllm": "parity_mllm",
            "qwen_vl": "parity_qwen_vl", "vlm2vec": "parity_vlm2vec"}

# Documented differences above the targets: cause -> why, and per model the max |difference|
# of "image", "text" and "pixels" measured when it was documented (with `--env pinned`). A documented size covers a
# measurement up to twice it; more means something else moved.
CAUSES: dict[str, dict] = {
    "pillow-resample": {
        "why": (
            "Pillow 13.0 (this environment) resamples an image taller than wide whose width is "
            "enlarged and height reduced differently from Pillow 12.1.1 (the published environment): "
            "up to 8/255 per pixel here, on rgb_odd.png (333x517) squashed to a square by the SigLIP and "
            "PE transforms (resize_mode 'squash'). With --env current (the published code on this "
            "environment's libraries) pixels and embeddings are equal, so the recipes agree. Square "
            "task-1 images and landscape tiles are not affected."
        ),
        "models": {  # task 1's images are the same files here, so they measure the same
            "openclip/vit-l-16-siglip-384": {"image": 1.53e-4, "paired_image": 1.53e-4, "pixels": 4.71e-2,
                                             "paired_pixels": 4.71e-2},
            "openclip/vit-l-16-siglip2-512": {"image": 9.39e-5, "paired_image": 9.39e-5, "pixels": 6.27e-2,
                                              "paired_pixels": 6.27e-2},
            "openclip/pe-core-l-14-336": {"image": 1.12e-4, "paired_image": 1.12e-4, "pixels": 7.84e-3,
                                          "paired_pixels": 7.84e-3},
        },
    },
    "pillow-resample-anyres": {
        "why": (
            "Pillow 13.0 (this environment) resamples the 31x45 px small.png differently from Pillow "
            "12.1.1 (the published environment) when LLaVA-NeXT's image processor resizes it to its tile "
            "grid: 0.029 per normalised pixel there, the other seven images equal. transformers 5's "
            "PIL-based LlavaNextImageProcessorPil, which the E5-V plugin uses, gives the published "
            "4.57.3 LlavaNextImageProcessor's pixels exactly (0 difference on all eight images) when "
            "both run on Pillow 12.1.1, so the recipes agree; texts are equal."
        ),
        "models": {"e5-v/e5-v": {"image": 2.46e-4, "paired_image": 2.46e-4, "pixels": 2.92e-2,
                                 "paired_pixels": 2.92e-2}},
    },
    "pillow-resample-fetch-image": {
        "why": (
            "Pillow 13.0 (this environment) and Pillow 12.1.1 (the published environment) resample "
            "differently in the PIL resize to multiples of 28 or 32 that GME's fetch_image and qwen-vl-utils' "
            "fetch_image (Qwen3-VL-Embedding) make before the processor: up to 0.105 (GME: rgb_odd.png, "
            "grey.png, palette.png) and 0.055 (Qwen3-VL: rgb_wide.jpg, grey.png, grey.jpg) per normalised "
            "pixel, the other images equal. With --mars-zoo-pillow published (Pillow 12.1.1 alone on the "
            "mars-zoo side) pixels are equal on all eight images and embeddings within 1e-7, so the recipes "
            "agree."
        ),
        "models": {
            "gme/gme-qwen2-vl-2b-instruct": {"image": 4.26e-4, "paired_image": 4.26e-4, "pixels": 1.05e-1,
                                             "paired_pixels": 1.05e-1},
            "qwen3-vl/qwen3-vl-embedding-2b": {"paired_image": 7.72e-4, "pixels": 5.49e-2, "paired_pixels": 5.49e-2},
        },
    },
    "qwen-vl-utils-alpha": {
        "why": (
            "The landform, tile and query loaders hand Qwen3-VL-Embedding's wrapper file paths "
            "(use_path_inputs), and qwen-vl-utils' fetch_image opens them itself and mattes an RGBA image "
            "onto white; mars-zoo decodes every image of tasks 2 and 3 to RGB by dropping alpha "
            "(mars_zoo/data/decoding.py), as the published PIL conversion does for the other models. Only "
            "images with an alpha channel differ (alpha.png: 2.0 per normalised pixel, measured with the "
            "published Pillow on both sides; every other image equal); task 1's images, matted when "
            "prepared, agree. The measured size includes Pillow's (pillow-resample-fetch-image)."
        ),
        "models": {"qwen3-vl/qwen3-vl-embedding-2b": {"image": 1.81e-1}},
    },
    "pillow-resample-qwen2vl": {
        "why": (
            "Pillow 13.0 (this environment) and Pillow 12.1.1 (the published environment) resample three of "
            "the eight images differently when VLM2Vec's Qwen2-VL image processor resizes them to multiples of "
            "28 px (333x517 to 336x504, 257x263 to 252x252, 300x200 to 308x196: up to 8/255 per pixel, 0.12 per "
            "normalised pixel); the other five are equal. With --mars-zoo-pillow published (Pillow 12.1.1 alone "
            "on the mars-zoo side) pixels are equal on all eight images and image embeddings within 1e-6, so the "
            "recipes agree; texts are equal either way."
        ),
        "models": {
            "vlm2vec/vlm2vec-v2.0": {"image": 1.03e-2, "paired_image": 1.03e-2, "pixels": 1.20e-1,
                                     "paired_pixels": 1.20e-1},
            "b3/b3-qwen2-2b": {"image": 1.73e-3, "paired_image": 1.73e-3, "pixels": 1.20e-1, "paired_pixels": 1.20e-1},
        },
    },
    "published-bf16": {
        "why": (
            "Only with --published-precision as-published: Ops-MM's wrapper loads bf16 weights and jina's "
            "encode loop autocasts every forward pass to bf16, on every device, while the mars-zoo side of "
            "this CPU harness computes in fp32. With the default --published-precision fp32 (the harness "
            "loads Ops-MM's weights in fp32 and disables jina's autocast) both are within 1e-7, so the "
            "recipes agree; on a GPU mars-zoo runs both models in bf16 (their recommended precision), as "
            "the published runs did."
        ),
        "models": {
            "ops-mm/ops-mm-embedding-v1-2b": {"image": 3.11e-3, "paired_image": 3.11e-3, "text": 3.43e-3},
            "jina/jina-embeddings-v4": {"image": 1.40e-3, "paired_image": 1.40e-3, "text": 2.65e-3},
        },
    },
}

PUBLISHED_FILES = ("main.py", "models/utils.py", "configs/config_base.py", "tools/utils.py")


class UsageError(Exception):
    """A mistake in the command line (exit 2)."""


class SideFailed(Exception):
    """A side's process died or its environment could not be installed (exit 3); a model
    that fails on a side is a row of the table instead."""


def _family_module(family: str):
    import importlib

    return importlib.import_module(FAMILIES[family])


def _check_published(directory: Path) -> Path:
    missing = [name for name in PUBLISHED_FILES if not (directory / name).is_file()]
    if missing:
        raise UsageError(
            f"--published {directory} is not a checkout of the published MarsRetrieval code: it has no "
            f"{', '.join(missing)}. Fix: pass the folder that holds main.py, models/ and configs/ "
            f"(e.g. `git archive` of github.com/ml-stat-Sustech/MarsRetrieval unpacked outside this repository)."
        )
    return directory.resolve()


def _selected_models(families: list[str], models: list[str] | None) -> dict[str, list[str]]:
    """family -> its models to compare (all of the family's, or those named)."""
    chosen = {family: list(_family_module(family).MODELS) for family in families}
    if models:
        known = {model: family for family, names in chosen.items() for model in names}
        unknown = sorted(set(models) - set(known))
        if unknown:
            raise UsageError(f"--models: {', '.join(unknown)} not in the families {', '.join(families)}. "
                             f"Fix: choose from {', '.join(sorted(known))}.")
        chosen = {family: [m for m in names if m in models] for family, names in chosen.items()}
    return {family: names for family, names in chosen.items() if names}


def _check_remote_code(selected: dict[str, list[str]], root: Path | None) -> None:
    """Every model whose published wrapper runs remote code has it in `--remote-code`."""
    problems = [problem for family, names in selected.items()
                for problem in _family_module(family).remote_code_problems(names, root)]
    if problems:
        raise UsageError(
            f"The published wrappers of the chosen models run code of these repositories (Hub remote code, "
            f"trust_remote_code=True, or code the published instructions put in third_party/), which this harness "
            f"does not hold: {'; '.join(problems)}. Fix: put each one's files into DIR/<org>/<name>/ as said "
            f"(for Hub repositories their *.py files and config.json) and pass --remote-code DIR, or leave those "
            f"models out with --models."
        )


def _job(work: Path, selected: dict[str, list[str]], remote_code: Path | None, side: list[Path], env: str,
         precision: str) -> Path:
    """Tiny checkpoints into the private Hub cache, inputs, and the job file both sides read.
    A family builds what only the published environment runs (remote code) there: `side`
    is what that environment puts first on PYTHONPATH (`env`: "pinned" or "current"); a
    model whose published wrapper needs other libraries names its own (`pythonpath` in its
    job entry). `precision`: `--published-precision`."""
    from parity_inputs import HubCache, make_images, text_batches

    hub = HubCache(work / "hf")
    # remote code the builds import is cached there too, not in the user's Hugging Face folder
    os.environ["HF_MODULES_CACHE"] = str(work / "hf" / "modules")
    models = {}
    for family, names in selected.items():
        models.update(_family_module(family).build(
            work, hub, names, {"remote_code": remote_code, "pythonpath": side, "env": env, "precision": precision}))
    job = {
        "work": str(work), "out": str(work / "out"), "models": models,
        "images": [str(path) for path in make_images(work / "images")], "text_batches": text_batches(),
    }
    path = work / "job.json"
    path.write_text(json.dumps(job, indent=2))
    return path


def _run_published(job: Path, work: Path, side: list[Path], published: Path) -> None:
    """The published side, one process per published environment: the models whose job
    entries name their own `pythonpath` (GME's transformers 4.51.3) run in a second process
    that adds its models to the first one's results."""
    content = json.loads(job.read_text())
    groups: dict[tuple, dict] = {}
    for name, entry in content["models"].items():
        groups.setdefault(tuple(entry.get("pythonpath") or map(str, side)), {})[name] = entry
    for index, (pythonpath, models) in enumerate(groups.items()):
        part = job.with_name(f"{job.stem}-published-{index}.json")
        part.write_text(json.dumps({**content, "models": models, "append": index > 0}, indent=2))
        _run_side("published", part, work, [*map(Path, pythonpath), published])


def _published_pillow(work: Path) -> Path:
    """A folder holding only the published environment's Pillow (links into its side
    folder), to put first on the mars-zoo side's PYTHONPATH."""
    from parity_env import side_folder

    from mars_zoo.core.folders import default_cache_dir

    source, folder = side_folder(default_cache_dir()), work / "published-pillow"
    folder.mkdir(exist_ok=True)
    for path in [source / "PIL", source / "pillow.libs", *source.glob("pillow-*.dist-info")]:
        if path.exists() and not (folder / path.name).exists():
            (folder / path.name).symlink_to(path)
    return folder


def _run_side(side: str, job: Path, work: Path, pythonpath: list[Path]) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "HF_HUB_CACHE")}
    env.update(HF_HOME=str(work / "hf"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_HUB_DISABLE_TELEMETRY="1", TOKENIZERS_PARALLELISM="false",
               MARS_ZOO_CACHE=str(work / "mars-zoo-cache"))  # what the tiny names resolve to stays here
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in pythonpath)
    done = subprocess.run([sys.executable, str(DRIVER), side, str(job)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SideFailed(f"the {side} side failed (exit {done.returncode}):\n{done.stderr[-4000:]}")


def _max_difference(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| over rows L2-normalised in float64 (after the fp32 cast both sides make)."""
    def normalised(x):
        x = x.astype(np.float32).astype(np.float64)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return float(np.abs(normalised(a) - normalised(b)).max())


EMBEDDINGS = ("image", "paired_image", "text")
PIXELS = {"pixels": "image_pixels", "paired_pixels": "paired_image_pixels"}


def _compare(name: str, out: Path) -> dict:
    """One row: per embedding kind (tasks 2-3 images, task 1 images, texts) and per pixel
    batch the max |difference|, where the model has it on both sides; the processors and
    weight dtypes each side used."""
    row: dict = {"model": name}
    metas = {side: json.loads((out / side / "meta.json").read_text())["models"].get(name, {})
             for side in ("published", "mars-zoo")}
    row["processor"] = {side: meta.get("processor") for side, meta in metas.items()}
    row["dtype"] = {side: meta.get("dtype") for side, meta in metas.items()}
    row["transformers"] = {side: meta.get("transformers") for side, meta in metas.items()}
    facts = {side: meta["facts"] for side, meta in metas.items() if meta.get("facts") is not None}
    if facts:
        row["facts"] = facts
    if metas["published"].get("fp32_instead_of"):  # the harness made the published side compute in fp32
        row["published_fp32_instead_of"] = metas["published"]["fp32_instead_of"]
    errors = {side: meta["error"] for side, meta in metas.items() if "error" in meta}
    if errors:
        row["errors"] = errors
        return row
    published, ours = (np.load(out / side / f"{name.replace('/', '--')}.npz") for side in ("published", "mars-zoo"))
    for kind in EMBEDDINGS:
        if (kind in published) != (kind in ours):
            row["errors"] = {"shape": f"{kind}: only the {'published' if kind in published else 'mars-zoo'} side has it"}
            return row
        if kind not in published:
            continue
        if published[kind].shape[0] != ours[kind].shape[0]:
            row["errors"] = {"shape": f"{kind}: {published[kind].shape} vs {ours[kind].shape}"}
            return row
        row[kind] = _max_difference(published[kind], ours[kind])
    for column, kind in PIXELS.items():
        if kind in published and kind in ours:
            a, b = published[kind], ours[kind]
            row[column] = float(np.abs(a - b).max()) if a.shape == b.shape else f"shape {a.shape} vs {b.shape}"
    return row


def _explaining(model: str, modality: str, measured: float) -> str | None:
    """The documented cause that covers `measured` for `model` and `modality`, if any."""
    for cause, entry in CAUSES.items():
        documented = entry["models"].get(model, {}).get(modality)
        if documented is not None and measured <= 2 * documented:
            return cause
    return None


def _verdict(row: dict) -> str:
    """'ok', 'explained' (over a target, within a documented cause, named in row['causes'])
    or 'FAIL'. Pixels count where both sides expose them (a shape mismatch fails)."""
    if "errors" in row:
        return "FAIL"
    targets = {**{kind: TARGET for kind in EMBEDDINGS}, **{column: PIXEL_TARGET for column in PIXELS}}
    for what, target in targets.items():
        measured = row.get(what)
        if measured is None or (isinstance(measured, float) and measured <= target):
            continue
        cause = _explaining(row["model"], what, measured) if isinstance(measured, float) else None
        if cause is None:
            return "FAIL"
        row.setdefault("causes", {})[what] = cause
    return "explained" if row.get("causes") else "ok"


def _format(value) -> str:
    return f"{value:.2e}" if isinstance(value, float) else ("n/a" if value is None else str(value))


COLUMNS = (("image", "image"), ("paired_image", "task-1 img"), ("text", "text"), ("pixels", "pixels"),
           ("paired_pixels", "t-1 pixels"))


def _print_table(rows: list[dict]) -> None:
    print(f"{'model':40} " + " ".join(f"{title:>10}" for _, title in COLUMNS) + "  verdict")
    for row in rows:
        print(f"{row['model']:40} " + " ".join(f"{_format(row.get(key)):>10}" for key, _ in COLUMNS)
              + f"  {row['verdict']}")
        for side, error in row.get("errors", {}).items():
            print(f"    {side}: {error.splitlines()[0][:300]}")
        for what, cause in row.get("causes", {}).items():
            print(f"    {what}: documented cause {cause}: {CAUSES[cause]['why']}")
    for row in rows:
        for side in ("published", "mars-zoo"):
            facts = row.get("facts", {}).get(side)
            print(f"  {row['model']} {side}: {row['processor'].get(side)}; weights {row['dtype'].get(side)}; "
                  f"transformers {row['transformers'].get(side)}" + (f"; {json.dumps(facts)}" if facts else ""))
        if row.get("published_fp32_instead_of"):
            print(f"  {row['model']} published: computed in fp32 instead of the wrapper's "
                  f"{row['published_fp32_instead_of']} (--published-precision fp32)")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--published", type=Path, required=True, help="checkout of the published code")
    parser.add_argument("--families", nargs="+", default=sorted(FAMILIES), choices=sorted(FAMILIES))
    parser.add_argument("--models", nargs="+", help="only these models (mars-zoo names)")
    parser.add_argument("--env", choices=("pinned", "current"), default="pinned",
                        help="published side on its pinned libraries (default) or on this environment's")
    parser.add_argument("--json", type=Path, help="write the table here")
    parser.add_argument("--work", type=Path, help="keep checkpoints, inputs and outputs here (default: temporary)")
    parser.add_argument("--published-precision", choices=("fp32", "as-published"), default="fp32",
                        help="fp32 (default): the published side computes in fp32 where a wrapper hard-codes bf16 "
                             "(Ops-MM's weights, jina's autocast), so that recipes are compared; as-published: "
                             "leave those wrappers' bf16 as they are, to measure what it changes")
    parser.add_argument("--mars-zoo-pillow", choices=("current", "published"), default="current",
                        help="Pillow of the mars-zoo side: this environment's (default), or the published "
                             "environment's alone, which separates Pillow's resampling from the recipes")
    parser.add_argument("--remote-code", type=Path,
                        help="the Hub repositories' remote code, DIR/<org>/<name>/ (*.py and config.json), for the "
                             "models the published wrappers load with trust_remote_code=True")
    return parser.parse_args(argv)


def run(options: argparse.Namespace) -> int:
    published = _check_published(options.published)
    selected = _selected_models(options.families, options.models)
    _check_remote_code(selected, options.remote_code)
    side: list[Path] = []
    environment = {"env": options.env}
    if options.env == "pinned":
        from parity_env import PINS, side_folder

        from mars_zoo.core.folders import default_cache_dir

        side = [side_folder(default_cache_dir())]
        environment.update(side_folder=str(side[0]), pins=dict(PINS))
    with tempfile.TemporaryDirectory(prefix="mars-zoo-parity-") as temporary:
        work = (options.work or Path(temporary)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        job = _job(work, selected, options.remote_code, side, options.env, options.published_precision)
        environment["published_precision"] = options.published_precision
        _run_published(job, work, side, published)
        pillow = [_published_pillow(work)] if options.mars_zoo_pillow == "published" else []
        environment["mars_zoo_pillow"] = options.mars_zoo_pillow
        _run_side("mars-zoo", job, work, pillow)
        rows = [_compare(name, work / "out") for names in selected.values() for name in names]
        versions = {side_name: json.loads((work / "out" / side_name / "meta.json").read_text())["versions"]
                    for side_name in ("published", "mars-zoo")}
    for row in rows:
        row["verdict"] = _verdict(row)
    _print_table(rows)
    if options.json:
        from mars_zoo.core.atomic import atomic_write_bytes

        table = {"target": TARGET, "pixel_target": PIXEL_TARGET, "environment": environment,
                 "versions": versions, "causes": CAUSES, "models": rows}
        atomic_write_bytes(options.json, json.dumps(table, indent=2).encode())
    return 1 if any(row["verdict"] == "FAIL" for row in rows) else 0


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    from parity_env import SideEnvError

    try:
        return run(options)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (SideFailed, SideEnvError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
