"""Fault corpus, training records: `mars-zoo run MODEL --weights DIR` whose training.json is
damaged, contradicts itself or names other base weights, and weights folders that hold no single
checkpoint beside it. Each is exit 2 before anything is embedded, one paragraph naming the file,
the field and the fix, and no result file."""

from __future__ import annotations

from pathlib import Path

import pytest

from boundary_helpers import assert_clean_error, cli
from training_support import EXAMPLE, clean_report, contaminated_report, training_record, weights_folder

MODEL = "openclip/tiny-random"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A checkpoint file: its content does not matter, every case is refused before loading."""
    path = tmp_path_factory.mktemp("checkpoint") / "model.pt"
    path.write_bytes(b"\x80\x04binary checkpoint bytes\x00")
    return path


def _edited(**changes):
    def make() -> dict:
        return {**training_record(), **changes}
    return make


def _data(**changes):
    return lambda: {**training_record(), "data": {**training_record()["data"], **changes}}


def _without(key: str):
    return lambda: {k: v for k, v in training_record().items() if k != key}


# case: (the record, the field named, what the message says)
CASES = {
    "fingerprint-not-sha256": (_data(fingerprint="md5:0123"), "data.fingerprint", "'sha256:' and 64 lowercase hex"),
    "no-pairs": (_data(pairs=0), "data.pairs", "at least 1"),
    "another-format": (_edited(format=2), "format", "must be format 1"),
    "allowed-contaminated-missing": (_without("allowed_contaminated"), "allowed_contaminated", "is required"),
    "negative-count": (_edited(contamination={**clean_report(), "tasks": {"paired": {"images": -1, "captions": 0}}}),
                       "contamination.tasks.paired.images", "an integer >= 0"),
    "unknown-field": (_edited(note="hand-edited"), "note", "is not a known field"),
    "contaminated-without-counts": (_edited(contamination={**clean_report(), "contaminated": True,
                                                           "examples": [EXAMPLE]}, allowed_contaminated=True),
                                    "contamination.contaminated", "no task of contamination.tasks counts"),
    "counts-but-clean": (_edited(contamination={**contaminated_report(), "contaminated": False, "examples": []}),
                         "contamination.contaminated", "is false, but contamination.tasks counts benchmark items "
                                                       "found in the training data (landform 4, paired 5)"),
    "contaminated-not-allowed": (_edited(contamination=contaminated_report()), "allowed_contaminated",
                                 "only with --allow-contaminated"),
    "clean-with-examples": (_edited(contamination={**clean_report(), "examples": [EXAMPLE]}), "contamination.examples",
                            "a clean report has none"),
}


@pytest.mark.parametrize("make, field, says", CASES.values(), ids=CASES)
def test_a_bad_training_record_is_refused_naming_its_field(capsys, tmp_path, checkpoint, make, field, says):
    folder = weights_folder(tmp_path / "tuned", checkpoint, make())
    outcome = cli(capsys, "run", MODEL, "--weights", folder, "--benchmark", "mini", "--tasks", "landform",
                  "--out", tmp_path / "result.json", "--no-cache")
    assert_clean_error(outcome, 2, f"{folder / 'training.json'} is not a valid training record", f"{field}: ",
                       says, "Fix: use the training.json that mars-zoo finetune wrote")
    assert not (tmp_path / "result.json").exists()


def test_a_record_of_damaged_json_is_refused(capsys, tmp_path, checkpoint):
    folder = weights_folder(tmp_path / "tuned", checkpoint, None)
    (folder / "training.json").write_text('{"format": 1, "data": NaN')
    outcome = cli(capsys, "run", MODEL, "--weights", folder, "--benchmark", "mini", "--out", tmp_path / "r.json")
    assert_clean_error(outcome, 2, "training.json is not a valid training record", "(file): is not valid JSON")
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("record, says", [
    (training_record(base_model="openclip/marscope-v1"),
     "base_model is 'openclip/marscope-v1', but the weights are run as openclip/tiny-random. Fix: run them as the "
     "model they were fine-tuned from: mars-zoo run openclip/marscope-v1 --weights"),
    (training_record(base_revision="ab" * 20),
     f"base_revision is {'ab' * 20}, but openclip/tiny-random is at revision None here"),
], ids=["another-model", "another-revision"])
def test_a_record_of_other_base_weights_is_refused(capsys, tmp_path, checkpoint, record, says):
    folder = weights_folder(tmp_path / "tuned", checkpoint, record)
    outcome = cli(capsys, "run", MODEL, "--weights", folder, "--benchmark", "mini", "--out", tmp_path / "r.json")
    assert_clean_error(outcome, 2, f"{folder / 'training.json'}: ", says)
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("checkpoints", [("a.pt", "b.safetensors"), ()], ids=["two", "none"])
def test_a_record_needs_one_checkpoint_file_beside_it(capsys, tmp_path, checkpoint, checkpoints):
    folder = weights_folder(tmp_path / "tuned", checkpoint, training_record())
    (folder / checkpoint.name).unlink()
    for name in checkpoints:
        (folder / name).write_bytes(checkpoint.read_bytes())
    outcome = cli(capsys, "run", MODEL, "--weights", folder, "--benchmark", "mini", "--out", tmp_path / "r.json")
    listed = ", ".join(checkpoints) or "none"
    assert_clean_error(outcome, 2, f"--weights {folder} holds training.json and {len(checkpoints)} checkpoint files "
                                   f"beside it ({listed})", "or a folder holding training.json and one such file")
    assert not (tmp_path / "r.json").exists()

