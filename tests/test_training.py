"""What evaluated weights were trained on: `mars-zoo run --weights DIR` reads the training record
(training.json) beside fine-tuned weights into the result, and results of published weights
record that they are zero-shot, or the Mars training their model declares."""

from __future__ import annotations

import hashlib
import json

import pytest
from jsonschema import Draft202012Validator

from mars_zoo.cli import main
from mars_zoo.models.registry import load_registry
from mars_zoo.schema.results_schema import load_schema
from mars_zoo.results.validation import validate_file
from mars_zoo.schema.training import TRAINING_SCHEMA
from mars_zoo.models.weights import training_section
from training_support import contaminated_report, training_record, weights_folder

MODEL = "openclip/tiny-random"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The tiny model's own weights, as one checkpoint file."""
    import torch

    path = tmp_path_factory.mktemp("checkpoint") / "model.pt"
    torch.save(load_registry().get(MODEL).load("cpu", "fp32").model.state_dict(), path)
    return path


def _run(tmp_path, out, *extra):
    assert main(["run", MODEL, "--benchmark", "mini", "--tasks", "landform", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache"), *extra]) == 0
    return json.loads(out.read_text())


def test_the_training_schema_is_a_draft_2020_12_schema_shipped_with_the_package():
    schema = load_schema(TRAINING_SCHEMA)
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["format"]["const"] == 1 and schema["additionalProperties"] is False


def test_a_folder_with_its_training_record_is_evaluated_and_the_result_records_it(tmp_path, checkpoint):
    record = training_record()
    folder = weights_folder(tmp_path / "tuned", checkpoint, record)
    plain = _run(tmp_path, tmp_path / "plain.json")
    tuned = _run(tmp_path, tmp_path / "tuned.json", "--weights", str(folder))
    assert tuned["training"] == {"kind": "fine-tuned", "record": record}
    assert validate_file(tmp_path / "tuned.json") == []
    # the checkpoint beside the record is what was loaded: the tiny model's own weights score as it does
    assert tuned["tasks"]["landform"]["metrics"] == plain["tasks"]["landform"]["metrics"]
    # the folder is named by its content, the record included: editing the record changes the revision
    lines = "".join(f"{name} {hashlib.sha256((folder / name).read_bytes()).hexdigest()}\n"
                    for name in ("model.pt", "training.json"))
    assert tuned["model"]["revision"] == hashlib.sha256(lines.encode()).hexdigest()
    assert tuned["model"]["weights"] == {"name": "tuned", "kind": "folder", "base_revision": None}
    assert plain["training"] == {"kind": "zero-shot"}


def test_a_contaminated_record_trained_on_when_allowed_is_recorded_as_it_is(tmp_path, checkpoint):
    record = training_record(contamination=contaminated_report(), allowed_contaminated=True)
    folder = weights_folder(tmp_path / "tuned", checkpoint, record)
    result = _run(tmp_path, tmp_path / "tuned.json", "--weights", str(folder))
    assert result["training"]["record"]["contamination"] == contaminated_report()
    assert result["training"]["record"]["allowed_contaminated"] is True
    assert validate_file(tmp_path / "tuned.json") == []


def test_own_weights_without_a_record_are_recorded_as_unrecorded(tmp_path, checkpoint):
    assert _run(tmp_path, tmp_path / "own.json", "--weights", str(checkpoint))["training"] == {"kind": "unrecorded"}


def test_published_weights_are_zero_shot_except_where_their_model_declares_mars_training():
    registry = load_registry()
    kinds = {spec.name: training_section(spec)["kind"] for spec in registry}
    assert {name for name, kind in kinds.items() if kind != "zero-shot"} == {"openclip/marscope-v1"}
    declared = training_section(registry.get("openclip/marscope-v1"))
    assert declared["kind"] == "declared" and declared["source"] == "https://arxiv.org/abs/2601.15949"
    assert "200,000 Mars image-text pairs" in declared["data"]
