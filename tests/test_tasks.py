"""Tasks are plugins: the README's example task, run end to end exactly as printed (from a
--plugins-dir file and from an entry point); what registering a task checks; how results of a
task a plugin declares are validated; and the built-in tasks' declarations, which the result
schema pins."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

import mars_zoo
from fake_models import image_features
from mars_zoo.cli import main
from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.plugin_manager import PluginInfo, build_plugin_manager
from mars_zoo.models.registry import Registry
from mars_zoo.core.reporting import console, console_err
from mars_zoo.results.validation import validate_result
from mars_zoo.schema.results_schema import load_schema
from mars_zoo.tasks.registry import registered_tasks
from test_plugins import make_distribution, mars_zoo_cli

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).parent
EXAMPLE = "landform_neighbours"


def readme_task() -> str:
    """The example task of the README's 'Writing a task', verbatim."""
    section = (ROOT / "README.md").read_text("utf-8").split("## Writing a task", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.+?)\n```", section, re.S)
    assert len(blocks) == 1
    return blocks[0] + "\n"


def expected_neighbour_metrics(mini_dir: Path) -> dict[str, float]:
    """The example's two metrics for the fake model, from the mini benchmark's parquet files and
    the fake model's features alone, one image at a time."""
    images, labels = [], []
    for path in sorted((mini_dir / "Mars-Landforms" / "data").glob("train-*.parquet")):
        for row in pq.read_table(path).to_pylist():
            with Image.open(io.BytesIO(row["image"]["bytes"])) as image:
                features = image_features(image.convert("RGB"))
            images.append(features / np.linalg.norm(features))
            labels.append(row["label"])
    hits, first_ranks = 0, []
    for index, (image, label) in enumerate(zip(images, labels)):
        others = sorted((j for j in range(len(images)) if j != index), key=lambda j: -float(image @ images[j]))
        hits += labels[others[0]] == label
        same = [rank for rank, j in enumerate(others, 1) if labels[j] == label]
        if same:
            first_ranks.append(same[0])
    return {"accuracy": hits / len(images), "first_same_rank": sum(first_ranks) / len(first_ranks)}


def _cli(capsys, *args) -> tuple[int, str, str]:
    """`mars-zoo ARGS` in-process on consoles wide enough that nothing wraps."""
    capsys.readouterr()
    widths = [(stream, stream.width) for stream in (console, console_err)]
    try:
        for stream, _ in widths:
            stream.width = 1000
        code = main([str(arg) for arg in args])
    finally:
        for stream, width in widths:
            stream.width = width
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_readme_example_task_runs_validates_and_is_shown_on_the_leaderboard(mini_dir, tmp_path, capsys):
    code = readme_task()
    assert len(code.splitlines()) <= 40  # what the README promises a task costs
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / f"{EXAMPLE}.py").write_text(code)
    shutil.copy(TESTS / "fake_models.py", plugins / "fake_models.py")
    out = tmp_path / "result.json"

    status, printed, err = _cli(capsys, "run", "fake/good", "--benchmark", "mini", "--plugins-dir", plugins,
                                "--tasks", EXAMPLE, "--device", "cpu", "--cache-dir", tmp_path / "cache", "--out", out)
    assert status == 0, err
    section = json.loads(out.read_text())["tasks"][EXAMPLE]
    expected = expected_neighbour_metrics(mini_dir)
    assert section["metrics"] == pytest.approx(expected, abs=1e-12)
    assert section["declaration"] == {"name": EXAMPLE, "title": "Landform nearest neighbours",
                                      "metrics": {"accuracy": "higher", "first_same_rank": "lower"},
                                      "headline": "accuracy"}
    assert section["dataset"]["items"] == 96 and section["dataset"]["synthetic"]
    assert "Landform nearest neighbours" in printed  # the declared metrics, printed
    assert re.search(rf"accuracy\s+higher\s+{re.escape(str(expected['accuracy']))}\s", printed), printed

    assert _cli(capsys, "validate", out, "--plugins-dir", plugins)[0] == 0
    submissions, site = tmp_path / "submissions", tmp_path / "site"
    submissions.mkdir()
    assert _cli(capsys, "leaderboard", "build", "--submissions", submissions, "--include", out, "--out", site)[0] == 0
    index = (site / "index.html").read_text()
    assert "<h3>Landform nearest neighbours (SYNTHETIC)</h3>" in index
    assert f">{expected['accuracy']:.4g}<" in index and f">{expected['first_same_rank']:.4g}<" in index
    page = next(path.read_text() for path in (site / "models").glob("*.html"))
    assert "Landform nearest neighbours: declared metrics" in page and f">{expected['accuracy']:.4g}<" in page


def test_a_task_registers_through_an_entry_point(tmp_path, plugins_dir):
    (tmp_path / "site").mkdir()
    site = make_distribution(tmp_path / "site", "neighbours-mars", readme_task())
    rows = {row["name"]: row for row in json.loads(mars_zoo_cli("plugins", "--json", pythonpath=site).stdout)}
    assert rows["neighbours"]["origin"] == "entry-point" and rows["neighbours"]["hooks"] == ["register_tasks"]
    assert rows["marsretrieval"]["origin"] == "builtin" and rows["marsretrieval"]["hooks"] == ["register_tasks"]
    out = tmp_path / "result.json"
    run = mars_zoo_cli("run", "fake/image-only", "--benchmark", "mini", "--plugins-dir", str(plugins_dir),
                       "--device", "cpu", "--cache-dir", str(tmp_path / "cache"), "--out", str(out), pythonpath=site)
    assert run.returncode == 0, run.stderr
    # without --tasks: every task an image-only model takes part in, the built-in ones first
    assert list(json.loads(out.read_text())["tasks"]) == ["geolocalization", EXAMPLE]


class _Plugin:
    """A throwaway plugin registering the tasks it is given."""

    def __init__(self, *tasks) -> None:
        self.tasks = tasks

    @mars_zoo.hookimpl
    def register_tasks(self, register):
        for task in self.tasks:
            register(task)


def _registry(*tasks) -> Registry:
    pm = build_plugin_manager()
    pm.add(_Plugin(*tasks), PluginInfo("acme", "test", "tests", "0"))
    return Registry(pm)


def _task(**fields) -> mars_zoo.Task:
    declared = dict(name="acme", title="Acme", metrics={"hits": "higher"}, headline="hits",
                    plan=lambda benchmark, settings: None, score=lambda plan, embeddings: {})
    return mars_zoo.Task(**{**declared, **fields})


@pytest.mark.parametrize("fields, says", [
    ({"name": "Acme-Task"}, "name must be a task name: lowercase letters, digits and '_'"),
    ({"metrics": {"hits": "up"}}, "metrics.hits must be \"higher\" or \"lower\""),
    ({"metrics": {}}, "metrics must contain at least one metric"),
    ({"headline": "misses"}, "headline must be one of the declared metrics, got 'misses'"),
    ({"modalities": ("audio",)}, "modalities must be a non-empty subset of ('image', 'text')"),
    ({"score": None}, "score must be callable"),
])
def test_a_task_with_bad_declarations_is_refused_naming_plugin_task_and_field(fields, says):
    with pytest.raises(MarsZooError) as refused:
        list(registered_tasks(_registry(_task(**fields)).pm))
    message = str(refused.value)
    assert "Plugin 'acme' registered task" in message and "so it was not registered" in message
    assert says in message


def test_a_task_name_is_taken_once_and_the_builtin_ones_first():
    with pytest.raises(MarsZooError, match="tried to register task 'paired', which plugin 'marsretrieval'"):
        list(registered_tasks(_registry(_task(name="paired")).pm))
    tasks = registered_tasks(_registry(_task()).pm)
    assert [task.name for task in tasks] == ["paired", "landform", "geolocalization", "acme"]
    assert [task.plugin for task in tasks] == ["marsretrieval"] * 3 + ["acme"]


def test_tasks_a_model_cannot_take_part_in_are_refused_and_unknown_ones_listed():
    tasks = registered_tasks(_registry(_task(modalities=("image",))).pm)
    with pytest.raises(MarsZooError, match=r"--tasks: unknown task\(s\) acmee; choose from paired, landform, "
                                           r"geolocalization, acme"):
        tasks.select("x/y", ("image",), ("acmee",))
    with pytest.raises(MarsZooError) as refused:
        tasks.select("x/y", ("image",), ("landform", "acme"))
    assert "task(s) landform need text embeddings" in str(refused.value)
    assert "use --tasks geolocalization,acme" in str(refused.value)


def _declared_result(mini_run: dict) -> dict:
    """The mini run's result with a section of a declared task beside MarsRetrieval's."""
    result = json.loads(json.dumps(mini_run))
    result["tasks"]["acme"] = {
        "declaration": {"name": "acme", "title": "Acme", "metrics": {"hits": "higher", "by.misses": "lower"},
                        "headline": "hits"},
        "dataset": result["tasks"]["landform"]["dataset"],
        "metrics": {"hits": 3.5, "by": {"misses": 2}},
        "timings": {"embed_s": 1.0}, "throughput": {},
    }
    return result


def _edited(result: dict, edit) -> dict:
    edit(result["tasks"]["acme"])
    return result


@pytest.mark.parametrize("edit, problem", [
    (lambda s: s["metrics"].update(extra=1), "tasks.acme.metrics.extra: is not a metric tasks.acme.declaration "
                                            "declares (hits, by.misses)"),
    (lambda s: s["metrics"]["by"].update(hits=1), "tasks.acme.metrics.by.hits: is not a metric"),
    (lambda s: s["metrics"].pop("hits"), "tasks.acme.metrics: lacks the headline metric 'hits'"),
    (lambda s: s["declaration"].update(headline="misses"), "tasks.acme.declaration.headline: 'misses' must be "
                                                          "one of the declared metrics (hits, by.misses)"),
    (lambda s: s["declaration"].update(name="other"), "tasks.acme.declaration.name: is 'other', but the section "
                                                     "is tasks.acme"),
    (lambda s: s.pop("declaration"), "tasks.acme.declaration: is required"),
    (lambda s: s.pop("dataset"), "tasks.acme.dataset: is required in a reproduced result"),
    (lambda s: s["declaration"]["metrics"].update(hits="up"), "tasks.acme.declaration.metrics.hits: must be"),
    (lambda s: s["metrics"].update(hits="many"), "tasks.acme.metrics.hits: must be a number or null or an object"),
    (lambda s: s.update(per_query=[]), "tasks.acme.per_query: is not a known field"),
])
def test_a_declared_task_reports_what_it_declares(mini_run, edit, problem):
    assert validate_result(_declared_result(mini_run)) == []
    problems = validate_result(_edited(_declared_result(mini_run), edit))
    assert any(line.startswith(problem) for line in problems), problems


def test_a_task_name_that_is_no_task_name_is_refused(mini_run):
    result = _declared_result(mini_run)
    result["tasks"]["Acme Task"] = result["tasks"].pop("acme")
    assert any(line.startswith('tasks["Acme Task"]: must be a task name') for line in validate_result(result))


def test_the_schema_pins_each_builtin_task_to_its_declaration_and_runs_record_it(mini_run):
    tasks = registered_tasks(_registry().pm)
    definitions = {"paired": "pairedTask", "landform": "landformTask", "geolocalization": "geoTask"}
    schema = load_schema()["$defs"]
    for task in tasks:
        assert schema[definitions[task.name]]["properties"]["declaration"]["const"] == task.declaration()
        assert mini_run["tasks"][task.name]["declaration"] == task.declaration()
    result = json.loads(json.dumps(mini_run))
    result["tasks"]["landform"]["declaration"]["headline"] = "hit@10"
    assert any(line.startswith("tasks.landform.declaration: must be the declaration of MarsRetrieval task 2")
               for line in validate_result(result))
