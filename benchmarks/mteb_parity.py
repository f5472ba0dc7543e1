"""mars-zoo's `--paired-protocol mteb` against mteb 2.26.24's own evaluation, on the same data and weights.

    python benchmarks/mteb_parity.py [--model openclip/tiny-random|ops-mm/tiny-random] [--work DIR]
                                     [--device cpu|cuda] [--batch-size 32]

Offline (HF_HUB_OFFLINE=1) after a first run has installed mteb. What it does:

1. mteb 2.26.24 and what it needs beyond this environment (pytrec-eval-terrier, polars) are
   installed with `pip install --target --no-deps` into `<mars-zoo cache>/mteb-side/mteb-2.26.24`,
   once; the project's environment is never touched. mteb runs in a child process with that folder
   on PYTHONPATH, so nothing of it is imported here.
2. A frozen-pairs copy in the exact Hub layout of Cerru02/Mars-VL-Pairs-MTEB
   (`hub_format.write_pairs_frozen`): the mini benchmark's 48 pairs, then generated pairs up to
   the frozen copy's 2,247 rows, many of them odd images: transparency (RGBA, LA, a palette with a
   transparent colour), greyscale, 16-bit greyscale, CMYK, an EXIF-rotated JPEG, 1 to 3 px images
   and extreme aspect ratios. With exactly 2,247 rows mteb's own loader accepts it unchanged.
3. The weights: `openclip/tiny-random` as mars-zoo's plugin builds it, written as the Hub
   repository `mars-zoo/openclip-tiny-random` (open_clip_config.json with the plugin model's own
   preprocessing config, open_clip_model.safetensors) into a private Hugging Face cache; with
   `--model ops-mm/tiny-random`, the tiny Qwen2-VL behind Ops-MM's recipe as the repository
   `mars-zoo/ops-mm-tiny-random` (its save_pretrained folder).
4. mteb's side: `mteb.evaluate` of MarsVLPairsT2IRetrieval and MarsVLPairsI2TRetrieval with
   mteb's own OpenCLIP wrapper (`openclip_loader`, registered in mteb for the laion CLIP models),
   unmodified: it loads `hf-hub:mars-zoo/openclip-tiny-random` from that cache, exactly as it
   loads timm/ViT-L-16-SigLIP2-512. For Ops-MM, mteb's own `OpsMMEmbeddingWrapper` (the metadata
   of OpenSearch-AI/Ops-MM-embedding-v1-2B with the test repository's name and commit): it hands
   queries the task's instruction and documents "You are a helpful assistant.", as mars-zoo's
   `with_instruction` must. Only where the tasks read their data changes: each task's
   `metadata.dataset["path"]` is set to the local copy (its revision stays the pinned one), since
   `datasets` cannot read a Hub dataset offline. The same child also scores three tie-laden score
   matrices with mteb's `calculate_retrieval_scores` (pytrec_eval and MTEB's own MRR), the part
   of MTEB's rule a random model never reaches.
5. mars-zoo's side: `mars-zoo run MODEL --data-dir ... --tasks paired --paired-protocol mteb`
   with the same batch size (and on CUDA `--precision fp16` for OpenCLIP, since mteb's OpenCLIP
   wrapper runs under `torch.cuda.amp.autocast()`; bf16 for Ops-MM, whose wrapper loads the
   checkpoint's dtype there), and `mars_zoo.scoring.metrics` on the same tie matrices.
6. The instruction texts of the three instruction-aware wrappers (GME, Ops-MM, Qwen3-VL-Embedding)
   for both tasks and both sides, built by mteb's own wrapper code (no weights: see
   `parity_mteb_instructions.py`), against mars-zoo's `with_instruction` prompts. GME's and
   Qwen3-VL's wrappers cannot run here: GME's needs transformers < 4.52 (its `Encoder.forward`
   reads `base.model.embed_tokens`, which 5.x's Qwen2-VL no longer has), Qwen3-VL's loads the
   checkpoint through sentence-transformers' configuration files of the Hub repository
   (modules.json, sentence_bert_config.json with its chat-template settings), which a tiny model
   built here does not have and which are not known offline.

It prints both sides' R@1, R@10 (recall_at_1, recall_at_10) and MRR (mrr_at_2247) per direction and
the largest difference, then the instruction texts; exit status 0 when every number and every text
is equal (target: equal, to mteb's own rounding of recall to 5 decimals) and, for OpenCLIP, the two
image transforms are the same, else 1.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MTEB = "2.26.24"
# What mteb needs beyond this environment: pytrec_eval scores recall; polars is imported when mteb is
# (its compiled runtime, which this evaluation never calls, is left out: hence a warning at import).
SIDE_PACKAGES = (f"mteb=={MTEB}", "pytrec-eval-terrier==0.5.11", "polars==2.2.0")
TASKS = {"t2i": "MarsVLPairsT2IRetrieval", "i2t": "MarsVLPairsI2TRetrieval"}
METRICS = {"r1": "recall_at_1", "r10": "recall_at_10", "mrr": "mrr_at_2247"}
MODELS = ("openclip/tiny-random", "ops-mm/tiny-random")
HUB_REPOS = {"openclip/tiny-random": "mars-zoo/openclip-tiny-random", "ops-mm/tiny-random": "mars-zoo/ops-mm-tiny-random"}
# mteb's Ops-MM wrapper is registered in the metadata of this checkpoint.
MTEB_OPSMM_META = "ops_mm_embedding_v1_2b"
# mteb's OpenCLIP wrapper is registered only in the metadata of these checkpoints; a copy of one
# with the name and revision of the test repository loads the test weights through it.
MTEB_OPENCLIP_META = "CLIP_ViT_B_32_DataComp_XL_s13B_b90K"
ODD = ("rgba", "la", "palette-transparent", "grey", "grey16", "cmyk", "exif-rotated", "dot", "wide", "tall")


# --------------------------------------------------------------------------- 1. the side folder


def side_folder() -> Path:
    """mteb installed into the mars-zoo cache with `pip install --target` (once)."""
    from mars_zoo.core.folders import default_cache_dir

    folder = default_cache_dir() / "mteb-side" / f"mteb-{MTEB}"
    if (folder / "INSTALLED").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".installing-", dir=folder.parent))  # moved into place when complete
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(staging),
               *SIDE_PACKAGES]
    print("installing", " ".join(SIDE_PACKAGES), "into", folder, flush=True)
    subprocess.run(command, check=True)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)
    (folder / "INSTALLED").write_text("\n".join(SIDE_PACKAGES) + "\n")
    return folder


# --------------------------------------------------------------------------- 2. the data


def _pixels(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Smooth gradients, edges and noise, so that resizing and mode conversions show."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = rng.uniform(0, 6, 3)
    image = np.stack([127 + 120 * np.sin(x / (3 + c) + y / (5 + c) + phase[c]) for c in range(3)], axis=-1)
    image[(x // 7 + y // 5) % 2 == 0] *= 0.6
    return np.clip(np.rint(image + rng.normal(0, 10, image.shape)), 0, 255).astype(np.uint8)


def odd_image(kind: str, rng: np.random.Generator) -> bytes:
    """The encoded bytes of one odd image of `kind` (see ODD)."""
    from PIL import Image

    sizes = {"dot": (int(rng.integers(1, 4)), int(rng.integers(1, 4))), "wide": (int(rng.integers(300, 700)), 7),
             "tall": (9, int(rng.integers(200, 500)))}
    width, height = sizes.get(kind, (int(rng.integers(20, 160)), int(rng.integers(20, 160))))
    rgb = Image.fromarray(_pixels(rng, width, height), "RGB")
    alpha = Image.fromarray(_pixels(rng, width, height)[..., 0], "L")
    buffer = io.BytesIO()
    if kind == "rgba":
        rgb.putalpha(alpha)
        rgb.save(buffer, "PNG")
    elif kind == "la":
        grey = rgb.convert("L")
        grey.putalpha(alpha)
        grey.save(buffer, "PNG")
    elif kind == "palette-transparent":
        rgb.quantize(colors=32).save(buffer, "PNG", transparency=int(rng.integers(0, 32)))
    elif kind == "grey":
        rgb.convert("L").save(buffer, "PNG")
    elif kind == "grey16":
        Image.fromarray(_pixels(rng, width, height)[..., 0].astype(np.uint16) * 257).save(buffer, "PNG")
    elif kind == "cmyk":
        rgb.convert("CMYK").save(buffer, "JPEG", quality=90)
    elif kind == "exif-rotated":
        exif = Image.Exif()
        exif[0x0112] = int(rng.choice([3, 6, 8]))  # Orientation: rotated 180, 90 or 270 degrees
        rgb.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    else:
        rgb.save(buffer, "PNG")
    return buffer.getvalue()


WORDS = ("crater", "dune", "channel", "layered", "bright", "dark", "ejecta", "fan", "ridge", "mesa", "gully",
         "polygonal", "ice", "slope", "streak", "plain", "rim", "floor", "knob", "yardang")


def write_pairs(folder: Path, mini_frozen: Path, rows: int, seed: int = 5148) -> None:
    """The frozen-pairs copy: the mini benchmark's pairs, then generated ones (most of them odd
    images) up to `rows`, with unique keys and captions."""
    from datasets import load_dataset

    from mars_zoo.data import hub_format

    fields = ("key", "ori_caption", "refined_caption", "source_url", "resolved_url", "recovery_method")
    mini = load_dataset(str(mini_frozen), split="test")
    records = [{**{name: row[name] for name in fields}, "image": row["image"]["bytes"]}
               for row in mini.cast_column("image", mini.features["image"].__class__(decode=False))]
    rng = np.random.default_rng(seed)
    for index in range(len(records), rows):
        kind = ODD[index % len(ODD)] if index % 3 else "plain"
        caption = f"{kind} scene {index}: " + " ".join(rng.choice(WORDS, size=int(rng.integers(3, 12))))
        url = f"http://mteb-parity.invalid/{index}.img"
        records.append({"key": f"parity-{index:05d}", "image": odd_image(kind, rng), "ori_caption": caption,
                        "refined_caption": caption, "source_url": url, "resolved_url": url,
                        "recovery_method": "direct"})
    hub_format.write_pairs_frozen(folder, records)
    hub_format.write_readme(folder, "mteb parity pairs", "Generated test data in the layout of "
                            "Cerru02/Mars-VL-Pairs-MTEB (benchmarks/mteb_parity.py).", tags=("synthetic",))
    hub_format.mark_synthetic(folder)


# --------------------------------------------------------------------------- 3. the weights


def write_weights(hf_home: Path, model: str) -> str:
    """The plugin's tiny `model`, as a Hub repository in a private cache; its commit."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from parity_inputs import HubCache
    from safetensors.torch import save_file

    from mars_zoo.core.folders import default_cache_dir
    from mars_zoo.models.registry import load_registry

    spec = load_registry().get(model)
    if model != "openclip/tiny-random":
        folder = spec.loader.tiny.folder(default_cache_dir())
        return HubCache(hf_home).write(HUB_REPOS[model], lambda into: shutil.copytree(folder, into, dirs_exist_ok=True))
    encoder = spec.load("cpu", "fp32")
    model = encoder.model
    config = json.loads(importlib.import_module(type(encoder).__module__).TINY_CONFIG.read_text())
    open_clip_config = {"model_cfg": config, "preprocess_cfg": dict(model.visual.preprocess_cfg)}

    def fill(folder: Path) -> None:
        (folder / "open_clip_config.json").write_text(json.dumps(open_clip_config, indent=2))
        save_file({name: tensor.contiguous() for name, tensor in model.state_dict().items()},
                  str(folder / "open_clip_model.safetensors"))

    return HubCache(hf_home).write(HUB_REPOS[model], fill)


# --------------------------------------------------------------------------- tie cases


def tie_cases(seed: int = 7) -> list[dict]:
    """Score matrices with many ties (constant, a few levels, ties on the diagonal) and ids whose
    order is not the rows' order (mixed case, lengths, digits), for both sides' rankers."""
    rng = np.random.default_rng(seed)
    count = 37
    ids = [f"{rng.choice(['a', 'B', 'z', '10', '9', 'pair-', 'Z'])}{int(rng.integers(0, 1000))}-{i}"
           for i in range(count)]
    constant = np.full((count, count), 0.25, dtype=np.float32)
    levels = rng.integers(0, 3, (count, count)).astype(np.float32) / 4
    diagonal = rng.normal(0, 1, (count, count)).astype(np.float32)
    np.fill_diagonal(diagonal, np.float32(0.5))
    diagonal[rng.random((count, count)) < 0.3] = np.float32(0.5)
    return [{"name": name, "ids": ids, "scores": matrix.tolist()}
            for name, matrix in (("constant", constant), ("three levels", levels), ("ties with the match", diagonal))]


# --------------------------------------------------------------------------- 4. mteb's side (child)


def mteb_side(job: dict) -> dict:
    """Runs with the side folder on PYTHONPATH: mteb's own evaluation, and its scorer on the tie cases."""
    import mteb
    from mteb._evaluators.retrieval_metrics import calculate_retrieval_scores
    from mteb.models.model_implementations import openclip_models, ops_mm_models

    from parity_mteb_instructions import mteb_texts

    # The copy names the test repository, and no extras group: mteb pins open_clip_torch 2.31.0 for
    # it, while both sides here run this environment's open_clip. Ops-MM's copy declares images and
    # text only: its video modality would ask for torchcodec, which these tasks never use.
    source, update = (openclip_models, MTEB_OPENCLIP_META), {}
    if job["model"] != "openclip/tiny-random":
        source, update = (ops_mm_models, MTEB_OPSMM_META), {"modalities": ["image", "text"]}
    meta = getattr(*source).model_copy(update={"name": HUB_REPOS[job["model"]], "revision": job["revision"],
                                               "reference": None, "extra_requirements_groups": [], **update})
    tasks = mteb.get_tasks(tasks=list(TASKS.values()))
    for task in tasks:
        task.metadata.dataset["path"] = job["data"]  # a local copy of the repository, at the pinned revision
    model = meta.load_model(device=job["device"])
    results = mteb.evaluate(model, tasks, cache=None, show_progress_bar=False,
                            encode_kwargs={"batch_size": job["batch_size"], "show_progress_bar": False})
    scores = {result.task_name: result.scores["test"][0] for result in results.task_results}
    ties = []
    for case in job["ties"]:
        matrix, ids, directions = np.asarray(case["scores"], dtype=np.float32), case["ids"], {}
        for direction, rows in (("i2t", matrix), ("t2i", matrix.T)):
            run = {query: {doc: float(value) for doc, value in zip(ids, row)} for query, row in zip(ids, rows)}
            outcome = calculate_retrieval_scores(run, {pair: {pair: 1} for pair in ids}, [1, 10, len(ids)])
            directions[direction] = {"r1": outcome.recall["Recall@1"], "r10": outcome.recall["Recall@10"],
                                     "mrr": outcome.mrr[f"MRR@{len(ids)}"]}
        ties.append(directions)
    return {"mteb": mteb.__version__, "scores": {direction: {name: scores[TASKS[direction]][key]
                                                             for name, key in METRICS.items()}
                                                 for direction in TASKS},
            "transform": repr(getattr(model, "img_preprocess", None)), "ties": ties, "texts": mteb_texts()}


def run_mteb(side: Path, hf_home: Path, job: dict, work: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(side), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "MTEB_CACHE": str(work / "mteb-cache")}
    (work / "job.json").write_text(json.dumps(job))
    subprocess.run([sys.executable, __file__, "--mteb-side", str(work / "job.json"), str(work / "mteb.json")],
                   check=True, env=env)
    return json.loads((work / "mteb.json").read_text())


# --------------------------------------------------------------------------- 5. mars-zoo's side


def run_mars_zoo(data_root: Path, work: Path, model: str, device: str, batch_size: int, ties: list[dict]) -> dict:
    from mars_zoo.scoring import metrics
    from mars_zoo.tasks.mteb_protocol import MRR_CUTOFF, RECALL_DECIMALS
    from mars_zoo.models.registry import load_registry

    from parity_mteb_instructions import ours

    out = work / "mars-zoo.json"
    cuda_precision = "fp16" if model == "openclip/tiny-random" else "bf16"
    command = [sys.executable, "-m", "mars_zoo", "run", model, "--data-dir", str(data_root), "--tasks", "paired",
               "--paired-protocol", "mteb", "--out", str(out), "--cache-dir", str(work / "mars-zoo-cache"),
               "--batch-size", str(batch_size), "--device", device,
               "--precision", cuda_precision if device.startswith("cuda") else "fp32"]
    subprocess.run(command, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    paired = json.loads(out.read_text())["tasks"]["paired"]
    tied = []
    for case in ties:
        ranks = metrics.paired_ranks_by_id(np.asarray(case["scores"], dtype=np.float32), case["ids"])
        tied.append({direction: {name: metrics.mteb_rank_summary(values, RECALL_DECIMALS, MRR_CUTOFF)[name]
                                 for name in METRICS} for direction, values in ranks.items()})
    transform = getattr(load_registry().get(model).load("cpu", "fp32"), "image_transform", None)
    return {"scores": {direction: {name: paired["metrics"][direction][name] for name in METRICS}
                       for direction in TASKS},
            "items": paired["dataset"]["items"], "missing": paired["dataset"]["missing"],
            "instructions": paired.get("instructions"), "transform": repr(transform), "ties": tied, "texts": ours()}


# --------------------------------------------------------------------------- report


def largest_difference(ours: dict, theirs: dict) -> float:
    return max(abs(ours[d][name] - theirs[d][name]) for d in TASKS for name in METRICS)


def report(ours: dict, theirs: dict, ties: list[dict]) -> bool:
    from parity_mteb_instructions import report as report_texts

    print(f"\nmteb {theirs['mteb']} vs mars-zoo --paired-protocol mteb, {ours['items']} pairs "
          f"({len(ours['missing'])} missing on mars-zoo's side)")
    print(f"{'direction':10} {'metric':7} {'mteb':>22} {'mars-zoo':>22}")
    for direction in TASKS:
        for name, key in METRICS.items():
            print(f"{direction:10} {name:7} {theirs['scores'][direction][name]!r:>22} "
                  f"{ours['scores'][direction][name]!r:>22}   ({key})")
    gap = largest_difference(ours["scores"], theirs["scores"])
    print(f"largest difference: {gap!r}")
    gaps = [largest_difference(mine, mteb) for mine, mteb in zip(ours["ties"], theirs["ties"])]
    for case, tie_gap in zip(ties, gaps):
        print(f"tie case {case['name']!r} ({len(case['ids'])} pairs): largest difference {tie_gap!r}")
    # mean and std come back from open_clip_config.json as lists where the plugin has tuples
    same_transform = ours["transform"].replace("(", "[").replace(")", "]") == \
        theirs["transform"].replace("(", "[").replace(")", "]")
    if ours["transform"] == theirs["transform"] == "None":
        print("image transform: none on either side (the processor prepares the images)")
    else:
        print("image transform:", "the same" if same_transform else f"DIFFERENT\n  mteb: {theirs['transform']}\n"
                                                                      f"  mars-zoo: {ours['transform']}")
    print("instructions recorded by mars-zoo:", ours["instructions"])
    same_texts = report_texts(theirs["texts"], ours["texts"])
    return gap == 0 and not any(gaps) and same_transform and same_texts and not ours["missing"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODELS, default=MODELS[0], help="the tiny model both sides run")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    parser.add_argument("--batch-size", type=int, default=32, help="both sides' batch size (mteb's default: 32)")
    parser.add_argument("--mteb-side", nargs=2, metavar=("JOB", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mteb_side:
        job, out = (Path(path) for path in args.mteb_side)
        Path(out).write_text(json.dumps(mteb_side(json.loads(job.read_text()))))
        return 0
    os.environ["HF_HUB_OFFLINE"] = "1"
    from mars_zoo.core.folders import default_cache_dir
    from mars_zoo.data.mini import ensure_mini
    from mars_zoo.data.specs import PAIRS_FROZEN

    side = side_folder()
    work = args.work or Path(tempfile.mkdtemp(prefix="mteb-parity-"))
    data_root = work / "data"
    write_pairs(data_root / PAIRS_FROZEN.name, ensure_mini(default_cache_dir()) / PAIRS_FROZEN.name, PAIRS_FROZEN.rows)
    revision = write_weights(work / "hf", args.model)
    ties = tie_cases()
    job = {"data": str(data_root / PAIRS_FROZEN.name), "revision": revision, "batch_size": args.batch_size,
           "device": args.device, "ties": ties, "model": args.model}
    theirs = run_mteb(side, work / "hf", job, work)
    ours = run_mars_zoo(data_root, work, args.model, args.device, args.batch_size, ties)
    equal = report(ours, theirs, ties)
    print("equal" if equal else "NOT EQUAL", f"(work folder {work})")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
