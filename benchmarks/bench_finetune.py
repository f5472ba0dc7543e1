"""Training throughput through `mars-zoo finetune` against open_clip_train run directly.

    python benchmarks/bench_finetune.py [--model openclip/tiny-random] [--epochs 3] [--batch-size 64]
        [--repeats 3] [--device cpu] [--workers 0] [--precision fp32]

Both sides train the same base model on the same pairs with the same options: the pairs
and the base model are written once, as `mars-zoo finetune` writes them (`pairs_csv`,
the plugin's `training_base`), and the direct side runs `python -m open_clip_train.main`
with exactly the options `mars-zoo finetune` hands the engine (`engine_arguments`). Each
repeat runs the two sides in turn, each in a fresh process, so load on a shared machine
slows both alike.

The figure compared is the engine's own: the samples/s it logs for every step
(`--log-every-n-steps 1`, the last batch's time each), the median per epoch, then the
median over the epochs; the direct side's from its log, mars-zoo's from the training
record (`logged_samples_per_second`). Printed with the medians over the repeats, and the
ratio mars-zoo / direct (target: at least 0.95), beside each side's wall time (mars-zoo's
includes the contamination check and writing the weights folder).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.95
_RATE = re.compile(r"Train Epoch: (\d+) .*?, ([0-9.e+-]+)/s, ")


def _direct_rate(log: Path) -> float:
    """The median over epochs of the median samples/s of each epoch's logged steps."""
    epochs: dict[int, list[float]] = {}
    for match in _RATE.finditer(log.read_text(encoding="utf-8")):
        epochs.setdefault(int(match.group(1)), []).append(float(match.group(2)))
    return statistics.median(statistics.median(rates) for rates in epochs.values())


def _engine_settings(args, cache: Path, work: Path):
    """The engine's settings `mars-zoo finetune` would use, on pairs and a base model written here."""
    from mars_zoo.adapt.openclip_train import EngineSettings
    from mars_zoo.adapt.pairs_csv import export_pairs
    from mars_zoo.adapt.training_data import open_training_data
    from mars_zoo.models.registry import load_registry
    from mars_zoo.pipeline.settings import Settings, prepare_spec
    from mars_zoo.core.reporting import Reporter
    from mars_zoo_openclip.training_base import export_base
    from open_clip_train.params import get_default_params

    spec = prepare_spec(Settings(cache_dir=cache), load_registry().get(args.model), Reporter())
    pairs = export_pairs(open_training_data("mini", cache_dir=cache), cache, 0.0, 0)
    config = export_base(spec, work / "base")
    defaults = get_default_params(spec.checkpoint)
    steps = pairs.train_pairs // args.batch_size
    return EngineSettings(
        model=f"local-dir:{work / 'base'}", train=pairs.train, val=None, logs=work / "direct", epochs=args.epochs,
        lr=5e-4 if spec.random_weights else 1e-5, batch_size=args.batch_size, warmup=max(1, steps * args.epochs // 10),
        wd=0.2, precision=args.precision, workers=args.workers, seed=0, device=args.device,
        siglip="init_logit_bias" in config["model_cfg"], lock_image=False, lock_text=False,
        grad_checkpointing=False, log_every=1, optimizer_defaults={k: defaults[k] for k in ("beta1", "beta2", "eps")})


def _direct(settings, logs: Path) -> tuple[float, float]:
    from mars_zoo.adapt.openclip_train import RUN_NAME, engine_arguments

    arguments = engine_arguments(dataclasses.replace(settings, logs=logs))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "open_clip_train.main", *arguments], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _direct_rate(logs / RUN_NAME / "out.log"), time.perf_counter() - started


def _mars_zoo(args, settings, cache: Path, out: Path) -> tuple[float, float]:
    command = [sys.executable, "-m", "mars_zoo", "finetune", args.model, "--train", "mini", "--out", str(out),
               "--cache-dir", str(cache), "--epochs", str(settings.epochs), "--lr", repr(settings.lr),
               "--batch-size", str(settings.batch_size), "--warmup", str(settings.warmup), "--wd", repr(settings.wd),
               "--precision", settings.precision, "--device", settings.device, "--workers", str(settings.workers),
               "--seed", "0", "--log-every", "1"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    history = json.loads((out / "training.json").read_text())["config"]["history"]
    return statistics.median(epoch["logged_samples_per_second"] for epoch in history), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="openclip/tiny-random")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        root = Path(tmp)
        cache = root / "cache"
        settings = _engine_settings(args, cache, root)
        subprocess.run([sys.executable, "-m", "mars_zoo", "contamination", "mini", "--benchmark", "mini",
                        "--cache-dir", str(cache)], check=True, stdout=subprocess.DEVNULL)  # the index, built once
        direct, ours = [], []
        for repeat in range(args.repeats):
            direct.append(_direct(settings, root / f"direct-{repeat}"))
            ours.append(_mars_zoo(args, settings, cache, root / f"out-{repeat}"))
            print(f"repeat {repeat + 1}: open_clip_train {direct[-1][0]:.1f} samples/s ({direct[-1][1]:.1f} s), "
                  f"mars-zoo finetune {ours[-1][0]:.1f} samples/s ({ours[-1][1]:.1f} s)", flush=True)
    rate_direct, rate_ours = statistics.median(r for r, _ in direct), statistics.median(r for r, _ in ours)
    ratio = rate_ours / rate_direct
    print(f"{args.model}, {args.epochs} epochs of 384 pairs, batch {args.batch_size}, {args.device}, "
          f"{args.precision}, {args.workers} workers; medians of {args.repeats} repeats")
    print(f"open_clip_train directly: {rate_direct:.1f} samples/s, wall {statistics.median(w for _, w in direct):.1f} s")
    print(f"mars-zoo finetune:        {rate_ours:.1f} samples/s, wall {statistics.median(w for _, w in ours):.1f} s")
    print(f"ratio: {ratio:.3f} (target at least {TARGET})")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
