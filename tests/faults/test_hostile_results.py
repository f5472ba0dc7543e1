"""Fault corpus, hostile result files: numbers that cannot occur together, mini results dressed
up as real ones, links and special files in the submissions folder, names that forge output,
and a leaderboard --out that would delete its inputs.

Each case asserts the exit code of `mars-zoo validate` (or `leaderboard build`), a message that
names the file and field, no traceback, and that nothing was published or lost. The numeric
cases start from honest results: a real mini run of a fake model (computed here) and the
reproduced fixture, whose numbers were computed with `mars_zoo.scoring.metrics`.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from boundary_helpers import assert_clean_error, cli
from mars_zoo.results.validation import result_problems
from training_support import EXAMPLE, contaminated_report, fine_tuned, training_record

TESTS = Path(__file__).resolve().parents[1]
REPRODUCED = json.loads((TESTS / "fixtures" / "valid" / "reproduced.json").read_text("utf-8"))
REPORTED = json.loads((TESTS.parent / "submissions" / "openclip" / "vit-l-16-siglip2-512__reported.json").read_text("utf-8"))
SECRET = "TOP-SECRET-CONTENT-7f3a"


@pytest.fixture(scope="module")
def mini_result(tmp_path_factory):
    """A real result of the fake model on the mini benchmark, every task."""
    import fake_models

    from mars_zoo.models.plugin_manager import PluginInfo, build_plugin_manager
    from mars_zoo.models.registry import Registry
    from mars_zoo.core.reporting import Reporter
    from mars_zoo.pipeline.runner import RunConfig, run

    pm = build_plugin_manager()
    pm.add(fake_models, PluginInfo("fake", "test", "tests", "0"))
    out = tmp_path_factory.mktemp("mini") / "fake-good.json"
    result, _ = run(RunConfig(model="fake/good", out=out, benchmark="mini", no_cache=True), Registry(pm), Reporter())
    return result


def _set(path: str, value):
    """A mutation setting one field, e.g. _set('tasks.paired.metrics.i2t.medr', 50)."""

    def mutate(result):
        *parents, last = [int(part) if part.isdigit() else part for part in path.split("/")]
        target = result
        for part in parents:
            target = target[part]
        target[last] = value(target[last]) if callable(value) else value

    return mutate


def _unmark(result):
    """Remove every synthetic marker from a mini result."""
    result["benchmark"] = {"name": "marsretrieval", "synthetic": False}
    for task in result["tasks"].values():
        for key in ("dataset", "gallery"):
            if key in task:
                task[key]["synthetic"] = False


def _disguise(result):
    """Markers removed and the mini dataset ids and locations replaced by the real ones."""
    _unmark(result)
    real = {"paired": "Cerru02/Mars-VL-Pairs-MTEB", "landform": "SUSTech/Mars-Landforms",
            "geolocalization": "SUSTech/Mars-Global-Geolocalization"}
    for name, task in result["tasks"].items():
        task["dataset"]["id"] = real[name]
        task["dataset"]["location"] = f"hf://{real[name]}"
    result["tasks"]["geolocalization"]["gallery"]["id"] = "ctx-tiles"
    result["tasks"]["geolocalization"]["gallery"]["location"] = "/data/ctx-tiles"


def _only_geolocalization(result):
    _disguise(result)
    del result["tasks"]["paired"], result["tasks"]["landform"]


def _both(*mutations):
    def mutate(result):
        for mutation in mutations:
            mutation(result)

    return mutate


GEO = "tasks/geolocalization"
ROW = f"{GEO}/per_landform/0"
RECORD = "training/record"
REPORT = f"{RECORD}/contamination"

# (case id, base, mutation, field of the expected problem, what its message says)
CASES = [
    ("mini-markers-removed", "mini", _unmark, "tasks.landform.dataset.items_sha256", "generated mini benchmark"),
    ("mini-disguised-as-real", "mini", _disguise, "tasks.paired.dataset.items_sha256", "never publishable"),
    ("mini-gallery-only", "mini", _only_geolocalization, "tasks.geolocalization.gallery.items_sha256",
     "mini-v1 task 3 tiles"),
    ("mini-id-kept-markers-removed", "mini", _both(_unmark, _set("tasks/landform/dataset/items_sha256", "0" * 64)),
     "tasks.landform.dataset.id", "generated mini benchmark dataset"),
    ("ndcg-above-hit", "reproduced", _set("tasks/landform/metrics/hit@10", 0.5),
     "tasks.landform.metrics.ndcg@10", "cannot exceed Hit@10"),
    ("class-ndcg-without-hit", "reproduced", _both(_set("tasks/landform/per_class/0/hit@10", 0.0)),
     "tasks.landform.per_class[0].ndcg@10", "cannot exceed Hit@10"),
    ("class-hit-half", "reproduced", _set("tasks/landform/per_class/0/hit@10", 0.5),
     "tasks.landform.per_class[0].hit@10", "must be 0 or 1"),
    ("map-not-mean-of-classes", "reproduced", _set("tasks/landform/metrics/map", lambda v: v + 0.01),
     "tasks.landform.metrics.map", "mean of its 6 per_class rows"),
    ("relevant-counts-do-not-add-up", "reproduced", _set("tasks/landform/dataset/items", lambda v: v + 1),
     "tasks.landform.per_class", "add up to"),
    ("r-precision-not-whole", "reproduced", _set("tasks/landform/per_class/1/r_precision", lambda v: v + 0.001),
     "tasks.landform.per_class[1].r_precision", "not a whole number of images"),
    ("r1-above-r10", "reproduced", _set("tasks/paired/metrics/t2i/r1", 0.9),
     "tasks.paired.metrics.t2i.r1", "cannot exceed R@10"),
    ("mrr-above-its-bound", "reproduced", _set("tasks/paired/metrics/i2t/mrr", 0.99),
     "tasks.paired.metrics.i2t.mrr", "cannot exceed R@10 + (1 - R@10)/11"),
    ("medr-against-r10", "reproduced", _set("tasks/paired/metrics/i2t/medr", 50.0),
     "tasks.paired.metrics.i2t.medr", "must be at most 10"),
    ("r1-not-whole-queries", "reproduced", _set("tasks/paired/metrics/i2t/r1", lambda v: v + 1e-4),
     "tasks.paired.metrics.i2t.r1", "not a whole number of queries"),
    ("more-pairs-than-rows", "reproduced", _set("tasks/paired/dataset/missing", ["k1", "k2"]),
     "tasks.paired.dataset.items", "more than the 2247 rows"),
    ("f1-not-from-p-and-r", "reproduced", _set(f"{ROW}/precision", lambda v: v / 2),
     "tasks.geolocalization.per_landform[0].f1", "is not 2PR/(P+R)"),
    ("curve-f1-not-from-p-and-r", "reproduced", _set(f"{ROW}/curve/f1/3", lambda v: v + 0.01),
     "tasks.geolocalization.per_landform[0].curve.f1[3]", "is not 2PR/(P+R)"),
    ("geo-mean-not-mean-of-rows", "reproduced", _set(f"{GEO}/metrics/image/f1", lambda v: v + 0.001),
     "tasks.geolocalization.metrics.image.f1", "mean of the 5 per_landform rows of mode 'image'"),
    ("best-point-not-the-curves", "reproduced", _set(f"{ROW}/k", lambda v: v + 100),
     "tasks.geolocalization.per_landform[0].f1", "the curve's best point"),
    ("auprc-not-the-area", "reproduced", _set(f"{ROW}/auprc", lambda v: v + 0.001),
     "tasks.geolocalization.per_landform[0].auprc", "area under the curve"),
    ("ground-truth-differs-by-mode", "reproduced", _set(f"{ROW}/ground_truth", lambda v: v + 1),
     "tasks.geolocalization.per_landform", "same ground truth"),
    ("curve-stops-early", "reproduced", _set(f"{GEO}/k_max", 5000),
     "tasks.geolocalization.per_landform[0].curve.k", "must end at min(k_max, gallery tiles)"),
    ("k-beyond-gallery", "reproduced", _set(f"{GEO}/gallery/items", 150),
     "tasks.geolocalization.per_landform[0].k", "exceeds min(k_max, gallery tiles) = 150"),
    ("reported-ndcg-above-hit", "reported",
     lambda r: r["tasks"].__setitem__("landform", {"metrics": {"map": 0.3, "r_precision": 0.3, "ndcg@10": 0.6, "hit@10": 0.5}}),
     "tasks.landform.metrics.ndcg@10", "cannot exceed Hit@10"),
    ("reported-medr-against-r10", "reported", _set("tasks/paired/metrics/i2t/medr", 3),
     "tasks.paired.metrics.i2t.medr", "must be above 10"),
    # the training section: zero-shot, fine-tuned on clean data or contaminated, as measured
    ("training-counts-marked-clean", "fine-tuned", _set(f"{REPORT}/tasks/paired/images", 2),
     "training.record.contamination.contaminated", "is false, but contamination.tasks counts"),
    ("training-marked-contaminated-without-counts", "contaminated",
     _set(f"{REPORT}/tasks", {"paired": {"images": 0, "captions": 0}, "landform": {"images": 0, "captions": 0},
                              "geolocalization": {"images": 0, "captions": 0}}),
     "training.record.contamination.contaminated", "no task of contamination.tasks counts"),
    ("training-contaminated-not-allowed", "contaminated", _set(f"{RECORD}/allowed_contaminated", False),
     "training.record.allowed_contaminated", "only with --allow-contaminated"),
    ("training-clean-with-examples", "fine-tuned", _set(f"{REPORT}/examples", [EXAMPLE]),
     "training.record.contamination.examples", "a clean report has none"),
    ("training-task-unchecked", "fine-tuned", lambda r: r["training"]["record"]["contamination"]["tasks"].pop("landform"),
     "training.record.contamination.tasks", "does not cover landform, which the result scores"),
    ("training-record-of-another-model", "fine-tuned", _set(f"{RECORD}/base_model", "openclip/marscope-v1"),
     "training.record.base_model", "evaluated as the model they were fine-tuned from"),
    ("training-record-of-another-revision", "fine-tuned", _set(f"{RECORD}/base_revision", "ab" * 20),
     "training.record.base_revision", "evaluated on base revision None"),
    ("training-fingerprint-not-sha256", "fine-tuned", _set(f"{RECORD}/data/fingerprint", "md5:0123"),
     "training.record.data.fingerprint", "'sha256:' and 64 lowercase hex digits"),
    ("own-weights-marked-zero-shot", "fine-tuned", _set("training", {"kind": "zero-shot"}),
     "training.kind", "evaluated own weights (model.weights)"),
    ("published-weights-with-a-record", "reproduced", _set("training", {"kind": "fine-tuned", "record": training_record()}),
     "training.kind", "evaluated published weights (model.weights is null)"),
    ("declared-without-its-source", "reproduced", _set("training", {"kind": "declared", "data": "Mars pairs"}),
     "training.source", "is required"),
]


def _base(name: str, mini_result) -> dict:
    if name == "fine-tuned":
        return fine_tuned(REPRODUCED, training_record())
    if name == "contaminated":
        return fine_tuned(REPRODUCED, training_record(contamination=contaminated_report(), allowed_contaminated=True))
    return copy.deepcopy({"mini": mini_result, "reproduced": REPRODUCED, "reported": REPORTED}[name])


def test_the_honest_bases_are_valid(mini_result):
    for name in ("mini", "reproduced", "reported", "fine-tuned", "contaminated"):
        assert result_problems(_base(name, mini_result)) == [], name
    assert mini_result["benchmark"] == {"name": "mini", "synthetic": True}


def test_the_mini_fingerprint_knows_every_dataset_of_a_fresh_mini_run(mini_result):
    from mars_zoo.data.mini_fingerprint import mini_items

    unknown = {f"{task}.{key}": body[key]["items_sha256"] for task, body in mini_result["tasks"].items()
               for key in ("dataset", "gallery") if key in body and mini_items(body[key]["items_sha256"]) is None}
    assert not unknown, (f"the mini benchmark changed: add these hashes to MINI_ITEMS_SHA256 in "
                         f"mars_zoo/data/mini_fingerprint.py, keeping the old ones: {unknown}")


@pytest.mark.parametrize("name, base, mutate, field, says", CASES, ids=[case[0] for case in CASES])
def test_impossible_or_disguised_result_is_refused_and_never_published(
    tmp_path, capsys, mini_result, name, base, mutate, field, says
):
    result = _base(base, mini_result)
    mutate(result)
    family = result["model"]["family"]
    submissions = tmp_path / "submissions"
    (submissions / family).mkdir(parents=True)
    path = submissions / family / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    outcome = cli(capsys, "validate", path)
    assert outcome.code == 1
    lines = outcome.out.splitlines()
    assert any(line.startswith(f"{path}: {field}: ") and says in line for line in lines), lines
    assert "Traceback" not in outcome.err
    site = tmp_path / "site"
    built = cli(capsys, "leaderboard", "build", "--submissions", submissions, "--out", site)
    assert_clean_error(built, 2, f"{name}.json: {field}: ")
    assert not site.exists()  # nothing published


def test_a_model_that_declares_mars_training_is_never_recorded_as_zero_shot(tmp_path, capsys):
    """MarScope declares its Mars training; a result of its published weights marked zero-shot
    would hide it, and 'mars-zoo validate' holds it to what the registered model declares."""
    result = copy.deepcopy(REPRODUCED)
    result["model"]["name"] = "openclip/marscope-v1"
    path = tmp_path / "marscope.json"
    path.write_text(json.dumps(result))
    outcome = cli(capsys, "validate", path)
    assert outcome.code == 1 and "Traceback" not in outcome.err
    assert (f"{path}: training.kind: is 'zero-shot', but openclip/marscope-v1 is registered as 'declared'"
            in outcome.out), outcome.out
    result["training"] = {"kind": "declared", "data": "Mars image-text pairs", "source": "https://arxiv.org/abs/2601.15949"}
    path.write_text(json.dumps(result))
    assert cli(capsys, "validate", path).code == 0


def test_rounded_reported_numbers_pass_within_their_rounding():
    result = copy.deepcopy(REPORTED)
    result["tasks"]["landform"] = {
        "metrics": {"map": 0.3, "r_precision": 0.3, "ndcg@10": 0.5004, "hit@10": 0.5},  # 0.04 % apart
    }
    assert result_problems(result) == []


def test_mini_data_with_its_markers_removed_is_still_recorded_as_synthetic(tmp_path, mini_dir):
    """A copy of the mini data without its synthetic marker files, read with --data-dir, gives
    a result marked synthetic: its item ids give it away."""
    import fake_models

    from mars_zoo.data.hub_format import SYNTHETIC_MARKER
    from mars_zoo.models.plugin_manager import PluginInfo, build_plugin_manager
    from mars_zoo.models.registry import Registry
    from mars_zoo.core.reporting import Reporter
    from mars_zoo.pipeline.runner import RunConfig, run

    copy_dir = tmp_path / "data"
    shutil.copytree(mini_dir, copy_dir)
    for marker in copy_dir.rglob(SYNTHETIC_MARKER):
        marker.unlink()
    pm = build_plugin_manager()
    pm.add(fake_models, PluginInfo("fake", "test", "tests", "0"))
    config = RunConfig(model="fake/good", out=tmp_path / "r.json", data_dir=copy_dir, tasks=("landform",),
                       no_cache=True, cache_dir=tmp_path / "cache")
    result, _ = run(config, Registry(pm), Reporter())
    assert result["benchmark"] == {"name": "mini", "synthetic": True}
    assert result["tasks"]["landform"]["dataset"]["synthetic"] is True


# ------------------------------------------------------------------ files in the submissions folder


def _valid_submissions(tmp_path: Path) -> Path:
    submissions = tmp_path / "submissions"
    shutil.copytree(TESTS.parent / "submissions", submissions)
    return submissions


def _secret(tmp_path: Path) -> Path:
    outside = tmp_path / "outside" / "secret.json"
    outside.parent.mkdir()
    outside.write_text('{"' + SECRET + '": 1}')
    return outside


@pytest.mark.parametrize("link", ["file", "folder"])
def test_links_in_the_submissions_folder_are_refused_unread(tmp_path, capsys, link):
    submissions = _valid_submissions(tmp_path)
    secret = _secret(tmp_path)
    if link == "file":
        (submissions / "openclip" / "stolen.json").symlink_to(secret)
        named = "openclip/stolen.json"
    else:
        (submissions / "stolen").symlink_to(secret.parent, target_is_directory=True)
        named = "stolen"
    outcome = cli(capsys, "validate", submissions)
    assert outcome.code == 1 and "Traceback" not in outcome.err
    assert f"{submissions / named}: (file): is a symbolic link" in outcome.out
    assert SECRET not in outcome.out + outcome.err and str(secret.parent) not in outcome.out
    site = tmp_path / "site"
    built = cli(capsys, "leaderboard", "build", "--submissions", submissions, "--out", site)
    assert_clean_error(built, 2, "is a symbolic link")
    assert SECRET not in built.err and not site.exists()


def test_a_fifo_in_the_submissions_folder_is_refused_without_blocking(tmp_path, capsys):
    submissions = _valid_submissions(tmp_path)
    fifo = submissions / "openclip" / "pipe.json"
    os.mkfifo(fifo)
    # If the file were opened for reading, this writer would unblock it after a few seconds
    # and the test would fail on the message instead of hanging.
    unblock = threading.Timer(5, lambda: Path(fifo).write_text("{}"))
    unblock.daemon = True
    unblock.start()
    outcome = cli(capsys, "validate", submissions)
    unblock.cancel()
    assert outcome.code == 1
    assert f"{fifo}: (file): is not a regular file" in outcome.out


def test_file_names_are_shown_escaped(tmp_path, capsys):
    submissions = _valid_submissions(tmp_path)
    hostile = submissions / "openclip" / "evil\nopenclip-fake.json: (root): all valid\x1b[2J.json"
    hostile.write_text("not json")
    outcome = cli(capsys, "validate", submissions)
    assert outcome.code == 1
    [line] = [line for line in outcome.out.splitlines() if "evil" in line]
    assert "evil\\nopenclip-fake.json: (root): all valid\\x1b[2J.json: (file): is not valid JSON" in line
    assert "\x1b" not in outcome.out


@pytest.mark.parametrize("content, says", [
    (b"[" * 100_000 + b"]" * 100_000, "nests lists or objects too deeply"),
    (b"[" * 40 + b"]" * 40, "more than 32 levels deep"),
    (b"", "is not valid JSON"),
    (b"\xff\xfe{}", "is not UTF-8"),
    (b"1" * 5000, "is not valid JSON"),
    (b'{"schema_version": 1e999}', "must be a finite number"),
])
def test_malformed_bytes_get_one_problem_line(tmp_path, capsys, content, says):
    path = tmp_path / "r.json"
    path.write_bytes(content)
    outcome = cli(capsys, "validate", path)
    assert outcome.code == 1 and "Traceback" not in outcome.err
    assert any(line.startswith(f"{path}: ") and says in line for line in outcome.out.splitlines()), outcome.out


def test_result_of_a_plugins_dir_model_validates_with_plugins_dir(tmp_path, capsys, mini_result):
    from boundary_helpers import write_plugin

    directory = tmp_path / "plugins"
    write_plugin(directory, "local")
    result = copy.deepcopy(mini_result)
    result["model"].update(name="local/model", family="local", plugin="local")
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result))
    without = cli(capsys, "validate", path)
    assert without.code == 1 and "'local/model' is not a registered model" in without.out
    assert "--plugins-dir" in without.out
    with_dir = cli(capsys, "validate", path, "--plugins-dir", directory)
    assert with_dir.code == 0, with_dir.out


# ------------------------------------------------------------------ leaderboard build --out


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where, says", [
    ("submissions", "holds the submissions folder"),
    (".", "holds the submissions folder"),
    ("submissions/site", "is inside the submissions folder"),
    ("submissions/openclip", "is inside the submissions folder"),
])
def test_build_never_writes_over_or_into_its_submissions(tmp_path, capsys, where, says):
    submissions = _valid_submissions(tmp_path)
    before = _tree(submissions)
    outcome = cli(capsys, "leaderboard", "build", "--submissions", submissions, "--out", tmp_path / where)
    assert_clean_error(outcome, 2, says)
    assert _tree(submissions) == before


def test_build_refuses_an_out_that_holds_an_included_file(tmp_path, capsys, mini_result):
    submissions = _valid_submissions(tmp_path)
    site = tmp_path / "site"
    assert cli(capsys, "leaderboard", "build", "--submissions", submissions, "--out", site).code == 0
    local = site / "mine.json"
    local.write_text(json.dumps(mini_result))
    outcome = cli(capsys, "leaderboard", "build", "--submissions", submissions, "--out", site, "--include", local)
    assert_clean_error(outcome, 2, "holds --include file")
    assert json.loads(local.read_text()) == json.loads(json.dumps(mini_result))


def test_build_never_deletes_files_it_did_not_write(tmp_path, capsys):
    submissions = _valid_submissions(tmp_path)
    site = tmp_path / "site"
    assert cli(capsys, "leaderboard", "build", "--submissions", submissions, "--out", site).code == 0
    assert cli(capsys, "leaderboard", "build", "--submissions", submissions, "--out", site).code == 0  # rebuilds
    (site / "notes.txt").write_text("mine")
    outcome = cli(capsys, "leaderboard", "build", "--submissions", submissions, "--out", site)
    assert_clean_error(outcome, 2, "holds 1 file(s) that no leaderboard build wrote (notes.txt)")
    assert (site / "notes.txt").read_text() == "mine" and (site / "index.html").exists()
