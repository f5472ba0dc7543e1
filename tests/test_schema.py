"""The result-file schema (version 1) and the per-file checks of mars_zoo.results.validation."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mars_zoo.models.model import ModelSpec
from mars_zoo.results.validation import result_problems, validate_file, validate_result
from mars_zoo.schema.results_schema import FILE, ROOT, SCHEMA_VERSION, format_path, load_schema

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
REPRODUCED = FIXTURES / "valid" / "reproduced.json"
MINI = FIXTURES / "valid" / "mini.json"


def load(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))


def fields(result) -> set[str]:
    return {problem.field for problem in result_problems(result)}


def test_schema_is_a_valid_draft_2020_12_schema_shipped_with_the_package():
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("path", [REPRODUCED, MINI, *sorted((REPO / "submissions").rglob("*.json"))],
                         ids=lambda path: path.name)
def test_valid_files_have_no_problems(path):
    assert validate_file(path) == []


def test_minimal_reported_result_is_valid():
    minimal = {
        "schema_version": 1,
        "provenance": "reported",
        "model": {"name": "acme/model-x", "family": "acme", "modalities": ["image"]},
        "benchmark": {"name": "marsretrieval", "synthetic": False},
        "tasks": {"landform": {"metrics": {"map": 0.5, "r_precision": None, "ndcg@10": None, "hit@10": None}}},
        "source": {"url": "https://example.org/paper", "citation": "A paper", "dataset": "SUSTech/Mars-Landforms@abc"},
    }
    assert validate_result(minimal) == []


def test_model_spec_metadata_fits_the_schema():
    """What the runner copies from a ModelSpec (plus the plugin's package and version) is
    exactly what a reproduced result's model may hold, and all of it is required except
    the fields added to schema v1 later (optional, so older result files stay valid)."""
    spec = ModelSpec(name="acme/m", family="acme", checkpoint="acme/m", loader=lambda *a: None)
    model_schema = load_schema()["$defs"]["model"]
    metadata_keys = set(spec.metadata()) | {"plugin_package", "plugin_version"}
    added_later = {"recipe_notes", "hub_repo", "weights", "url_weights", "revision_verified"}
    assert metadata_keys == set(model_schema["properties"])
    required = set(load_schema()["$defs"]["reproduced"]["properties"]["model"]["required"])
    assert metadata_keys - added_later == required


def test_in_memory_nan_and_infinity_are_reported_by_path():
    result = load(REPRODUCED)
    result["tasks"]["paired"]["metrics"]["i2t"]["r1"] = math.nan
    result["tasks"]["landform"]["per_class"][0]["ap"] = math.inf
    problems = validate_result(result)
    assert any(p.startswith("tasks.paired.metrics.i2t.r1: must be a finite number") for p in problems)
    assert any(p.startswith("tasks.landform.per_class[0].ap: must be a finite number") for p in problems)


def test_reported_metrics_may_be_null_reproduced_may_not():
    random_baseline = load(REPO / "submissions" / "baseline" / "random__reported.json")
    assert random_baseline["tasks"]["paired"]["metrics"]["t2i"]["medr"] is None
    assert validate_result(random_baseline) == []
    reproduced = load(REPRODUCED)
    reproduced["tasks"]["landform"]["metrics"]["map"] = None
    assert fields(reproduced) == {"tasks.landform.metrics.map"}


def test_reproduced_requires_the_full_fingerprint_reported_does_not():
    reproduced = load(REPRODUCED)
    for key in ("harness", "environment", "run"):
        broken = copy.deepcopy(reproduced)
        del broken[key]
        assert fields(broken) == {key}
    del reproduced["tasks"]["geolocalization"]["per_landform"][0]["curve"]
    assert fields(reproduced) == {"tasks.geolocalization.per_landform[0].curve"}


def test_image_preparation_is_required_in_reproduced_paired_results_only():
    """Task 1 numbers depend on how the images were prepared, so a run must say it; a reported
    result says it when its source does."""
    reproduced = load(REPRODUCED)
    assert reproduced["tasks"]["paired"]["image_preparation"] == "img2dataset-center-crop-512-jpeg95"
    del reproduced["tasks"]["paired"]["image_preparation"]
    assert validate_result(reproduced) == ["tasks.paired.image_preparation: is required in a reproduced result"]
    reported = load(REPO / "submissions" / "openclip" / "vit-l-16-siglip2-512__reported.json")
    assert reported["tasks"]["paired"]["image_preparation"] == "mteb-original-bytes"
    del reported["tasks"]["paired"]["image_preparation"]
    assert validate_result(reported) == []
    reported["tasks"]["paired"]["image_preparation"] = "resize\ncrop"
    assert fields(reported) == {"tasks.paired.image_preparation"}


@pytest.mark.parametrize("value, valid", [
    ("img2dataset-center-crop-512-jpeg95", True), ("mteb-original-bytes", True),
    ("original-bytes (model preprocessing only)", False), ("resize-center-crop-512", False),
    ("MTEB-original-bytes", False), ("", False),
])
def test_image_preparation_is_one_of_the_two_protocols_in_every_result(value, valid):
    """The leaderboard ranks rows of one preparation together, so the field takes only the names of
    the protocols mars-zoo knows (mars_zoo.data.images.IMAGE_PREPARATIONS), reported or reproduced."""
    from mars_zoo.data.images import IMAGE_PREPARATIONS

    assert (value in IMAGE_PREPARATIONS) == valid
    for path in (REPRODUCED, REPO / "submissions" / "baseline" / "random__reported.json"):
        result = load(path)
        result["tasks"]["paired"]["image_preparation"] = value
        if value == "mteb-original-bytes" and result["provenance"] == "reproduced":
            for metrics in result["tasks"]["paired"]["metrics"].values():  # MTEB's recall is rounded
                metrics.update(r1=round(metrics["r1"], 5), r10=round(metrics["r10"], 5))
        assert (fields(result) == set()) == valid, (path.name, value, fields(result))


def test_environment_accepts_extra_library_versions_but_not_numbers():
    result = load(REPRODUCED)
    result["environment"]["open_clip"] = "3.0.0"
    assert validate_result(result) == []
    result["environment"]["gpus"] = 8
    assert fields(result) == {"environment.gpus"}


def test_problems_are_sorted_unique_and_formatted_as_path_colon_message():
    result = load(REPRODUCED)
    result["run"]["seed"] = "zero"
    result["model"]["batch_size"] = 0
    problems = validate_result(result)
    assert problems == sorted(set(problems))
    assert problems == ["model.batch_size: must be >= 1, got 0", 'run.seed: must be an integer, got "zero"']


def test_non_object_results():
    assert validate_result([1]) == [f"{ROOT}: must be an object, got [1]"]
    assert fields("text") == {ROOT}


def test_file_level_problems(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    assert validate_file(empty)[0].startswith(f"{FILE}: is not valid JSON")
    huge_int = tmp_path / "huge.json"
    huge_int.write_text("1" * 5000)
    assert validate_file(huge_int)[0].startswith(f"{FILE}: is not valid JSON")
    missing = tmp_path / "missing.json"
    assert validate_file(missing)[0].startswith(f"{FILE}: cannot be read")


def test_format_path_quotes_keys_that_are_not_plain():
    assert format_path(["tasks", "landform", "per_class", 3, "ndcg@10"]) == "tasks.landform.per_class[3].ndcg@10"
    assert format_path(["tasks", "paired", "timings", "a.b c"]) == 'tasks.paired.timings["a.b c"]'
    assert format_path([]) == ROOT


SHA256 = "5f" * 32
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _real_weights(**model) -> dict:
    result = load(REPRODUCED)
    result["model"].update(random_weights=False, **model)
    if model.get("weights"):  # own weights, here without a training record
        result["training"] = {"kind": "unrecorded"}
    return result


def test_weights_named_by_url_and_sha256_are_valid_and_checked():
    by_url = dict(revision=SHA256, hub_repo=None, url_weights={"url": "https://example.org/w.safetensors",
                                                               "sha256": SHA256})
    assert validate_result(_real_weights(**by_url)) == []
    assert validate_result(_real_weights(**{**by_url, "url_weights": {"url": "file:///srv/w.pt", "sha256": SHA256}})) == []
    problems = {
        "ftp URL": ({"url": "ftp://example.org/w.pt", "sha256": SHA256}, "model.url_weights.url"),
        "URL with a space": ({"url": "https://example.org/a b.pt", "sha256": SHA256}, "model.url_weights.url"),
        "short sha256": ({"url": "https://example.org/w.pt", "sha256": SHA256[:40]}, "model.url_weights.sha256"),
        "no sha256": ({"url": "https://example.org/w.pt"}, "model.url_weights.sha256"),
        "extra key": ({"url": "https://example.org/w.pt", "sha256": SHA256, "md5": "x"}, "model.url_weights.md5"),
    }
    for case, (url_weights, field) in problems.items():
        assert fields(_real_weights(**{**by_url, "url_weights": url_weights})) == {field}, case


def test_the_revision_of_url_weights_is_their_sha256():
    url_weights = {"url": "https://example.org/w.pt", "sha256": SHA256}
    problems = validate_result(_real_weights(revision=COMMIT, url_weights=url_weights))
    assert problems == [f"model.revision: is '{COMMIT}', but the weights are named by model.url_weights, whose "
                        f"sha256 ({SHA256}) it must be"]
    own = {"name": "tuned.pt", "kind": "file", "base_revision": SHA256}
    assert validate_result(_real_weights(revision="ab" * 32, url_weights=url_weights, weights=own)) == []
    assert fields(_real_weights(revision="ab" * 32, url_weights=url_weights,
                                weights={**own, "base_revision": COMMIT})) == {"model.weights.base_revision"}


def test_revision_verified_is_a_boolean_and_null_where_no_hub_commit_names_the_weights():
    for verified in (True, False, None):
        assert validate_result(_real_weights(revision=COMMIT, revision_verified=verified)) == []
    assert fields(_real_weights(revision=COMMIT, revision_verified="yes")) == {"model.revision_verified"}
    random = load(REPRODUCED)
    assert random["model"]["random_weights"] is True
    random["model"]["revision_verified"] = True
    assert fields(random) == {"model.revision_verified"}
    url_weights = {"url": "https://example.org/w.pt", "sha256": SHA256}
    assert fields(_real_weights(revision=SHA256, url_weights=url_weights, revision_verified=False)) == \
        {"model.revision_verified"}
