"""The GPU throughput benchmark runs end to end on the CPU with a tiny architecture, so the
prepared script is known to work before a GPU machine runs it."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gpu_throughput.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300)


def test_cpu_mode_prints_both_sides_and_the_summary():
    done = _run("--arch", "mars-zoo-tiny-random", "--px", "64", "--tiles", "16", "--batch-size", "8",
                "--repeats", "1", "--skip-torchrun", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    summary = done.stdout.split("--- summary for benchmarks/README.md ---")[1]
    rates = {side: float(rate) for side, rate in re.findall(r"^(harness|bare): ([\d.]+) images/s", summary, re.M)}
    assert set(rates) == {"harness", "bare"} and all(rate > 0 for rate in rates.values())
    ratio = float(re.search(r"^harness / bare: ([\d.]+)$", summary, re.M).group(1))
    assert ratio == pytest.approx(rates["harness"] / rates["bare"], abs=0.01)
    assert "GPU utilisation n/a" in summary and "torchrun: skipped" in summary


def test_cuda_without_a_gpu_is_a_clear_error():
    done = _run("--device", "cuda", "--tiles", "1")
    assert done.returncode == 1
    assert "sees no CUDA device" in done.stderr and "Traceback" not in done.stderr
