"""`mars-zoo finetune --nproc 2` on the CPU: two gloo ranks train one model through
open_clip_train's DDP, end with the same weights (each rank's digest of the model it
trained, recorded in training.json, equals the sha256 of the weights file), and the loss
falls."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys


def test_two_ranks_end_with_the_same_weights_and_the_loss_falls(tmp_path):
    out = tmp_path / "weights"
    command = [sys.executable, "-m", "mars_zoo", "finetune", "openclip/tiny-random", "--train", "mini", "--out",
               str(out), "--epochs", "3", "--batch-size", "32", "--lr", "1e-3", "--device", "cpu", "--nproc", "2"]
    done = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    config = json.loads((out / "training.json").read_text())["config"]
    weights = hashlib.sha256((out / "open_clip_model.safetensors").read_bytes()).hexdigest()
    assert config["world_size"] == 2 and config["batch_size"] == 32
    assert config["rank_weights_sha256"] == [weights, weights]
    losses = [epoch["loss"] for epoch in config["history"]]
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2], losses
    # Each epoch is 384 // (32 * 2) = 6 steps of both ranks' pairs.
    assert config["warmup_steps"] == 2
