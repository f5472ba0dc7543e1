"""Fault corpus, CLI misuse: bad option values, missing paths, files where folders belong and
folders where files belong, out-of-range and huge numbers, for every command.

Each case runs the CLI in-process from a scratch folder holding a file (`afile`), an empty
folder (`emptydir`) and an earlier result (`prev.json`), and asserts the exit code, one error
paragraph saying what is wrong, no traceback, and that the scratch folder is unchanged.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from boundary_helpers import assert_clean_error, cli

MINI = ["--benchmark", "mini", "--tasks", "landform"]
PAIRED = ["--benchmark", "mini", "--tasks", "paired"]
TINY = ["run", "openclip/tiny-random"]
FINETUNE = ["finetune", "openclip/tiny-random", "--train", "mini", "--out", "weights"]

# (case id, arguments, exit code, what the message must say)
CASES = [
    ("seed-negative", [*TINY, *MINI, "--seed", "-1"], 2, ["argument --seed: expected an integer from 0 to 4294967295, got '-1'"]),
    ("seed-huge", [*TINY, *MINI, "--seed", "9" * 40], 2, ["argument --seed: expected an integer from 0"]),
    ("batch-size-zero", [*TINY, *MINI, "--batch-size", "0"], 2, ["argument --batch-size: expected an integer from 1"]),
    ("batch-size-float", [*TINY, *MINI, "--batch-size", "1e3"], 2, ["argument --batch-size", "got '1e3'"]),
    ("workers-negative", [*TINY, *MINI, "--workers", "-1"], 2, ["argument --workers: expected an integer from 0 to 256"]),
    ("shard-size-zero", [*TINY, *MINI, "--cache-shard-size", "0"], 2, ["argument --cache-shard-size"]),
    ("out-empty", [*TINY, *MINI, "--out", ""], 2, ["argument --out: expected a path, got an empty string"]),
    ("tasks-empty", [*TINY, "--tasks", ""], 2, ["argument --tasks: unknown task(s) (none given)"]),
    ("tasks-misspelled", [*TINY, "--tasks", "pairs"], 2, ["unknown task(s) pairs; choose from paired"]),
    ("caption-unknown", [*TINY, "--caption", "best"], 2, ["argument --caption: invalid choice: 'best'"]),
    ("model-unknown", ["run", "openclip/tiny-randon", *MINI], 2, ["Unknown model 'openclip/tiny-randon'",
                                                                  "Did you mean 'openclip/tiny-random'"]),
    ("out-is-a-folder", [*TINY, *MINI, "--out", "emptydir"], 2, ["--out", "emptydir is a directory"]),
    ("out-under-a-file", [*TINY, *MINI, "--out", "afile/r.json"], 2, ["Cannot write the result file", "afile/r.json"]),
    ("cache-dir-is-a-file", [*TINY, *MINI, "--out", "r.json", "--cache-dir", "afile"], 2,
     ["afile is a file where a folder belongs"]),
    ("device-unknown", [*TINY, *MINI, "--out", "r.json", "--device", "tpu"], 2, ["Unknown --device 'tpu'"]),
    ("plugins-dir-is-a-file", [*TINY, *MINI, "--plugins-dir", "afile"], 2, ["--plugins-dir", "afile is not a directory"]),
    ("mini-with-tiles", [*TINY, *MINI, "--tiles", "emptydir"], 2, ["The mini benchmark", "takes no --data-dir, --tiles"]),
    ("data-dir-empty", [*TINY, "--tasks", "landform", "--data-dir", "emptydir", "--out", "r.json"], 2,
     ["The local copy of SUSTech/Mars-Landforms is missing"]),
    ("check-unknown-model", ["check", "nope/model"], 2, ["Unknown model 'nope/model'"]),
    ("list-plugins-dir-missing", ["list", "--plugins-dir", "missing"], 2, ["--plugins-dir", "missing is not a directory"]),
    ("validate-missing-path", ["validate", "missing.json"], 2, ["missing.json does not exist"]),
    ("validate-empty-folder", ["validate", "emptydir"], 2,
     ["No result files (*.json) in emptydir", "<family>/<file>.json"]),
    ("validate-plugins-dir-missing", ["validate", "prev.json", "--plugins-dir", "missing"], 2,
     ["--plugins-dir", "missing is not a directory"]),
    ("build-submissions-is-a-file", ["leaderboard", "build", "--submissions", "afile"], 2,
     ["Submissions folder afile is not a folder"]),
    ("build-submissions-missing", ["leaderboard", "build", "--submissions", "missing"], 2,
     ["Submissions folder missing does not exist"]),
    ("build-out-is-a-file", ["leaderboard", "build", "--submissions", "emptydir", "--out", "afile"], 2,
     ["afile is a file; give a folder for the site"]),
    ("build-out-under-a-file", ["leaderboard", "build", "--submissions", "emptydir", "--out", "afile/site"], 2,
     ["Cannot write the site to", "afile/site"]),
    ("build-include-missing", ["leaderboard", "build", "--submissions", "emptydir", "--include", "missing.json",
                               "--out", "site"], 2, ["missing.json does not exist"]),
    ("serve-port-too-high", ["leaderboard", "serve", "--port", "99999"], 2,
     ["argument --port: expected an integer from 0 to 65535, got '99999'"]),
    ("serve-port-negative", ["leaderboard", "serve", "--port", "-1"], 2, ["argument --port"]),
    ("serve-dir-is-a-file", ["leaderboard", "serve", "--dir", "afile"], 2, ["No built site in afile"]),
    ("tiles-ctx-missing", ["tiles", "build", "--ctx", "missing", "--out", "tiles"], 2,
     ["CTX directory", "missing does not exist or is not a directory"]),
    ("tiles-ctx-empty", ["tiles", "build", "--ctx", "emptydir", "--out", "tiles"], 2, ["No GeoTIFF"]),
    ("tiles-tile-px-zero", ["tiles", "build", "--ctx", "emptydir", "--out", "tiles", "--tile-px", "0"], 2,
     ["argument --tile-px: expected an integer from 1 to 16384"]),
    ("no-command", [], 2, ["the following arguments are required: COMMAND"]),
    # fine-tuning's numbers are refused at parse time, with the range they must fall in
    ("finetune-lr-zero", [*FINETUNE, "--lr", "0"], 2, ["argument --lr: expected a number above 0, got '0'"]),
    ("finetune-lr-infinite", [*FINETUNE, "--lr", "inf"], 2, ["argument --lr: expected a number above 0, got 'inf'"]),
    ("finetune-wd-negative", [*FINETUNE, "--wd", "-0.1"], 2, ["argument --wd: expected a number of 0 or more"]),
    ("finetune-wd-not-a-number", [*FINETUNE, "--wd", "nan"], 2, ["argument --wd: expected a number of 0 or more"]),
    ("finetune-val-split-one", [*FINETUNE, "--val-split", "1"], 2,
     ["argument --val-split: expected a number of 0 or more and below 1, got '1'"]),
    # --paired-protocol mteb measures only what MTEB's task 1 measures, and says what to drop
    ("paired-protocol-unknown", [*TINY, *PAIRED, "--paired-protocol", "mtab"], 2,
     ["argument --paired-protocol: invalid choice: 'mtab'"]),
    ("paired-protocol-mteb-other-tasks", [*TINY, "--benchmark", "mini", "--tasks", "paired,landform",
                                          "--paired-protocol", "mteb"], 2,
     ["--paired-protocol mteb measures task 1 only", "asks for --tasks paired,landform", "Fix: pass --tasks paired"]),
    ("paired-protocol-mteb-every-task", [*TINY, "--benchmark", "mini", "--paired-protocol", "mteb"], 2,
     ["asks for no --tasks (every task)", "Fix: pass --tasks paired"]),
    ("paired-protocol-mteb-landform-only", [*TINY, *MINI, "--paired-protocol", "mteb"], 2,
     ["measures task 1 only", "asks for --tasks landform"]),
    ("paired-protocol-mteb-urls", [*TINY, *PAIRED, "--pairs-source", "urls", "--paired-protocol", "mteb"], 2,
     ["--paired-protocol mteb reads the frozen copy Cerru02/Mars-VL-Pairs-MTEB", "--pairs-source is 'urls'",
      "Fix: drop --pairs-source"]),
    ("paired-protocol-mteb-ori-caption", [*TINY, *PAIRED, "--caption", "ori_caption", "--paired-protocol", "mteb"], 2,
     ["scores the refined_caption column", "--caption is 'ori_caption'", "Fix: drop --caption"]),
    ("paired-protocol-mteb-image-only-model", ["run", "dinov3/tiny-random", *PAIRED, "--paired-protocol", "mteb"], 2,
     ["Model 'dinov3/tiny-random' is image-only", "task(s) paired need text embeddings"]),
]


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("not a folder\n")
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "prev.json").write_text('{"an earlier result": true}\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name, args, code, needles", CASES, ids=[case[0] for case in CASES])
def test_misuse_is_one_error_and_changes_nothing(scratch, capsys, name, args, code, needles):
    before = _tree(scratch)
    outcome = cli(capsys, *args)
    if "argument" in " ".join(needles) or name == "no-command":  # argparse's usage error
        assert outcome.code == code and "Traceback" not in outcome.err
        assert all(needle in outcome.message for needle in needles), outcome.err
    else:
        assert_clean_error(outcome, code, *needles)
    assert _tree(scratch) == before  # nothing written, nothing lost


def test_serve_on_a_busy_port_is_one_error(scratch, capsys):
    site = scratch / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>site</p>")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        outcome = cli(capsys, "leaderboard", "serve", "--dir", site, "--port", port)
    assert_clean_error(outcome, 2, f"Cannot serve on 127.0.0.1:{port}", "Pick another --port")


def test_an_unexpected_exception_is_one_paragraph_that_says_it_is_a_bug(scratch, capsys, monkeypatch):
    """The safety net: not a user mistake, so the message asks for a report (and
    MARS_ZOO_DEBUG=1 gives the traceback back)."""
    import mars_zoo.cli.validate as validate_command

    def broken(args):
        """check result files, with a bug"""
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(validate_command, "run_validate", broken)
    monkeypatch.delenv("MARS_ZOO_DEBUG", raising=False)
    outcome = cli(capsys, "validate", "prev.json")
    assert outcome.code == 70 and "Traceback" not in outcome.err
    assert "mars-zoo validate failed unexpectedly (ZeroDivisionError: division by zero)" in outcome.message
    assert "This is a bug in mars-zoo" in outcome.message and "MARS_ZOO_DEBUG=1" in outcome.message
    monkeypatch.setenv("MARS_ZOO_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli(capsys, "validate", "prev.json")
