"""open_clip_train, open_clip's own training engine, run in this process.

`run_engine` calls `open_clip_train.main.main` with the options of a fine-tuning run
(`EngineSettings`), so the training itself (contrastive or SigLIP loss, AdamW with
warm-up and a cosine schedule, AMP, gradient checkpointing, tower locking, DDP across
torchrun ranks, epoch checkpoints and `--resume latest`) is the engine's, unchanged. What
runs around it, through hooks on the engine's module for the length of the call:

- its logging goes to the mars-zoo reporter (progress with loss and samples/s) and to its
  log file, instead of the root logger's stderr handler the engine would add;
- each epoch (`train_one_epoch`) is timed and recorded (`history.jsonl` beside the
  engine's own `results.jsonl`, so a resumed run keeps the epochs before the kill), and
  the trained model is kept, so every rank can say which weights it ended with;
- under torchrun it joins the process group the ranks already share (`init_distributed_device`
  would make a second default group, whose rendezvous can read the first one's stale
  addresses), on the GPU of its LOCAL_RANK as the engine places it;
- on the CPU, DistributedDataParallel gets no `device_ids`: the engine passes
  `[device]`, which torch accepts only for GPU modules, so gloo ranks could not train.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from mars_zoo.embedding.distributed import Ranks
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import Reporter

RUN_NAME = "train"  # the engine's --name: its folder under the logs folder
HISTORY_FILE = "history.jsonl"
LATEST_CHECKPOINT = "epoch_latest.pt"  # --save-most-recent's file, replaced atomically each epoch
LOG_FORMAT = "%(asctime)s | %(levelname)s | %(message)s"  # the engine's own
_TRAIN_LINE = re.compile(r"Train Epoch: (\d+) \[\s*(\d+)/(\d+) .*? ([0-9.e+-]+)/s, .* Loss: ([0-9.e+-]+) "
                         r"\(([0-9.e+-]+)\)")
_EVAL_LINE = re.compile(r"Eval Epoch: (\d+) .*image_to_text_R@1: ([0-9.]+).*text_to_image_R@1: ([0-9.]+)")


@dataclass(frozen=True)
class EngineSettings:
    """One training run as the engine's options say it."""

    model: str  # open_clip's model name: here 'local-dir:<folder>' of the exported base model
    train: Path  # the training table
    val: Path | None  # the held-out table, scored after every epoch
    logs: Path  # the engine's --logs folder
    epochs: int
    lr: float
    batch_size: int  # per rank
    warmup: int  # steps
    wd: float
    precision: str
    workers: int
    seed: int
    device: str
    siglip: bool
    lock_image: bool
    lock_text: bool
    grad_checkpointing: bool
    log_every: int  # steps between progress reports
    optimizer_defaults: dict[str, float]  # beta1, beta2, eps: open_clip_train's by the base model's name
    world_size: int = 1

    @property
    def run_folder(self) -> Path:
        return self.logs / RUN_NAME

    @property
    def latest_checkpoint(self) -> Path:
        return self.run_folder / "checkpoints" / LATEST_CHECKPOINT


def engine_arguments(settings: EngineSettings) -> list[str]:
    """open_clip_train's command line for `settings`."""
    args = [
        "--model", settings.model, "--train-data", str(settings.train), "--dataset-type", "csv",
        "--csv-separator", "\t", "--csv-img-key", "filepath", "--csv-caption-key", "title",
        "--logs", str(settings.logs), "--name", RUN_NAME, "--resume", "latest",
        "--save-most-recent", "--save-frequency", "0", "--epochs", str(settings.epochs),
        "--lr", repr(settings.lr), "--batch-size", str(settings.batch_size), "--warmup", str(settings.warmup),
        "--wd", repr(settings.wd), "--precision", settings.precision, "--workers", str(settings.workers),
        "--seed", str(settings.seed), "--device", settings.device, "--log-every-n-steps", str(settings.log_every),
        "--report-to", "",
    ]
    for name, value in settings.optimizer_defaults.items():
        args += [f"--{name}", repr(value)]
    if settings.val is not None:
        args += ["--val-data", str(settings.val), "--val-frequency", "1"]
    flags = {"--siglip": settings.siglip, "--lock-image": settings.lock_image, "--lock-text": settings.lock_text,
             "--grad-checkpointing": settings.grad_checkpointing,
             # every rank's features in every rank's loss, the gradients of its own: open_clip's multi-GPU recipe
             "--local-loss": settings.world_size > 1, "--gather-with-grad": settings.world_size > 1}
    return args + [flag for flag, on in flags.items() if on]


@dataclass(frozen=True)
class EngineOutcome:
    """What a finished run left: its last checkpoint, its epochs, and the digest of the
    weights each rank ended with (None where this call trained no epoch: a rerun after
    the last checkpoint was written)."""

    checkpoint: Path
    history: list[dict[str, Any]]
    rank_weights: list[str] | None


def weights_digest(state_dict: dict) -> str:
    """sha256 of the weights as `open_clip_model.safetensors` holds them, 'module.' of DDP removed."""
    from safetensors.torch import save

    return hashlib.sha256(save(plain_state(state_dict))).hexdigest()


def plain_state(state_dict: dict) -> dict:
    """The state dict with DDP's 'module.' prefix removed, every tensor contiguous on the CPU."""
    return {name.removeprefix("module."): tensor.detach().cpu().contiguous() for name, tensor in state_dict.items()}


class _Progress(logging.Handler):
    """The engine's log lines, as progress: steps done, and per epoch its loss and samples/s."""

    def __init__(self, advance, steps_per_epoch: int, reporter: Reporter) -> None:
        super().__init__(logging.INFO)
        self.advance = advance
        self.steps_per_epoch = steps_per_epoch
        self.reporter = reporter
        self.done = None  # steps counted so far, from the first line seen (a resumed run starts mid-way)
        self.loss: float | None = None  # the running mean loss of the last step logged
        self.rates: list[float] = []  # samples/s of the steps logged in this epoch

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        train = _TRAIN_LINE.search(message)
        if train:
            epoch, seen, total = int(train.group(1)), int(train.group(2)), int(train.group(3))
            step = epoch * self.steps_per_epoch + round(self.steps_per_epoch * seen / max(total, 1))
            if self.done is None:
                self.done = epoch * self.steps_per_epoch
            self.advance(max(0, step - self.done))
            self.done = max(self.done, step)
            self.loss = float(train.group(6))
            self.rates.append(float(train.group(4)))
        scored = _EVAL_LINE.search(message)
        if scored:
            self.reporter.info(f"epoch {scored.group(1)}: held-out pairs, image-to-text R@1 "
                               f"{float(scored.group(2)):.4f}, text-to-image R@1 {float(scored.group(3)):.4f}")


class _Hooks:
    """The engine's module during one run (see the module's docstring)."""

    def __init__(self, settings: EngineSettings, reporter: Reporter, progress: _Progress, leader: bool) -> None:
        self.settings = settings
        self.reporter = reporter
        self.progress = progress
        self.leader = leader
        self.model = None
        self.handlers: list[logging.Handler] = []

    def setup_logging(self, log_file, level, include_host=False) -> None:
        logging.root.setLevel(level)
        self.handlers = [self.progress]
        if log_file:
            file_handler = logging.FileHandler(log_file)
            file_handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%d,%H:%M:%S"))
            self.handlers.append(file_handler)
        for handler in self.handlers:
            logging.root.addHandler(handler)

    def train_one_epoch(self, train_one_epoch, model, data, loss, epoch, optimizer, *args, **kwargs):
        started = time.perf_counter()
        self.progress.rates = []
        train_one_epoch(model, data, loss, epoch, optimizer, *args, **kwargs)
        seconds = time.perf_counter() - started
        self.model = model
        if not self.leader:
            return
        loader = data["train"].dataloader
        samples = loader.num_batches * self.settings.batch_size * self.settings.world_size
        entry = {"epoch": epoch + 1, "loss": self.progress.loss, "seconds": round(seconds, 3),
                 "samples_per_second": round(samples / seconds, 2) if seconds > 0 else None,
                 # the engine's own figure: the median over the steps it logged (the last batch's time each)
                 "logged_samples_per_second": statistics.median(self.progress.rates) if self.progress.rates else None}
        with open(self.settings.run_folder / HISTORY_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        self.reporter.info(f"epoch {epoch + 1}/{self.settings.epochs}: loss {entry['loss']:.4f}, "
                           f"{entry['samples_per_second']:.1f} samples/s")


@contextlib.contextmanager
def _replaced(owner, name: str, value) -> Iterator[None]:
    previous = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, previous)


def _cpu_ddp():
    """DistributedDataParallel that, on the CPU, drops the engine's `device_ids` (see the module's docstring)."""
    import torch

    class CpuDistributedDataParallel(torch.nn.parallel.DistributedDataParallel):
        def __init__(self, module, device_ids=None, **kwargs):
            super().__init__(module, device_ids=None, **kwargs)

    return CpuDistributedDataParallel


def _join_process_group(args):
    """The engine's `init_distributed_device`, for ranks already in a process group."""
    import torch
    import torch.distributed as dist

    args.distributed, args.world_size, args.rank = True, dist.get_world_size(), dist.get_rank()
    args.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if args.device.startswith("cuda"):
        args.device = f"cuda:{args.local_rank}"
        torch.cuda.set_device(args.device)
    return torch.device(args.device)


def run_engine(settings: EngineSettings, reporter: Reporter, steps_per_epoch: int, ranks: Ranks) -> EngineOutcome:
    """Train as `settings` say, resuming from the last epoch checkpoint in `settings.logs`;
    `ranks` are in their process group already (`mars_zoo.embedding.distributed.process_group`)."""
    import torch
    import open_clip_train.main as engine

    total = steps_per_epoch * settings.epochs
    with reporter.progress("Fine-tuning (open_clip_train)", total) as advance, contextlib.ExitStack() as stack:
        progress = _Progress(advance, steps_per_epoch, reporter)
        hooks = _Hooks(settings, reporter, progress, ranks.leader)
        original = engine.train_one_epoch
        stack.enter_context(_replaced(engine, "setup_logging", hooks.setup_logging))
        stack.enter_context(_replaced(engine, "train_one_epoch",
                                      lambda *a, **k: hooks.train_one_epoch(original, *a, **k)))
        if ranks.distributed:
            stack.enter_context(_replaced(engine, "init_distributed_device", _join_process_group))
        if settings.device == "cpu":
            stack.enter_context(_replaced(torch.nn.parallel, "DistributedDataParallel", _cpu_ddp()))
        level, handlers = logging.root.level, logging.root.handlers[:]
        logging.root.handlers = []  # the engine's lines go where setup_logging says, not to an earlier handler
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message=".*pin_memory.*")  # the engine pins memory on the CPU too
        warnings.filterwarnings("ignore", message=".*all_gather is deprecated.*")  # open_clip's loss, on 2+ ranks
        try:
            status = engine.main(engine_arguments(settings))
        except torch.OutOfMemoryError as exc:
            raise MarsZooError(
                f"Training ran out of {settings.device} memory at --batch-size {settings.batch_size} "
                f"({' '.join(str(exc).split())[:200]}). Fix: lower --batch-size, add --grad-checkpointing, or "
                f"--lock-image; rerun the same command otherwise unchanged to resume from the last epoch."
            ) from None
        finally:
            for handler in hooks.handlers:
                handler.close()
            logging.root.handlers = handlers
            logging.root.setLevel(level)
    if status is not None and status != 0:
        raise MarsZooError(f"open_clip_train refused the run (status {status}); its log is in "
                           f"{settings.run_folder}. Fix: see the log's last lines.")
    rank_weights = _rank_weights(hooks.model, ranks)
    return EngineOutcome(settings.latest_checkpoint, read_history(settings.run_folder), rank_weights)


def _rank_weights(model, ranks: Ranks) -> list[str] | None:
    """Every rank's `weights_digest` of the model it trained, in rank order."""
    mine = None if model is None else weights_digest(getattr(model, "module", model).state_dict())
    every = ranks.gather(mine)
    return None if None in every else every


def read_history(run_folder: Path) -> list[dict[str, Any]]:
    """The epochs trained (the last record of each, should a killed epoch have been trained
    again), with the engine's held-out scores of each where it made them."""
    epochs: dict[int, dict[str, Any]] = {}
    path = run_folder / HISTORY_FILE
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            epochs[entry["epoch"]] = entry
    scores = run_folder / "checkpoints" / "results.jsonl"
    if scores.is_file():
        for line in scores.read_text(encoding="utf-8").splitlines():
            metrics = json.loads(line)
            epoch = int(metrics.pop("epoch"))
            if epoch in epochs:
                epochs[epoch]["val"] = {name: float(value) for name, value in metrics.items()}
    return [epochs[epoch] for epoch in sorted(epochs)]
