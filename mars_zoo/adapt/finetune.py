"""`mars-zoo finetune MODEL --train DATA --out DIR`: a registered OpenCLIP model trained on
image-text pairs by open_clip_train, written as a weights folder `mars-zoo run MODEL
--weights DIR` evaluates as is.

In order: the training data is checked against every benchmark item a score depends on
(`contamination`), and refused when it holds any unless `allow_contaminated`; the pairs
are written in the form the engine reads (`pairs_csv`), the base model as the folder
open_clip's factory reads (the plugin's `training_base`); the engine trains
(`openclip_train`); the last checkpoint's weights and their training record
(`training.json`, mars_zoo.schema.training) appear in DIR by one rename, complete or not at all.

The engine's logs and epoch checkpoints live in a working folder of the mars-zoo cache
named by DIR, with the settings they belong to, so that the same command run again after
a kill resumes from the last finished epoch; another command aimed at the same DIR is
refused rather than mixed in. Under torchrun every rank runs this; rank 0 alone checks,
prepares and writes, and the ranks must share the cache folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mars_zoo.embedding.distributed import Ranks, check_shared_folder, process_group
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import Reporter, printable

if TYPE_CHECKING:  # pragma: no cover
    from mars_zoo.adapt.contamination import ContaminationReport
    from mars_zoo.models.model import ModelSpec
    from mars_zoo.models.registry import Registry

FAMILY = "openclip"
RUNS_DIR = "finetune-runs"
SETTINGS_FILE = "settings.json"
WEIGHTS_FILE = "open_clip_model.safetensors"
INSTALL_HINT = "pip install 'mars-zoo[finetune]'"
FINETUNE_LR = 1e-5  # pretrained weights: small steps keep what they know
SCRATCH_LR = 5e-4  # random weights (open_clip_train's own default, for training from scratch)
WARMUP_PART = 10  # the warm-up is a tenth of the steps, rounded up
CONTAMINATED_HINT = ("Fix: remove those pairs from the training data (mars-zoo contamination DATA --json OUT lists "
                     "every one), or pass --allow-contaminated to train on them anyway: the weights' training "
                     "record then says so, and the leaderboard marks their results contaminated.")


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """What to train, on what, how, and where the weights go; None: the default said in the CLI's help."""

    model: str
    train: str
    out: Path
    image_column: str = "image"
    caption_column: str = "caption"
    train_revision: str | None = None
    epochs: int = 10
    lr: float | None = None
    batch_size: int = 64
    warmup: int | None = None
    wd: float = 0.2
    precision: str | None = None
    device: str = "auto"
    workers: int | None = None
    seed: int = 0
    lock_image: bool = False
    lock_text: bool = False
    grad_checkpointing: bool = False
    val_split: float = 0.0
    allow_contaminated: bool = False
    log_every: int = 10
    benchmark: str | None = None  # the benchmark the data is checked against; None: mini for --train mini
    data_dir: Path | None = None
    tiles_dir: Path | None = None
    revisions: dict[str, str] = dataclasses.field(default_factory=dict)
    cache_dir: Path | None = None


@dataclasses.dataclass(frozen=True)
class Plan:
    """What rank 0 prepared and hands every rank: the engine's settings, and the parts of
    the training record known before training."""

    engine: Any  # openclip_train.EngineSettings
    steps_per_epoch: int
    work: Path
    record: dict[str, Any]


def finetune(config: FinetuneConfig, registry: "Registry", reporter: Reporter, ranks: Ranks = Ranks()) -> Path | None:
    """Train as `config` says; returns the weights folder (None on ranks other than 0)."""
    from mars_zoo.adapt.openclip_train import run_engine
    from mars_zoo.embedding.environment import resolve_device
    from mars_zoo.embedding.distributed import rank_device
    from mars_zoo.core.folders import default_cache_dir

    config = dataclasses.replace(config, cache_dir=config.cache_dir or default_cache_dir())
    spec = _openclip_spec(registry, config.model)
    _check_out(config.out)
    device = rank_device(resolve_device(config.device), ranks)
    # One process group for the whole run, the engine's too (torch cannot safely make a second
    # default group after the first in one launch): gloo for the harness's messages, NCCL for DDP on GPUs.
    with process_group(ranks, "cpu:gloo,cuda:nccl" if device.startswith("cuda") else "gloo"):
        check_shared_folder(ranks, config.cache_dir)
        plan = ranks.share(lambda: _prepare(config, spec, device, ranks, reporter))
        outcome = run_engine(plan.engine, reporter, plan.steps_per_epoch, ranks)
    if not ranks.leader:
        return None
    return _write_output(config, plan, outcome, reporter)


def _openclip_spec(registry: "Registry", name: str) -> "ModelSpec":
    spec = registry.get(name)
    if spec.family != FAMILY:
        models = ", ".join(s.name for s in registry if s.family == FAMILY)
        raise MarsZooError(f"mars-zoo finetune trains OpenCLIP models through open_clip_train; {spec.name} is of "
                           f"family {spec.family!r}. Fix: fine-tune one of {models}.")
    spec.require_available()
    try:
        import open_clip_train.main  # noqa: F401  (its data module needs webdataset and pandas)
    except ImportError as exc:
        raise MarsZooError(f"mars-zoo finetune needs open_clip_train's training dependencies ({exc.name} is not "
                           f"installed). Fix: {INSTALL_HINT}") from None
    return spec


def _check_out(out: Path) -> None:
    if out.is_dir() and any(out.iterdir()) or (out.exists() and not out.is_dir()):
        what = "a folder that is not empty" if out.is_dir() else "a file"
        raise MarsZooError(f"--out {printable(str(out))} is {what}; finetune writes the weights and their "
                           f"training record into a new folder. Fix: name a folder that does not exist yet.")
    if not out.parent.is_dir():
        raise MarsZooError(f"--out {printable(str(out))}: its parent folder does not exist. Fix: create it, or "
                           f"name a folder in an existing one.")


def _prepare(config: FinetuneConfig, spec: "ModelSpec", device: str, ranks: Ranks, reporter: Reporter) -> Plan:
    """Rank 0's part before training: the check, the data, the base model, the working folder."""
    from mars_zoo.adapt.contamination import contamination_report
    from mars_zoo.adapt.pairs_csv import export_pairs, held_out_count
    from mars_zoo.adapt.training_data import MINI_SOURCE, open_training_data
    from mars_zoo.data.benchmark import open_benchmark
    from mars_zoo.pipeline.settings import Settings, prepare_spec

    benchmark_name = config.benchmark or ("mini" if config.train == MINI_SOURCE else "marsretrieval")
    data = open_training_data(config.train, image_column=config.image_column, caption_column=config.caption_column,
                              revision=config.train_revision, cache_dir=config.cache_dir, reporter=reporter)
    benchmark = open_benchmark(benchmark_name, config.data_dir, config.tiles_dir, dict(config.revisions),
                               config.cache_dir, reporter)
    report = contamination_report(data, benchmark, reporter=reporter)
    _refuse_contaminated(report, config, reporter)
    spec = prepare_spec(Settings(cache_dir=config.cache_dir), spec, reporter)
    val_pairs = held_out_count(data.pairs, config.val_split)
    global_batch = config.batch_size * ranks.world_size
    steps = (data.pairs - val_pairs) // global_batch
    if steps < 1:
        raise MarsZooError(
            f"--batch-size {config.batch_size} on {ranks.world_size} rank(s) takes {global_batch} pairs a step, but "
            f"{printable(data.name)} has {data.pairs - val_pairs} pairs to train on (of {data.pairs}, {val_pairs} "
            f"held out by --val-split). Fix: lower --batch-size or --val-split, or train on more pairs."
        )
    pairs = export_pairs(data, config.cache_dir, config.val_split, config.seed, reporter)
    work = _work_folder(config)
    engine = _engine_settings(config, spec, device, ranks, pairs, work, steps)
    _claim(work, config, spec, data.fingerprint, engine)
    base = _export_base(spec, work / "base", reporter)
    engine = dataclasses.replace(engine, model=f"local-dir:{base}", siglip="init_logit_bias" in base_config(base))
    record = {
        "format": 1, "base_model": spec.name, "base_revision": spec.checkpoint_revision,
        "data": {"name": data.name, "revision": data.revision, "fingerprint": data.fingerprint,
                 "pairs": pairs.train_pairs},
        "config": _recorded_config(config, engine, benchmark_name, pairs),
        "contamination": report.record(), "allowed_contaminated": config.allow_contaminated,
    }
    return Plan(engine, steps, work, record)


def _refuse_contaminated(report: "ContaminationReport", config: FinetuneConfig, reporter: Reporter) -> None:
    if not report.contaminated:
        return
    found = "; ".join(f"{task}: " + ", ".join(f"{count} {kind}" for kind, count in counts.items() if count)
                      for task, counts in report.record()["tasks"].items() if any(counts.values()))
    example = report.examples[0]
    what = (f"Training data {printable(config.train)} holds benchmark items the scores depend on ({found}), in "
            f"{report.pairs_hit} training pair(s), e.g. pair {printable(example.training_key)} is a {example.kind} "
            f"copy of {printable(example.item)} ({example.part}).")
    if config.allow_contaminated:
        reporter.warn(f"{what} Training on it anyway (--allow-contaminated), as the training record will say.")
        return
    raise MarsZooError(f"{what} Weights trained on them would be scored on items they have seen. {CONTAMINATED_HINT}")


def _work_folder(config: FinetuneConfig) -> Path:
    """The engine's working folder for the weights folder `config.out`."""
    key = hashlib.sha256(str(config.out).encode("utf-8")).hexdigest()[:24]
    return config.cache_dir / RUNS_DIR / key


def _engine_settings(config: FinetuneConfig, spec: "ModelSpec", device: str, ranks: Ranks, pairs, work: Path,
                     steps: int):
    from open_clip_train.params import get_default_params

    from mars_zoo.adapt.openclip_train import EngineSettings
    from mars_zoo.embedding.environment import default_workers

    on_cuda = device.startswith("cuda")
    defaults = get_default_params(spec.checkpoint)  # the engine's rule, by the model's own name
    return EngineSettings(
        model="", train=pairs.train, val=pairs.val, logs=work / "logs", epochs=config.epochs,
        lr=config.lr if config.lr is not None else SCRATCH_LR if spec.random_weights else FINETUNE_LR,
        batch_size=config.batch_size,
        warmup=config.warmup if config.warmup is not None else -(-steps * config.epochs // WARMUP_PART),
        wd=config.wd, precision=config.precision or ("amp" if on_cuda else "fp32"),
        workers=config.workers if config.workers is not None else default_workers(device, ranks.local_world_size),
        seed=config.seed, device=device.partition(":")[0] if ranks.distributed else device, siglip=False,
        lock_image=config.lock_image, lock_text=config.lock_text, grad_checkpointing=config.grad_checkpointing,
        log_every=config.log_every, optimizer_defaults={k: defaults[k] for k in ("beta1", "beta2", "eps")},
        world_size=ranks.world_size,
    )


def _claim(work: Path, config: FinetuneConfig, spec: "ModelSpec", fingerprint: str, engine) -> None:
    """Start, or resume, the run in `work`: refused when it holds a run of other settings."""
    settings = {"out": str(config.out), "base_model": spec.name, "base_revision": spec.checkpoint_revision,
                "data": fingerprint, "val_split": config.val_split,
                **{key: value for key, value in dataclasses.asdict(engine).items()
                   if key not in ("model", "siglip", "log_every", "workers")}}
    settings = json.loads(json.dumps(settings, default=str))
    path = work / SETTINGS_FILE
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(key for key in set(before) | set(settings) if before.get(key) != settings.get(key))
        if changed:
            differences = ", ".join(f"{key} {before.get(key)!r} then, {settings.get(key)!r} now" for key in changed)
            raise MarsZooError(
                f"An unfinished fine-tuning run into {printable(str(config.out))} is in {work}, with other settings "
                f"({printable(differences)}). Fix: rerun that command unchanged to resume it, or delete {work} to "
                f"start this one afresh."
            )
        return
    from mars_zoo.core.atomic import atomic_write_bytes

    work.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(settings, indent=2) + "\n").encode("utf-8"))


def base_config(base: Path) -> dict:
    """The model config of an exported base folder."""
    from mars_zoo_openclip.training_base import CONFIG_FILE

    return json.loads((base / CONFIG_FILE).read_text(encoding="utf-8"))["model_cfg"]


def _export_base(spec: "ModelSpec", base: Path, reporter: Reporter) -> Path:
    """The base model as open_clip's `local-dir:` folder, written once per working folder."""
    from mars_zoo_openclip.training_base import export_base

    if base.is_dir():
        return base
    reporter.info(f"Exporting {spec.name} for open_clip_train")
    tmp = Path(tempfile.mkdtemp(prefix=".base-", dir=base.parent))
    try:
        export_base(spec, tmp)
        tmp.rename(base)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return base


def _recorded_config(config: FinetuneConfig, engine, benchmark: str, pairs) -> dict[str, Any]:
    import open_clip

    return {
        "engine": f"open_clip_train (open_clip_torch {open_clip.__version__})",
        "epochs": engine.epochs, "lr": engine.lr, "batch_size": engine.batch_size, "world_size": engine.world_size,
        "warmup_steps": engine.warmup, "wd": engine.wd, **engine.optimizer_defaults,
        "precision": engine.precision, "seed": engine.seed, "loss": "siglip" if engine.siglip else "clip",
        "lock_image": engine.lock_image, "lock_text": engine.lock_text,
        "grad_checkpointing": engine.grad_checkpointing, "val_split": config.val_split, "val_pairs": pairs.val_pairs,
        "contamination_benchmark": benchmark,
    }


def _write_output(config: FinetuneConfig, plan: Plan, outcome, reporter: Reporter) -> Path:
    """The last checkpoint's weights and the training record, in `config.out` by one rename."""
    import torch
    from safetensors.torch import save

    from mars_zoo.adapt.openclip_train import plain_state
    from mars_zoo.core.atomic import atomic_write_bytes
    from mars_zoo.schema.results_schema import schema_problems
    from mars_zoo.schema.training import TRAINING_FILE, TRAINING_SCHEMA, record_problems

    if outcome.rank_weights is not None and len(set(outcome.rank_weights)) > 1:
        raise MarsZooError(f"The ranks ended training with different weights ({', '.join(outcome.rank_weights)}), "
                           f"which DDP should make impossible. Fix: report it with the command; the checkpoints are "
                           f"in {plan.work}.")
    checkpoint = torch.load(outcome.checkpoint, map_location="cpu", weights_only=True)
    if checkpoint["epoch"] != plan.engine.epochs:
        raise RuntimeError(f"{outcome.checkpoint} is of epoch {checkpoint['epoch']}, not {plan.engine.epochs}")
    record = json.loads(json.dumps(plan.record))
    record["config"]["history"] = outcome.history
    record["config"]["rank_weights_sha256"] = outcome.rank_weights
    problems = sorted(schema_problems(record, TRAINING_SCHEMA)) or list(record_problems(record, []))
    if problems:
        raise RuntimeError(f"the training record is invalid: {'; '.join(map(str, problems))}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{config.out.name}-", dir=config.out.parent))
    try:
        atomic_write_bytes(tmp / WEIGHTS_FILE, save(plain_state(checkpoint["state_dict"])))
        atomic_write_bytes(tmp / TRAINING_FILE, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
        tmp.chmod(0o755)  # mkdtemp's 0700 would keep the weights from everyone else
        if config.out.is_dir():
            config.out.rmdir()  # empty (checked before training)
        tmp.rename(config.out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(plan.work, ignore_errors=True)
    reporter.info(f"Weights and training record written to {config.out}")
    return config.out
