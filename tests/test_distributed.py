"""Several torch.distributed ranks (gloo, on the CPU) embedding into one cache: the same
metrics as one process, every shard computed once, and a killed run resumed with
another number of ranks computing only what is missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path


from mars_zoo.cli import main

SMALL = ["--batch-size", "4", "--cache-shard-size", "8", "--device", "cpu"]


def _calls(log: Path) -> Counter:
    """Model calls per (kind, rank) from the fake model's call log."""
    return Counter(tuple(line.split()[:2]) for line in log.read_text().splitlines())


def _scored(path: Path) -> dict:
    """Every task's section without timings and throughput (which differ run to run) and
    without where the data was read from (each run's cache holds its own mini copy)."""
    tasks = json.loads(path.read_text())["tasks"]
    scored = {}
    for name, section in tasks.items():
        scored[name] = {key: value for key, value in section.items() if key not in ("timings", "throughput")}
        for key in ("dataset", "gallery"):
            if key in section:
                scored[name][key] = {k: v for k, v in section[key].items() if k != "location"}
    return scored


def _start(args, env):
    return subprocess.Popen([sys.executable, "-m", "mars_zoo", "run", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_ranks_score_like_one_process_and_compute_every_shard_once(plugins_dir, tmp_path, monkeypatch):
    args = ["fake/good", "--benchmark", "mini", "--plugins-dir", str(plugins_dir), *SMALL]
    monkeypatch.setenv("MARS_ZOO_TEST_CALL_LOG", str(tmp_path / "single.log"))
    assert main(["run", *args, "--cache-dir", str(tmp_path / "single"), "--out", str(tmp_path / "single.json")]) == 0
    single = _calls(tmp_path / "single.log")

    env = dict(os.environ, MARS_ZOO_TEST_CALL_LOG=str(tmp_path / "two.log"))
    two = _start([*args, "--nproc", "2", "--cache-dir", str(tmp_path / "two"), "--out", str(tmp_path / "two.json")], env)
    _, stderr = two.communicate(timeout=600)
    assert two.returncode == 0, stderr
    ranks = _calls(tmp_path / "two.log")

    assert _scored(tmp_path / "two.json") == _scored(tmp_path / "single.json")
    for kind in ("image", "text"):
        # Both ranks worked, and together they made exactly the single process's calls:
        # a shard computed twice would add calls.
        assert ranks[(kind, "rank=0")] > 0 and ranks[(kind, "rank=1")] > 0
        assert ranks[(kind, "rank=0")] + ranks[(kind, "rank=1")] == single[(kind, "rank=0")]
    run = json.loads((tmp_path / "two.json").read_text())["run"]
    assert run["world_size"] == 2 and len(run["devices"]) == 2


def test_a_killed_rank_is_resumed_by_one_process_computing_only_what_is_missing(plugins_dir, tmp_path):
    log = tmp_path / "calls.log"
    args = ["fake/good", "--benchmark", "mini", "--tasks", "landform", "--plugins-dir", str(plugins_dir), *SMALL,
            "--cache-dir", str(tmp_path / "cache")]
    env = dict(os.environ, MARS_ZOO_TEST_CALL_LOG=str(log), MARS_ZOO_TEST_CALL_DELAY="0.15")
    launcher = _start([*args, "--nproc", "2", "--out", str(tmp_path / "killed.json")], env)
    deadline = time.monotonic() + 300
    victim = None
    while victim is None and time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        rank1 = [line for line in lines if line.startswith("image rank=1")]
        if len(rank1) >= 5:
            victim = int(rank1[-1].split("pid=")[1])
        time.sleep(0.02)
    assert victim is not None, "rank 1 never embedded"
    os.kill(victim, signal.SIGKILL)
    launcher.communicate(timeout=300)
    assert launcher.returncode != 0
    assert not (tmp_path / "killed.json").exists()
    finished_shards = len(list((tmp_path / "cache").rglob("shard-*.npy")))
    assert finished_shards >= 2

    log.unlink()
    resumed = _start([*args, "--out", str(tmp_path / "resumed.json")], dict(env, MARS_ZOO_TEST_CALL_DELAY="0"))
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    resumed_calls = _calls(log)[("image", "rank=0")]

    fresh = _start([*args[:-1], str(tmp_path / "fresh-cache"), "--out", str(tmp_path / "fresh.json")],
                   dict(os.environ))
    _, stderr = fresh.communicate(timeout=300)
    assert fresh.returncode == 0, stderr
    images = json.loads((tmp_path / "fresh.json").read_text())["tasks"]["landform"]["dataset"]["items"]
    total_batches = sum(-(-min(8, images - start) // 4) for start in range(0, images, 8))
    # Landform image shards are full (8 rows, 2 calls each) until the last one.
    assert resumed_calls == total_batches - 2 * finished_shards
    assert _scored(tmp_path / "resumed.json") == _scored(tmp_path / "fresh.json")
