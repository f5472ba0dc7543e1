"""MTEB interop: task 1 rows imported from MTEB result files, and reproduced task 1 exported to them."""

import json
from pathlib import Path

import pytest

from mars_zoo.cli import main

SUBMISSIONS = Path(__file__).parent.parent / "submissions"
REVISION = "f0084ab0ba2f584b15dc72a82502b38ee490f58d"

# leaderboard/PROTOCOL.md, task 1 reference numbers (percent): R@1, R@10, MRR per direction.
PROTOCOL = {
    "timm/ViT-L-16-SigLIP2-512": ("openclip/vit-l-16-siglip2-512", {"t2i": (12.73, 28.48, 18.24), "i2t": (13.53, 29.28, 19.11)}),
    "Qwen/Qwen3-VL-Embedding-2B": ("qwen3-vl/qwen3-vl-embedding-2b", {"t2i": (13.04, 29.37, 18.68), "i2t": (18.51, 34.53, 23.97)}),
    "baseline/random-encoder": ("baseline/random", {"t2i": (0.05, 0.49, 0.34), "i2t": (0.00, 0.45, 0.34)}),
}
TASKS = {"t2i": "MarsVLPairsT2IRetrieval", "i2t": "MarsVLPairsI2TRetrieval"}


def write_mteb_run(root: Path, model: str, numbers: dict, revision: str = REVISION) -> Path:
    """One model's MTEB output as MTEB lays it out: fractions, scores -> test -> subset rows."""
    folder = root / model.replace("/", "__") / "0123456789abcdef0123456789abcdef01234567"
    folder.mkdir(parents=True)
    (folder / "model_meta.json").write_text(json.dumps(
        {"name": model, "revision": "0123456789abcdef0123456789abcdef01234567", "modalities": ["image", "text"],
         "embed_dim": None, "n_parameters": None, "license": None}))
    for direction, (r1, r10, mrr) in numbers.items():
        row = {"ndcg_at_10": 0.2, "recall_at_1": round(r1 / 100, 6), "recall_at_10": round(r10 / 100, 6),
               "mrr_at_10": 0.01, "mrr_at_2247": round(mrr / 100, 6), "main_score": round(mrr / 100, 6),
               "hf_subset": "default", "languages": ["eng-Latn"]}
        (folder / f"{TASKS[direction]}.json").write_text(json.dumps(
            {"dataset_revision": revision, "task_name": TASKS[direction], "mteb_version": "2.8.1",
             "scores": {"test": [row]}, "evaluation_time": 12.5, "kg_co2_emissions": None}))
    return folder


def test_import_reproduces_the_seeded_reported_rows(tmp_path):
    folders = {model: write_mteb_run(tmp_path / "mteb", model, numbers) for model, (_, numbers) in PROTOCOL.items()}
    out = tmp_path / "submissions"
    registered = [folders["timm/ViT-L-16-SigLIP2-512"], folders["Qwen/Qwen3-VL-Embedding-2B"]]
    assert main(["import", "mteb", *map(str, registered), "--out", str(out)]) == 0
    assert main(["import", "mteb", str(folders["baseline/random-encoder"]), "--model", "baseline/random",
                 "--out", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    for name, _ in PROTOCOL.values():
        family, short = name.split("/")
        committed = json.loads((SUBMISSIONS / family / f"{short}__reported.json").read_text())
        imported = json.loads((out / family / f"{short}__reported.json").read_text())
        for key in ("schema_version", "provenance", "benchmark"):
            assert imported[key] == committed[key]
        for key in ("name", "family", "modalities"):
            assert imported["model"][key] == committed["model"][key]
        for key in ("url", "citation", "dataset", "items"):
            assert imported["source"][key] == committed["source"][key]
        paired, expected = imported["tasks"]["paired"], committed["tasks"]["paired"]
        assert {k: v for k, v in paired.items() if k != "metrics"} == {k: v for k, v in expected.items() if k != "metrics"}
        for direction in ("t2i", "i2t"):
            got, want = paired["metrics"][direction], expected["metrics"][direction]
            assert {k: got[k] for k in ("r1", "r10", "mrr")} == {k: want[k] for k in ("r1", "r10", "mrr")}
            # MTEB writes no median rank: the committed MedR comes from the pull request's text.
            assert got["medr"] is None
        assert "recall_at_1" in imported["source"]["notes"] and "mteb 2.8.1" in imported["source"]["notes"]


@pytest.mark.parametrize("edit, field", [
    (lambda doc: doc["scores"]["test"][0].update(recall_at_1=12.73), "recall_at_1"),
    (lambda doc: doc.update(dataset_revision="main"), "dataset_revision"),
    (lambda doc: doc["scores"]["test"][0].update(hf_subset="en"), "scores.test"),
])
def test_bad_mteb_files_are_refused_naming_file_and_field(tmp_path, capsys, edit, field):
    folder = write_mteb_run(tmp_path / "mteb", "timm/ViT-L-16-SigLIP2-512", PROTOCOL["timm/ViT-L-16-SigLIP2-512"][1])
    task = folder / "MarsVLPairsT2IRetrieval.json"
    document = json.loads(task.read_text())
    edit(document)
    task.write_text(json.dumps(document))
    out = tmp_path / "submissions"
    assert main(["import", "mteb", str(folder), "--out", str(out)]) == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "MarsVLPairsT2IRetrieval.json" in message and field in message
    assert not out.exists()


def test_export_writes_mteb_layout_that_imports_back(tmp_path):
    reproduced = Path(__file__).parent / "fixtures" / "valid" / "reproduced.json"
    result = json.loads(reproduced.read_text())
    assert main(["export", "mteb", str(reproduced), "--out", str(tmp_path / "mteb")]) == 0
    (folder,) = {path.parent for path in (tmp_path / "mteb").rglob("MarsVLPairsT2IRetrieval.json")}
    for direction, task in TASKS.items():
        document = json.loads((folder / f"{task}.json").read_text())
        (row,) = document["scores"]["test"]
        metrics = result["tasks"]["paired"]["metrics"][direction]
        assert document["task_name"] == task and document["dataset_revision"] == REVISION
        assert (row["recall_at_1"], row["recall_at_10"], row["mrr_at_2247"], row["main_score"]) == (
            metrics["r1"], metrics["r10"], metrics["mrr"], metrics["mrr"])
    assert main(["import", "mteb", str(folder), "--model", "openclip/tiny-random", "--out", str(tmp_path / "sub")]) == 0
    back = json.loads((tmp_path / "sub" / "openclip" / "tiny-random__reported.json").read_text())
    for direction, metrics in back["tasks"]["paired"]["metrics"].items():
        original = result["tasks"]["paired"]["metrics"][direction]
        assert {k: metrics[k] for k in ("r1", "r10", "mrr")} == {k: original[k] for k in ("r1", "r10", "mrr")}


def test_export_refuses_a_reported_result(tmp_path, capsys):
    reported = SUBMISSIONS / "openclip" / "vit-l-16-siglip2-512__reported.json"
    assert main(["export", "mteb", str(reported), "--out", str(tmp_path)]) == 2
    assert "reproduced" in capsys.readouterr().err
