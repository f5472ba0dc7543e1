"""Fault corpus, kill and resume: a run killed with SIGKILL at any point loses nothing
that was published, and the rerun recomputes exactly the rest and scores exactly what a
clean run scores.

A killed run is a fork of this test process (the libraries are already imported, so it
starts at once) that sends itself SIGKILL at a chosen event: before or after the n-th
atomic publish (`os.replace`), after the n-th model call, while a temporary file is
being synced, or while the mini benchmark is being generated. The rerun happens in this
process. The model calls the rerun may make are computed from the shards the killed run
left complete on disk (a shard file and its checksum file that agree), independently of
the cache's own bookkeeping.
"""

from __future__ import annotations

import json
import os
import select
import signal
from typing import Callable

import pytest

from data_faults import MODEL, SHARD_ARGS, calls_for, complete_shards, metrics, run_cli, without_embeddings
from mars_zoo.core import atomic
from mars_zoo.models import checks
from mars_zoo.cli import main

ORPHAN_GRACE = 10.0  # seconds


def kill_at(target, name: str, when: int, after: bool = False) -> Callable[[], None]:
    """Install, in the forked child only, a hook that SIGKILLs the process at the `when`-th
    call of `target.name` (before it runs, or right after it returned)."""
    def install() -> None:
        original = getattr(target, name)
        count = 0

        def hooked(*args, **kwargs):
            nonlocal count
            count += 1
            if count == when and not after:
                os.kill(os.getpid(), signal.SIGKILL)
            value = original(*args, **kwargs)
            if count == when and after:
                os.kill(os.getpid(), signal.SIGKILL)
            return value

        setattr(target, name, hooked)
    return install


def killed(args: list[str], install: Callable[[], None]) -> None:
    """Run `mars-zoo ARGS` in a fork that kills itself where `install` says; assert it died
    of SIGKILL (the kill point was reached), not by finishing or failing, and that every
    process it started (DataLoader workers) is gone soon after: each inherits the write end
    of a pipe, which reads as ended only once all of them have exited."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1), os.dup2(devnull, 2)
            install()
            main(args)
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"not killed: status {status}"
    try:
        ended = select.select([read_end], [], [], ORPHAN_GRACE)[0] and not os.read(read_end, 1)
        assert ended, f"processes started by the killed run were still alive {ORPHAN_GRACE} s after it"
    finally:
        os.close(read_end)


# case: (task, where the kill happens, start from an empty cache (mini generated anew))
CASES = {
    **{f"before-publish-{n}": ("landform", kill_at(os, "replace", n), False) for n in range(1, 10)},
    "after-publish-3": ("landform", kill_at(os, "replace", 3, after=True), False),
    "after-publish-6": ("landform", kill_at(os, "replace", 6, after=True), False),
    "after-the-result-is-written": ("landform", kill_at(os, "replace", 10, after=True), False),
    **{f"after-model-call-{n}": ("landform", kill_at(checks.BatchChecker, "__call__", n), False)
       for n in (1, 4, 5, 7)},
    "while-syncing-a-shard": ("landform", kill_at(atomic, "_fsync", 3), False),
    "while-syncing-a-checksum": ("landform", kill_at(atomic, "_fsync", 4), False),
    "mid-gallery": ("geolocalization", kill_at(checks.BatchChecker, "__call__", 14), False),
    # tiles streamed from their shards in two DataLoader workers, which must not outlive the killed run
    "mid-gallery-in-workers": ("geolocalization", kill_at(checks.BatchChecker, "__call__", 14), False),
    "mid-captions": ("paired", kill_at(checks.BatchChecker, "__call__", 4), False),
    "while-generating-the-mini-benchmark": ("landform", kill_at(atomic, "_fsync", 6), True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_killed_run_resumes_without_losing_or_misscoring_anything(case, clean, tmp_path, capsys):
    task, install, fresh = CASES[case]
    cache = tmp_path / "cache" if fresh else without_embeddings(clean, tmp_path)
    out = tmp_path / "result.json"
    workers = ("--workers", "2") if case.endswith("-in-workers") else ()
    args = ["run", MODEL, "--plugins-dir", str(clean.plugins), "--out", str(out), "--cache-dir", str(cache),
            "--benchmark", "mini", *SHARD_ARGS, "--tasks", task, *workers]
    killed(args, install)
    wrote_result = out.exists()
    if wrote_result:  # only a kill after the last publish leaves a result, and a whole one
        assert metrics(json.loads(out.read_text())) == {task: metrics(clean.result)[task]}
    kept = complete_shards(cache)
    kept_bytes = {shard: (next(cache.glob(f"embeddings/*/{shard[0]}")) / shard[1]).read_bytes() for shard in kept}

    resumed = run_cli(capsys, cache, out, clean.plugins, "--benchmark", "mini", "--tasks", task, *workers)
    assert resumed.code == 0, resumed.err
    assert "Traceback" not in resumed.err
    assert metrics(resumed.result) == {task: metrics(clean.result)[task]}
    every = complete_shards(cache)
    expected = calls_for(clean.cache, every - kept)
    assert resumed.calls == expected, (resumed.calls, expected, sorted(kept))
    for shard, content in kept_bytes.items():  # what was published was reused, not rewritten
        assert (next(cache.glob(f"embeddings/*/{shard[0]}")) / shard[1]).read_bytes() == content


def test_two_kills_in_a_row_still_resume_exactly(clean, tmp_path, capsys):
    cache = without_embeddings(clean, tmp_path)
    out = tmp_path / "result.json"
    args = ["run", MODEL, "--plugins-dir", str(clean.plugins), "--out", str(out), "--cache-dir", str(cache),
            "--benchmark", "mini", *SHARD_ARGS, "--tasks", "landform"]
    killed(args, kill_at(checks.BatchChecker, "__call__", 5))
    first = complete_shards(cache)
    killed(args, kill_at(checks.BatchChecker, "__call__", 3))
    second = complete_shards(cache)
    assert first < second  # the second killed run added to what the first left
    resumed = run_cli(capsys, cache, out, clean.plugins, "--benchmark", "mini", "--tasks", "landform")
    assert resumed.code == 0 and resumed.calls == calls_for(clean.cache, complete_shards(cache) - second)
    assert metrics(resumed.result) == {"landform": metrics(clean.result)["landform"]}
