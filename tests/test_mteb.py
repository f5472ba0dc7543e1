"""MTEB interop: task 1 rows imported from MTEB result files, and reproduced task 1 exported to them."""

import json
from pathlib import Path

import pytest

from mars_zoo.cli import main

SUBMISSIONS = Path(__file__).parent.parent / "submissions"
REVISION = "f0084ab0ba2f584b15dc72a82502b38ee490f58d"
TASKS = {"t2i": "MarsVLPairsT2IRetrieval", "i2t": "MarsVLPairsI2TRetrieval"}
K_VALUES = (1, 3, 5, 10, 20, 100, 1000, 2247)  # the tasks' k values in MTEB

# The results table of MTEB pull request #5148 (leaderboard/PROTOCOL.md, task 1 reference
# numbers), in percent: R@1, R@10, MRR, MedR per direction; MTEB's checkpoint name first.
PR_TABLE = {
    "openclip/vit-l-16-siglip2-512": ("timm/ViT-L-16-SigLIP2-512", {"t2i": (12.73, 28.48, 18.24, 78),
                                                                      "i2t": (13.53, 29.28, 19.11, 53)}),
    "qwen3-vl/qwen3-vl-embedding-2b": ("Qwen/Qwen3-VL-Embedding-2B", {"t2i": (13.04, 29.37, 18.68, 76),
                                                                       "i2t": (18.51, 34.53, 23.97, 61)}),
}
RANDOM_ROW = {"t2i": (0.05, 0.49, 0.34), "i2t": (0.00, 0.45, 0.34)}  # the table's "random" row, no MedR
PR_URL = "https://github.com/embeddings-benchmark/mteb/pull/5148"
PR_CITATION = ("MTEB pull request #5148 (embeddings-benchmark/mteb), tasks MarsVLPairsT2IRetrieval and "
               "MarsVLPairsI2TRetrieval")
PR_NOTES = ("The files transcribe the pull request's results table, which gives percentages with two decimals "
            "(12.73 % is 0.1273).")


def scores_row(r1: float, r10: float, mrr: float, distractors: bool) -> dict:
    """One `scores.test` row as MTEB writes it (fractions; recall to 5 decimals, MRR to 6). With
    `distractors`, every other key MTEB writes for the tasks' k values is there too, with values
    that differ from the three the row means (mrr_at_10 is not MRR, recall_at_5 is not R@1...)."""
    row = {}
    if distractors:
        for i, k in enumerate(K_VALUES):
            share = (i + 1) / len(K_VALUES)
            recall = round(min(1.0, r10 + (1 - r10) * share * 0.9), 5) if k > 10 else round(r1 + (r10 - r1) * share, 5)
            row.update({f"ndcg_at_{k}": round(mrr * 0.97 + 0.001 * i, 5), f"map_at_{k}": round(mrr * 0.93 + 0.001 * i, 5),
                        f"recall_at_{k}": recall, f"precision_at_{k}": round(recall / k, 5),
                        f"mrr_at_{k}": round(mrr * (0.9 + 0.1 * i / len(K_VALUES)), 6),
                        f"nauc_ndcg_at_{k}_max": 0.2283, f"cv_recall_at_{k}": recall})
        row["accuracy"] = round(r1 * 0.5, 5)
    row.update({"recall_at_1": round(r1, 5), "recall_at_10": round(r10, 5), "mrr_at_2247": round(mrr, 6),
                "main_score": round(mrr, 6), "hf_subset": "default", "languages": ["eng-Latn"]})
    return row


def write_mteb_run(root: Path, meta: dict, rows: dict, mteb_version: str | None) -> Path:
    """One model's MTEB output laid out as MTEB writes it: <org>__<model>/<revision>/ holding
    model_meta.json and one file per task."""
    folder = root / meta["name"].replace("/", "__") / (meta.get("revision") or "no_revision_available")
    folder.mkdir(parents=True)
    (folder / "model_meta.json").write_text(json.dumps(meta, indent=4))  # MTEB's own meta may hold Infinity
    for direction, row in rows.items():
        (folder / f"{TASKS[direction]}.json").write_text(json.dumps(
            {"dataset_revision": REVISION, "task_name": TASKS[direction], "mteb_version": mteb_version,
             "scores": {"test": [row]}, "evaluation_time": None if mteb_version is None else 12.5,
             "kg_co2_emissions": None}, indent=2))
    return folder


def random_encoder_run(root: Path) -> Path:
    """MTEB's random baseline as MTEB writes it (model_meta.json as in MTEB's results repository:
    four modalities, no parameters, max_tokens Infinity), scored at the table's random row."""
    meta = {"name": "mteb/baseline-random-encoder", "revision": "1", "n_parameters": 0, "max_tokens": float("inf"),
            "embed_dim": 32, "license": "mit", "open_weights": True, "similarity_fn_name": "cosine",
            "modalities": ["text", "image", "audio", "video"], "model_type": ["dense"], "loader": "RandomEncoderBaseline"}
    rows = {d: scores_row(r1 / 100, r10 / 100, mrr / 100, distractors=True) for d, (r1, r10, mrr) in RANDOM_ROW.items()}
    return write_mteb_run(root, meta, rows, "2.3.3")


def pr_table_run(root: Path, name: str) -> Path:
    """The pull request's numbers for one model, transcribed into MTEB's layout: only what the
    table states (the three metrics, the frozen revision); MTEB version and model revision are
    not stated there, so they stay null."""
    checkpoint, numbers = PR_TABLE[name]
    rows = {d: scores_row(r1 / 100, r10 / 100, mrr / 100, distractors=False) for d, (r1, r10, mrr, _) in numbers.items()}
    return write_mteb_run(root, {"name": checkpoint, "revision": None, "modalities": ["image", "text"]}, rows, None)


@pytest.mark.parametrize("name", PR_TABLE)
def test_import_reproduces_the_committed_reported_row_byte_for_byte(tmp_path, name):
    folder = pr_table_run(tmp_path / "mteb", name)
    medr = [f"--medr={d}={numbers[3]}" for d, numbers in PR_TABLE[name][1].items()]
    out = tmp_path / "submissions"
    assert main(["import", "mteb", str(folder), *medr, "--url", PR_URL, "--citation", PR_CITATION,
                 "--notes", PR_NOTES, "--out", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    family, short = name.split("/")
    imported = (out / family / f"{short}__reported.json").read_bytes()
    committed = (SUBMISSIONS / family / f"{short}__reported.json").read_bytes()
    assert imported.decode() == committed.decode()
    # The row says which numbers are not from MTEB's files.
    notes = json.loads(imported)["source"]["notes"]
    t2i, i2t = (PR_TABLE[name][1][d][3] for d in ("t2i", "i2t"))
    assert f"MedR (t2i {t2i}, i2t {i2t}) is from the cited text, not from the MTEB files" in notes


def test_import_of_mtebs_random_baseline_gives_the_random_rows_numbers(tmp_path):
    """The committed baseline/random row was copied from the table's "random" row, which names no
    model, so it is not an import of MTEB files and only its numbers are compared: the import of
    MTEB's own random baseline, written as MTEB writes it, gives the same numbers, no MedR."""
    folder = random_encoder_run(tmp_path / "mteb")
    out = tmp_path / "submissions"
    assert main(["import", "mteb", str(folder), "--model", "baseline/random", "--out", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    imported = json.loads((out / "baseline" / "random__reported.json").read_text())
    committed = json.loads((SUBMISSIONS / "baseline" / "random__reported.json").read_text())
    assert imported["tasks"]["paired"]["metrics"] == committed["tasks"]["paired"]["metrics"]
    assert imported["model"] == {"name": "baseline/random", "family": "baseline", "checkpoint": "mteb/baseline-random-encoder",
                                 "modalities": ["image", "text"], "embedding_dim": 32, "license": "mit"}
    notes = imported["source"]["notes"]
    assert "model mteb/baseline-random-encoder, revision 1; mteb 2.3.3" in notes
    assert "hold no median rank, so MedR is null" in notes


@pytest.mark.parametrize("edit, field", [
    (lambda doc: doc["scores"]["test"][0].update(recall_at_1=12.73), "recall_at_1"),
    (lambda doc: doc.update(dataset_revision="main"), "dataset_revision"),
    (lambda doc: doc["scores"]["test"][0].update(hf_subset="en"), "scores.test"),
    (lambda doc: doc.update(mars_zoo={"medr": 0}), "mars_zoo.medr"),
])
def test_bad_mteb_files_are_refused_naming_file_and_field(tmp_path, capsys, edit, field):
    folder = random_encoder_run(tmp_path / "mteb")
    task = folder / "MarsVLPairsT2IRetrieval.json"
    document = json.loads(task.read_text())
    edit(document)
    task.write_text(json.dumps(document))
    out = tmp_path / "submissions"
    assert main(["import", "mteb", str(folder), "--model", "baseline/random", "--out", str(out)]) == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "MarsVLPairsT2IRetrieval.json" in message and field in message
    assert not out.exists()


@pytest.mark.parametrize("flags, says", [
    (["--medr", "t2i:78"], "write --medr DIRECTION=RANK"),
    (["--medr", "t2v=78"], "DIRECTION one of t2i, i2t"),
    (["--medr", "t2i=0"], "a whole number from 1 to 2247"),
    (["--medr", "t2i=2248"], "a whole number from 1 to 2247"),
    (["--medr", "t2i=77.5"], "a whole number from 1 to 2247"),
    (["--medr", "t2i=-3"], "a whole number from 1 to 2247"),
    (["--medr", "t2i=78", "--medr", "t2i=76"], "t2i is given twice"),
    (["--medr", "i2t=53"], "holds no MarsVLPairsI2TRetrieval.json"),
])
def test_bad_medr_flags_are_refused_naming_the_flag_and_the_fix(tmp_path, capsys, flags, says):
    folder = pr_table_run(tmp_path / "mteb", "openclip/vit-l-16-siglip2-512")
    (folder / "MarsVLPairsI2TRetrieval.json").unlink()  # a run of one direction
    out = tmp_path / "submissions"
    assert main(["import", "mteb", str(folder), *flags, "--out", str(out)]) == 2
    message = " ".join(capsys.readouterr().err.split())
    assert f"--medr {flags[-1]!r}" in message and says in message and "Traceback" not in message
    assert not out.exists()


def test_medr_names_one_model(tmp_path, capsys):
    for name in PR_TABLE:
        pr_table_run(tmp_path / "mteb", name)
    out = tmp_path / "submissions"
    assert main(["import", "mteb", str(tmp_path / "mteb"), "--medr", "t2i=78", "--out", str(out)]) == 2
    assert "--medr is about one model, but the paths hold 2 model folders" in " ".join(capsys.readouterr().err.split())
    assert not out.exists()


def test_export_then_import_gives_back_every_task_1_number(tmp_path, capsys):
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
    out = tmp_path / "sub"
    assert main(["import", "mteb", str(folder), "--model", "openclip/tiny-random", "--medr", "t2i=4", "--out", str(out)]) == 2
    assert "already record MedR" in " ".join(capsys.readouterr().err.split())
    assert main(["import", "mteb", str(folder), "--model", "openclip/tiny-random", "--out", str(out)]) == 0
    back = json.loads((out / "openclip" / "tiny-random__reported.json").read_text())
    assert back["tasks"]["paired"]["metrics"] == result["tasks"]["paired"]["metrics"]  # r1, r10, mrr and medr
    assert "MedR from the files' mars_zoo.medr" in back["source"]["notes"]


def test_export_refuses_a_reported_result(tmp_path, capsys):
    reported = SUBMISSIONS / "openclip" / "vit-l-16-siglip2-512__reported.json"
    assert main(["export", "mteb", str(reported), "--out", str(tmp_path)]) == 2
    assert "reproduced" in capsys.readouterr().err


@pytest.mark.parametrize("model, folder", [
    ({"hub_repo": "timm/ViT-L-16-SigLIP2-512", "revision": "0123456789abcdef0123456789abcdef01234567"},
     "timm__ViT-L-16-SigLIP2-512/0123456789abcdef0123456789abcdef01234567"),
    ({}, "ViT-B-32_(random_init,_tiny)/no_revision_available"),  # the fixture: its checkpoint, no revision
])
def test_export_writes_mtebs_folder_layout(tmp_path, capsys, model, folder):
    result = json.loads((Path(__file__).parent / "fixtures" / "valid" / "reproduced.json").read_text())
    result["model"].update(model)
    path = tmp_path / "result.json"
    path.write_text(json.dumps(result))
    assert main(["export", "mteb", str(path), "--out", str(tmp_path / "mteb")]) == 0
    written = sorted(p.relative_to(tmp_path / "mteb").as_posix() for p in (tmp_path / "mteb").rglob("*.json"))
    assert written == [f"{folder}/{name}" for name in
                       ("MarsVLPairsI2TRetrieval.json", "MarsVLPairsT2IRetrieval.json", "model_meta.json")]
