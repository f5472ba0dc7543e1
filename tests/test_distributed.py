"""Several torch.distributed ranks (gloo, on the CPU) embedding into one cache: the same
metrics as one process, every shard computed once, on one node (`--nproc`) and on two
(two torchrun launches meeting at a rendezvous endpoint, as on two machines). A rank
killed or failing, and the rerun that resumes it: tests/faults/test_rank_faults.py."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """A single-process run of the fake model on the mini benchmark: its result file
    and its model calls, which the runs on several ranks must equal."""
    root = tmp_path_factory.mktemp("one-process")
    plugins = root / "plugins"
    plugins.mkdir()
    shutil.copy(Path(__file__).parent / "fake_models.py", plugins / "fake_models.py")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MARS_ZOO_TEST_CALL_LOG", str(root / "calls.log"))
        assert main(["run", "fake/good", "--benchmark", "mini", "--plugins-dir", str(plugins), *SMALL,
                     "--cache-dir", str(root / "cache"), "--out", str(root / "result.json")]) == 0
    return root / "result.json", _calls(root / "calls.log")


def _assert_like_one_process(one_process, result: Path, log: Path, nodes: list[int]) -> None:
    """The same scores; both ranks worked, and together they made exactly the single
    process's model calls (a shard computed twice would add calls); the run records
    both ranks' devices and nodes."""
    single_result, single_calls = one_process
    assert _scored(result) == _scored(single_result)
    ranks = _calls(log)
    for kind in ("image", "text"):
        assert ranks[(kind, "rank=0")] > 0 and ranks[(kind, "rank=1")] > 0
        assert ranks[(kind, "rank=0")] + ranks[(kind, "rank=1")] == single_calls[(kind, "rank=0")]
    run = json.loads(result.read_text())["run"]
    assert run["world_size"] == 2 and len(run["devices"]) == 2 and run["nodes"] == nodes


def _assert_every_shard_recorded_as_verified(cache: Path, monkeypatch) -> None:
    """Rank 0 recorded the shards of every rank as verified: a later run reads none."""
    import mars_zoo.embedding.cache

    monkeypatch.setattr(mars_zoo.embedding.cache, "_read_shard", lambda path: pytest.fail(f"{path} was read"))
    manifests = list(cache.glob("embeddings/*/*/manifest.json"))
    assert manifests
    for manifest in manifests:
        record = json.loads(manifest.read_text())
        entry = mars_zoo.embedding.cache.CacheEntry(manifest.parent, record["fields"], record["items"], record["shard_size"])
        assert entry.missing() == []


def _planned_steps(plugins_dir: Path) -> list[str]:
    """What every task a run of fake/good scores plans to embed, in the plans' order, as the
    embedding recorder (tests/embed_recorder.py) writes each step: modality, items, label."""
    from mars_zoo.data.benchmark import open_benchmark
    from mars_zoo.models.registry import load_registry
    from mars_zoo.core.reporting import Reporter
    from mars_zoo.tasks import TaskSettings
    from mars_zoo.tasks.registry import registered_tasks
    from mars_zoo.tasks.walk import make_plans

    tasks = registered_tasks(load_registry(plugins_dir).pm).select("fake/good", ("image", "text"), None)
    plans = make_plans(tasks, open_benchmark("mini", reporter=Reporter()), TaskSettings(("image", "text")))
    return [f"{step.modality} {len(step.source.ids) if step.modality == 'image' else len(step.texts)} "
            f"{step.label or step.key}" for plan in plans.values() for step in plan.steps]


def test_two_ranks_score_like_one_process_and_compute_every_shard_once(one_process, plugins_dir, tmp_path,
                                                                       monkeypatch):
    shutil.copy(Path(__file__).parent / "embed_recorder.py", plugins_dir / "embed_recorder.py")
    args = ["fake/good", "--benchmark", "mini", "--plugins-dir", str(plugins_dir), *SMALL]
    env = dict(os.environ, MARS_ZOO_TEST_CALL_LOG=str(tmp_path / "two.log"),
               MARS_ZOO_TEST_EMBED_LOG=str(tmp_path / "embedded.log"))
    two = _start([*args, "--nproc", "2", "--cache-dir", str(tmp_path / "two"), "--out", str(tmp_path / "two.json")], env)
    _, stderr = two.communicate(timeout=600)
    assert two.returncode == 0, stderr
    _assert_like_one_process(one_process, tmp_path / "two.json", tmp_path / "two.log", nodes=[0, 0])
    _assert_every_shard_recorded_as_verified(tmp_path / "two", monkeypatch)
    # Both ranks asked for every embedding of every task's plan, in the plans' order.
    embedded = [line.split(" ", 1) for line in (tmp_path / "embedded.log").read_text().splitlines()]
    planned = _planned_steps(plugins_dir)
    assert len(planned) == 2 + 2 + 7  # task 1: images, captions; 2: images, prompts; 3: gallery, prompts, 5 landforms
    for rank in ("rank=0", "rank=1"):
        assert [step for who, step in embedded if who == rank] == planned


DIVERGING_TASK = """
import os

import mars_zoo


def plan(benchmark, settings):  # what it plans depends on the rank: a plan must never
    return mars_zoo.EmbeddingPlan((mars_zoo.TextItems("words", [f"rank {os.environ.get('RANK', '0')}"]),))


def score(plan, embeddings):
    return {"metrics": {"words": float(len(embeddings["words"]))}}


@mars_zoo.hookimpl
def register_tasks(register):
    register(mars_zoo.Task(name="diverging", title="Diverging", metrics={"words": "higher"}, headline="words",
                           plan=plan, score=score))
"""


def test_ranks_whose_plans_differ_stop_together_before_embedding_anything(plugins_dir, tmp_path):
    (plugins_dir / "diverging.py").write_text(DIVERGING_TASK)
    env = dict(os.environ, MARS_ZOO_TEST_CALL_LOG=str(tmp_path / "calls.log"))
    run = _start(["fake/good", "--benchmark", "mini", "--plugins-dir", str(plugins_dir), *SMALL, "--tasks",
                  "landform,diverging", "--nproc", "2", "--cache-dir", str(tmp_path / "cache"),
                  "--out", str(tmp_path / "result.json")], env)
    _, stderr = run.communicate(timeout=300)
    message = " ".join(stderr.split())
    assert run.returncode == 2, stderr
    assert message.count("error:") == 1, stderr
    assert ("The ranks planned different embeddings: at step 3, rank 0 has task 'diverging' step 'words': 1 texts "
            "(sha256 of the items ") in message
    assert ", rank 1 task 'diverging' step 'words': 1 texts (sha256 of the items " in message
    assert "make each task's plan depend only on the benchmark and the run's settings" in message
    assert not (tmp_path / "calls.log").exists()  # no rank embedded anything, not even the agreeing steps
    assert not (tmp_path / "result.json").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _two_nodes(args: list[str], caches: list[Path], env: dict) -> list[tuple[int, str]]:
    """Two one-process torchrun launches, as on two machines, meeting at one rendezvous
    endpoint; node n uses caches[n]. Returns each launch's (exit code, stderr)."""
    port = _free_port()
    launches = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
             "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", f"test-{port}",
             "-m", "mars_zoo", "run", *args, "--cache-dir", str(cache)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for cache in caches
    ]
    try:
        return [(launch.wait(timeout=120), launch.communicate()[1]) for launch in launches]
    finally:
        for launch in launches:
            launch.kill()


def test_two_nodes_at_a_rendezvous_score_like_one_process_and_compute_every_shard_once(one_process, mini_dir,
                                                                                    plugins_dir, tmp_path,
                                                                                    monkeypatch):
    args = ["fake/good", "--benchmark", "mini", "--plugins-dir", str(plugins_dir), *SMALL,
            "--out", str(tmp_path / "nodes.json")]
    env = dict(os.environ, MARS_ZOO_TEST_CALL_LOG=str(tmp_path / "nodes.log"))
    shared = tmp_path / "shared-cache"
    shutil.copytree(mini_dir, shared / mini_dir.name)  # the session's mini benchmark, not a new one
    for code, stderr in _two_nodes(args, [shared, shared], env):
        assert code == 0, stderr
    _assert_like_one_process(one_process, tmp_path / "nodes.json", tmp_path / "nodes.log", nodes=[0, 1])
    _assert_every_shard_recorded_as_verified(shared, monkeypatch)


def test_nodes_that_do_not_share_the_cache_folder_are_one_clear_error(plugins_dir, tmp_path):
    args = ["fake/good", "--benchmark", "mini", "--plugins-dir", str(plugins_dir), *SMALL,
            "--out", str(tmp_path / "nodes.json")]
    outcomes = _two_nodes(args, [tmp_path / "node-0-cache", tmp_path / "node-1-cache"], dict(os.environ))
    for code, stderr in outcomes:
        assert code != 0
        message = " ".join(stderr.split())
        assert "The ranks do not share one cache folder: rank 1 (node 1, " in message, stderr
        assert "same --cache-dir DIR" in message
        assert "/mars_zoo/" not in stderr  # no traceback through our code (torchrun adds its own)
    assert not (tmp_path / "nodes.json").exists()
    assert not list(tmp_path.rglob("shard-*.npy")) and not list(tmp_path.rglob("mini-*"))  # refused first thing


def test_nproc_below_one_is_refused_before_anything_starts(capsys):
    for value in ("0", "-2"):
        try:
            main(["run", "fake/good", "--benchmark", "mini", "--nproc", value])
        except SystemExit as exit_:
            assert exit_.code == 2
        err = " ".join(capsys.readouterr().err.split())
        assert f"argument --nproc: expected an integer 1 or more, got '{value}'" in err


def test_more_processes_on_a_node_than_it_has_gpus_is_one_clear_error(monkeypatch):
    import torch

    from mars_zoo.embedding.distributed import Ranks, rank_device
    from mars_zoo.core.errors import MarsZooError

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert rank_device("cuda", Ranks(rank=3, world_size=6, local_rank=1, node=1)) == "cuda:1"
    with pytest.raises(MarsZooError, match=r"node 1, which has 2 CUDA device\(s\).*at most 2 processes per node"):
        rank_device("cuda", Ranks(rank=4, world_size=6, local_rank=2, node=1))


def test_ranks_of_a_node_share_its_cores_for_decoding_workers(monkeypatch):
    from mars_zoo.embedding.distributed import environment_ranks
    from mars_zoo.models.registry import load_registry
    from mars_zoo.pipeline.settings import embed_options

    spec = load_registry().get("openclip/tiny-random")
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    for name, value in {"WORLD_SIZE": "16", "RANK": "9", "LOCAL_RANK": "1", "GROUP_RANK": "1",
                        "LOCAL_WORLD_SIZE": "8"}.items():
        monkeypatch.setenv(name, value)
    ranks = environment_ranks()
    assert ranks.local_world_size == 8
    assert embed_options(spec, "cuda:1", None, None, None, processes_on_node=ranks.local_world_size).workers == 2
    assert embed_options(spec, "cuda:1", None, None, None).workers == 8  # one process has the node to itself
    assert embed_options(spec, "cuda:1", None, None, 5, processes_on_node=8).workers == 5  # --workers wins
    assert embed_options(spec, "cpu", None, None, None, processes_on_node=8).workers == 0
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert embed_options(spec, "cuda:1", None, None, None, processes_on_node=8).workers == 1  # never none on CUDA
