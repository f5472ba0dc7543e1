"""Fault corpus, ranks: `mars-zoo run --nproc 2` (two gloo ranks on the CPU) when one rank
is killed or fails. The run ends with one paragraph and exit 2 or 3, never torchrun's
traceback nor a second copy of the message: a killed rank is named with its signal, with
where the finished embeddings are and how to resume; a rank's own error paragraph is
shown once. The rerun of a killed run scores exactly as a clean run and computes only
what the killed run did not publish.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from boundary_helpers import Outcome, assert_clean_error, write_plugin
from data_faults import SHARD_ARGS, calls_for, complete_shards, metrics, run_cli, without_embeddings

TASK = "geolocalization"  # 400 gallery tiles: several shards for each rank


def _on_two_ranks(model: str, plugins, cache, out, env: dict | None = None) -> Outcome:
    launch = subprocess.run(
        [sys.executable, "-m", "mars_zoo", "run", model, "--nproc", "2", "--plugins-dir", str(plugins),
         "--cache-dir", str(cache), "--out", str(out), "--benchmark", "mini", "--tasks", TASK, "--device", "cpu",
         *SHARD_ARGS],
        env=dict(os.environ, **(env or {})), capture_output=True, text=True, timeout=300,
    )
    return Outcome(launch.returncode, launch.stdout, launch.stderr)


def _said_once(outcome: Outcome) -> None:
    assert outcome.err.count("error:") == 1, outcome.err
    assert "lost the other ranks" not in outcome.err and "ChildFailedError" not in outcome.err


def test_a_killed_rank_is_named_and_a_rerun_resumes_it(clean, tmp_path, capsys):
    cache, out = without_embeddings(clean, tmp_path), tmp_path / "result.json"
    # rank 1 dies at its 6th model call: after its first shard (4 calls) was published
    outcome = _on_two_ranks("fake/good", clean.plugins, cache, out, {"MARS_ZOO_TEST_KILL_RANK": "1:6"})
    assert_clean_error(outcome, 3, "The run on 2 ranks stopped: rank 1 (pid ", ") was killed by signal SIGKILL",
                       f"The embeddings finished so far are kept in the cache ({cache})",
                       "Fix: rerun the same command to resume, with any number of ranks (any --nproc)")
    _said_once(outcome)
    assert not out.exists()
    kept = complete_shards(cache)
    assert kept

    resumed = run_cli(capsys, cache, out, clean.plugins, "--tasks", TASK)
    assert resumed.code == 0, resumed.err
    assert metrics(resumed.result) == {TASK: metrics(clean.result)[TASK]}
    assert resumed.calls == calls_for(cache, complete_shards(cache) - kept)  # the kept shards were not recomputed


# case: (fault snippets of rank 1's plugin, exit code, what the one paragraph says)
CASES = {
    "rank-refuses": ({"load": "if os.environ.get('RANK') == '1': raise mars_zoo.MarsZooError('no licence here')"}, 2,
                     ["error: no licence here"]),
    "rank-plugin-raises": ({"image": "if os.environ.get('RANK') == '1': raise RuntimeError('illegal memory access')"},
                           3, ["Model 'rank-plugin-raises/model' (plugin rank-plugin-raises) failed in encode_image",
                               "RuntimeError: illegal memory access"]),
}


@pytest.mark.parametrize("case", CASES)
def test_a_failing_rank_says_its_own_paragraph_once(clean, tmp_path, case):
    faults, code, words = CASES[case]
    write_plugin(tmp_path / "plugins", case, **faults)
    outcome = _on_two_ranks(f"{case}/model", tmp_path / "plugins", without_embeddings(clean, tmp_path),
                            tmp_path / "result.json")
    assert_clean_error(outcome, code, *words)
    _said_once(outcome)
    assert not (tmp_path / "result.json").exists()
