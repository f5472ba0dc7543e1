"""What the cache-damage, bad-data and kill-and-resume fault cases share: one clean run
of a fast fake model on the mini benchmark, and the checks every case makes.

Every case runs `mars-zoo run` in this process (`boundary_helpers.cli`, as the
console script does), so a case costs a fraction of a second, and asserts three things: the exit code, the
message (one paragraph, no traceback, naming the culprit) and that nothing was lost
or wrongly scored (metrics equal to the clean run's, or no result file at all).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from boundary_helpers import Outcome as CliOutcome
from boundary_helpers import assert_clean_error, cli
from mars_zoo.embedding.cache import VERIFIED_NAME, CacheEntry
from mars_zoo.cli import main

TESTS = Path(__file__).resolve().parents[1]
MODEL = "fake/good"
# Small shards and batches, so the mini data spans several of each: a 64-row shard is
# recomputed in exactly four model calls.
SHARD_ARGS = ("--cache-shard-size", "64", "--batch-size", "16")
BATCH = 16
CALLS = re.compile(r"model calls: (\d+) image batches, (\d+) text batches")


@dataclass
class Outcome(CliOutcome):
    """A `mars-zoo run`: exit code, output, and the result file it wrote (None: none)."""

    result: dict | None = None

    @property
    def calls(self) -> tuple[int, int]:
        match = CALLS.search(" ".join(self.out.split()))
        assert match, self.out
        return int(match[1]), int(match[2])


@dataclass
class Clean:
    """The clean run every case is compared with: its cache, its result, the plugins."""

    cache: Path
    result: dict
    plugins: Path


def metrics(result: dict) -> dict:
    """What a result scores, without timings, throughput or where the data was read."""
    return {
        name: {key: value for key, value in task.items() if key not in ("timings", "throughput", "dataset", "gallery")}
        for name, task in result["tasks"].items()
    }


def run_cli(capsys, cache: Path, out: Path, plugins: Path, *extra: str) -> Outcome:
    args = ["run", MODEL, "--plugins-dir", plugins, "--out", out, "--cache-dir", cache, *SHARD_ARGS, *extra]
    if "--data-dir" not in extra:
        args += ["--benchmark", "mini"]
    outcome = cli(capsys, *args)
    result = json.loads(out.read_text()) if out.exists() else None
    return Outcome(outcome.code, outcome.out, outcome.err, result)


def assert_one_paragraph_error(outcome: Outcome, code: int, *needles: str) -> None:
    """A refused run: the exit code, one paragraph on stderr naming what it must, no
    traceback, and no result file written."""
    assert_clean_error(outcome, code, *needles)
    assert outcome.result is None


@pytest.fixture(scope="session")
def clean(tmp_path_factory, mini_dir) -> Clean:
    root = tmp_path_factory.mktemp("clean-run")
    shutil.copytree(mini_dir, root / "cache" / mini_dir.name)  # the session's mini benchmark, not a new one
    plugins = root / "plugins"
    plugins.mkdir()
    shutil.copy(TESTS / "fake_models.py", plugins / "fake_models.py")
    out = root / "result.json"
    args = ["run", MODEL, "--plugins-dir", str(plugins), "--out", str(out), "--cache-dir", str(root / "cache"),
            "--benchmark", "mini", *SHARD_ARGS]
    assert main(args) == 0
    return Clean(root / "cache", json.loads(out.read_text()), plugins)


def entry_dir(cache: Path, modality: str, dataset: str | None = None, subset: str | None = None,
              items: int | None = None) -> Path:
    """The one embedding cache entry of the given modality whose dataset id ends with
    `dataset`, of that subset and item count, found by its manifest."""
    found = []
    for manifest in (cache / "embeddings").glob("*/*/manifest.json"):
        record = json.loads(manifest.read_text())
        fields = record["fields"]
        if (fields["modality"] == modality and str(fields.get("dataset")).endswith(str(dataset))
                and fields.get("subset") == subset and items in (None, record["items"])):
            found.append(manifest.parent)
    assert len(found) == 1, (modality, dataset, subset, items, found)
    return found[0]


def opened(directory: Path) -> CacheEntry:
    """The cache entry in `directory`, opened as its manifest describes it."""
    record = json.loads((directory / "manifest.json").read_text())
    return CacheEntry(directory, record["fields"], record["items"], record["shard_size"])


def shard_file(directory: Path, shard: int) -> Path:
    """The file of the `shard`-th shard of the cache entry in `directory`."""
    return opened(directory).shard_path(shard)


@pytest.fixture
def cache_copy(clean, tmp_path) -> Path:
    """A private copy of the clean run's whole cache (mini data, embeddings, fingerprints),
    its shards verified once as a run verifies them: so a case's damage meets the record
    of verified shards, which trusts a shard by its stat, as it would in a real cache."""
    copy = shutil.copytree(clean.cache, tmp_path / "cache", symlinks=True)
    for manifest in copy.glob("embeddings/*/*/manifest.json"):
        assert opened(manifest.parent).missing() == [] and (manifest.parent / VERIFIED_NAME).exists()
    # File times move in clock ticks on some kernels: a damaging write must fall in a later
    # tick than the copy, as it would outside a test.
    time.sleep(0.02)
    return copy


@pytest.fixture
def data_copy(clean, tmp_path) -> Path:
    """A private copy of the mini benchmark's data, for a case to edit and pass with --data-dir."""
    return shutil.copytree(clean.cache / "mini-v1", tmp_path / "data")


def complete_shards(cache: Path) -> set[tuple[str, str]]:
    """(entry, shard file) of every shard whose checksum file names it and agrees with it."""
    found = set()
    for checksum in cache.glob("embeddings/*/*/shard-*.npy.sha256"):
        shard = checksum.with_suffix("")
        parts = checksum.read_text().split()
        if shard.is_file() and parts == [hashlib.sha256(shard.read_bytes()).hexdigest(), shard.name]:
            found.add((shard.parent.name, shard.name))
    return found


def calls_for(cache: Path, shards: set[tuple[str, str]]) -> tuple[int, int]:
    """The (image, text) model calls that computing `shards` takes, rows read from `cache`."""
    calls = {"image": 0, "text": 0}
    for entry, name in shards:
        directory = next(cache.glob(f"embeddings/*/{entry}"))
        modality = json.loads((directory / "manifest.json").read_text())["fields"]["modality"]
        calls[modality] += -(-len(np.load(directory / name)) // BATCH)
    return calls["image"], calls["text"]


def without_embeddings(clean: Clean, tmp_path: Path) -> Path:
    """The clean run's cache (mini data, fingerprints) with no embedding in it."""
    return shutil.copytree(clean.cache, tmp_path / "cache", ignore=shutil.ignore_patterns("embeddings"))
