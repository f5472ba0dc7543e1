"""`mars-zoo finetune` killed with SIGKILL after an epoch: nothing appears at --out, the
same command resumes from the epoch checkpoint (the epochs finished before the kill are
not trained again), and a command with other settings aimed at the same --out is refused
rather than mixed into the unfinished run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mars_zoo.cli import main
from mars_zoo.core.folders import default_cache_dir

COMMAND = ["finetune", "openclip/tiny-random", "--train", "mini", "--epochs", "3", "--batch-size", "64",
           "--device", "cpu", "--seed", "1"]


def _run_folder(out: Path) -> Path | None:
    """The working folder of the unfinished run into `out`, found by the settings it keeps."""
    for settings in (default_cache_dir() / "finetune-runs").glob("*/settings.json"):
        if json.loads(settings.read_text())["out"] == str(out):
            return settings.parent
    return None


def test_a_killed_run_resumes_from_its_last_epoch(tmp_path, capsys):
    out = tmp_path / "weights"
    process = subprocess.Popen([sys.executable, "-m", "mars_zoo", *COMMAND, "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    history = None
    while time.monotonic() < deadline and process.poll() is None:
        work = _run_folder(out)
        if work is not None and (work / "logs" / "train" / "checkpoints" / "epoch_latest.pt").is_file():
            process.send_signal(signal.SIGKILL)
            history = (work / "logs" / "train" / "history.jsonl").read_text().splitlines()
            break
        time.sleep(0.05)
    assert process.wait(timeout=60) == -signal.SIGKILL, "the run ended before its first checkpoint"
    assert not out.exists()
    finished = [json.loads(line) for line in history]
    assert 1 <= len(finished) < 3

    assert main([*COMMAND, "--out", str(out), "--lr", "1e-3"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "An unfinished fine-tuning run into" in err and "lr 0.0005 then, 0.001 now" in err

    assert main([*COMMAND, "--out", str(out)]) == 0
    record = json.loads((out / "training.json").read_text())
    epochs = record["config"]["history"]
    assert [epoch["epoch"] for epoch in epochs] == [1, 2, 3]
    # The first epoch, checkpointed before the kill, keeps the record the killed run wrote (its timing).
    assert epochs[0] == finished[0]
    assert _run_folder(out) is None  # the working folder goes once the weights are out
