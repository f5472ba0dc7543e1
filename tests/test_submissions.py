"""Validating folders of result files, the malformed corpus, and `mars-zoo validate`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mars_zoo.cli import main
from mars_zoo.schema.results_schema import FILE, MAX_FILE_BYTES
from mars_zoo.results.submissions import validate_paths

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = REPO / "submissions"
FIXTURES = Path(__file__).parent / "fixtures"
REPRODUCED = FIXTURES / "valid" / "reproduced.json"
MINI = FIXTURES / "valid" / "mini.json"
MALFORMED = FIXTURES / "malformed"
EXPECTED = json.loads((MALFORMED / "expected.json").read_text("utf-8"))
KNOWN = {"openclip/tiny-random"}


def test_the_corpus_is_large_and_complete():
    on_disk = {path.name for path in MALFORMED.iterdir()} - {"expected.json"}
    assert on_disk == set(EXPECTED)
    assert len(EXPECTED) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_is_rejected_naming_the_field(name):
    """Each file is checked next to a valid reproduced result (which one of them duplicates);
    the valid one stays clean and the malformed one gets a problem at the expected field."""
    path = MALFORMED / name
    expected = EXPECTED[name]
    validation = validate_paths([REPRODUCED, path], known_models=KNOWN)
    assert not validation.ok
    assert [problem for problem in validation.problems if problem.file == str(REPRODUCED)] == []
    lines = [str(problem) for problem in validation.problems if problem.file == str(path)]
    wanted = f"{path}: {expected['field']}: "
    assert any(line.startswith(wanted) and expected["says"] in line for line in lines), lines
    assert [result.path for result in validation.results] == [REPRODUCED]


def test_oversized_file_is_rejected_before_parsing(tmp_path):
    big = tmp_path / "big.json"
    result = json.loads(REPRODUCED.read_text("utf-8"))
    result["notes"] = "x" * MAX_FILE_BYTES
    big.write_text(json.dumps(result))
    [problem] = validate_paths([big], known_models=KNOWN).problems
    assert (problem.field, problem.file) == (FILE, str(big))
    assert "capped at 2097152 bytes" in problem.message


def test_the_real_submissions_folder_is_clean():
    validation = validate_paths([SUBMISSIONS])
    assert validation.problems == []
    assert validation.files == len(validation.results) >= 3
    names = {result.data["model"]["name"] for result in validation.results}
    assert {"openclip/vit-l-16-siglip2-512", "qwen3-vl/qwen3-vl-embedding-2b", "baseline/random"} <= names


def test_reproduced_names_are_checked_against_the_real_registry(tmp_path):
    assert validate_paths([REPRODUCED]).ok  # openclip/tiny-random is a built-in model
    unknown = tmp_path / "unknown.json"
    shutil.copy(MALFORMED / "unknown_reproduced_model.json", unknown)
    [problem] = validate_paths([unknown]).problems
    assert problem.field == "model.name" and "not a registered model" in problem.message


def test_registry_is_loaded_only_when_a_reproduced_file_needs_it():
    calls = []

    def registry():
        calls.append(1)
        return KNOWN

    assert validate_paths([SUBMISSIONS], known_models=registry).ok
    assert calls == []
    assert validate_paths([SUBMISSIONS, REPRODUCED, MINI], known_models=registry).ok
    assert calls == [1]


def _folder(tmp_path: Path, files: dict[str, Path]) -> Path:
    folder = tmp_path / "submissions"
    for relative, source in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, folder / relative)
    return folder


def test_folder_layout_rules(tmp_path):
    folder = _folder(tmp_path, {
        "qwen3-vl/tiny-random.json": REPRODUCED,
        "loose.json": SUBMISSIONS / "baseline" / "random__reported.json",
        "openclip/mini.json": MINI,
        "openclip/README.md": SUBMISSIONS / "README.md",
    })
    problems = {(Path(problem.file).name, problem.field) for problem in
                validate_paths([folder], known_models=KNOWN).problems}
    assert problems == {("tiny-random.json", "model.family"), ("loose.json", FILE),
                        ("mini.json", "benchmark.synthetic")}


def test_files_named_directly_skip_the_folder_rules_and_are_read_once():
    validation = validate_paths([MINI, MINI, REPRODUCED], known_models=KNOWN)
    assert validation.ok
    assert validation.files == 2


def test_reported_and_reproduced_of_one_model_may_coexist(tmp_path):
    reported = json.loads((SUBMISSIONS / "openclip" / "vit-l-16-siglip2-512__reported.json").read_text("utf-8"))
    reproduced = json.loads(REPRODUCED.read_text("utf-8"))
    reported["model"]["name"] = reproduced["model"]["name"]
    path = tmp_path / "reported.json"
    path.write_text(json.dumps(reported))
    assert validate_paths([REPRODUCED, path], known_models=KNOWN).ok


def test_cli_prints_file_field_message_and_exits_1(capsys):
    bad = MALFORMED / "javascript_paper_url.json"
    assert main(["validate", str(REPRODUCED), str(bad)]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        f'{bad}: model.paper_url: must be an http:// or https:// link, got "javascript:alert(document.cookie)"'
    ]
    assert "2 file(s) checked: 1 invalid, 1 problem(s)" in " ".join(out.err.split())


def test_cli_json_report(capsys):
    assert main(["validate", "--json", str(MALFORMED / "nan_metric.json")]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False and report["files"] == 1
    assert report["problems"][0]["field"] == "tasks.paired.metrics.i2t.r1"


def test_cli_defaults_to_the_submissions_folder(tmp_path, monkeypatch, capsys):
    _folder(tmp_path, {"baseline/random.json": SUBMISSIONS / "baseline" / "random__reported.json"})
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 0
    assert "1 file(s) checked: all valid" in capsys.readouterr().err
    assert main(["validate", "nowhere"]) == 2
    assert "nowhere does not exist" in capsys.readouterr().err
