"""`mars-zoo finetune` on the CPU: open_clip_train trains openclip/tiny-random on the mini
training split, the weights folder it writes is evaluated by `mars-zoo run --weights` as is
and scores above the untrained model, the same seed gives the same weights, contaminated
data is refused unless allowed, and a user's mistakes are one paragraph each.

Task 1 is scored on its short captions (`--caption ori_caption`): the training captions are
short, so a text tower trained on them has never seen the positions of task 1's long refined
captions, and those stay as random as before training."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mars_zoo.cli import main

MODEL = "openclip/tiny-random"
LEARNING = ["--epochs", "15", "--batch-size", "32", "--lr", "2e-3", "--device", "cpu"]
SHORT = ["--epochs", "2", "--batch-size", "64", "--device", "cpu"]
SCORED = ["--benchmark", "mini", "--device", "cpu", "--tasks", "paired,landform", "--caption", "ori_caption"]
R1_MARGIN = 2 / 48  # two more of task 1's 48 pairs found first, each way
MAP_MARGIN = 0.05


def _finetune(out: Path, *options: str) -> int:
    return main(["finetune", MODEL, "--train", "mini", "--out", str(out), *options])


def _scores(result: Path) -> dict[str, float]:
    tasks = json.loads(result.read_text())["tasks"]
    paired = tasks["paired"]["metrics"]
    return {"i2t.r1": paired["i2t"]["r1"], "t2i.r1": paired["t2i"]["r1"], "map": tasks["landform"]["metrics"]["map"]}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    assert _finetune(root / "weights", *LEARNING) == 0
    return root / "weights"


def test_fine_tuned_weights_score_above_the_untrained_model(trained, tmp_path):
    assert main(["run", MODEL, *SCORED, "--out", str(tmp_path / "untrained.json")]) == 0
    assert main(["run", MODEL, "--weights", str(trained), *SCORED, "--out", str(tmp_path / "trained.json")]) == 0
    before, after = _scores(tmp_path / "untrained.json"), _scores(tmp_path / "trained.json")
    assert after["i2t.r1"] >= before["i2t.r1"] + R1_MARGIN, (before, after)
    assert after["t2i.r1"] >= before["t2i.r1"] + R1_MARGIN, (before, after)
    assert after["map"] >= before["map"] + MAP_MARGIN, (before, after)
    # The result carries the weights' training record, unchanged.
    result = json.loads((tmp_path / "trained.json").read_text())
    record = json.loads((trained / "training.json").read_text())
    assert result["training"] == {"kind": "fine-tuned", "record": record}


def test_the_weights_folder_holds_the_weights_and_their_training_record(trained):
    from mars_zoo.adapt.training_data import open_training_data

    assert sorted(p.name for p in trained.iterdir()) == ["open_clip_model.safetensors", "training.json"]
    record = json.loads((trained / "training.json").read_text())
    assert record["base_model"] == MODEL and record["base_revision"] is None
    assert record["data"] == {"name": "mars-zoo/mini-training", "revision": "mini-train-v1",
                              "fingerprint": open_training_data("mini").fingerprint, "pairs": 384}
    config = record["config"]
    assert (config["epochs"], config["batch_size"], config["lr"], config["seed"]) == (15, 32, 2e-3, 0)
    assert config["warmup_steps"] == 18  # 10% of 15 epochs of 384 // 32 = 12 steps
    assert config["loss"] == "clip" and config["world_size"] == 1 and config["val_pairs"] == 0
    losses = [epoch["loss"] for epoch in config["history"]]
    assert [epoch["epoch"] for epoch in config["history"]] == list(range(1, 16))
    assert losses[-1] < losses[0] - 1.0, losses
    assert config["rank_weights_sha256"] == [_sha256(trained / "open_clip_model.safetensors")]
    assert record["contamination"] == {"contaminated": False, "examples": [], "tasks": {
        task: {"images": 0, "captions": 0} for task in ("paired", "landform", "geolocalization")}}
    assert record["allowed_contaminated"] is False


def test_the_same_seed_gives_the_same_weights_and_another_seed_other_weights(tmp_path):
    for name, seed in (("first", "3"), ("second", "3"), ("other", "4")):
        assert _finetune(tmp_path / name, *SHORT, "--seed", seed) == 0
    weights = {name: _sha256(tmp_path / name / "open_clip_model.safetensors") for name in ("first", "second", "other")}
    assert weights["first"] == weights["second"] != weights["other"]


def _parquet(path: Path, pairs: list[tuple[bytes, str]]) -> Path:
    table = pa.table({"picture": pa.array([image for image, _ in pairs], pa.binary()),
                      "text": [caption for _, caption in pairs]})
    pq.write_table(table, path)
    return path


@pytest.fixture(scope="module")
def contaminated(mini_dir, tmp_path_factory) -> Path:
    """64 clean mini training pairs and three task 2 images under new captions."""
    from mars_zoo.adapt.training_data import open_training_data

    clean = [(pair.image_bytes, pair.caption) for _, pair in zip(range(64), open_training_data("mini"))]
    landforms = pq.read_table(sorted((mini_dir / "Mars-Landforms" / "data").glob("*.parquet"))[0]).to_pylist()
    copies = [(row["image"]["bytes"], f"a landform photo number {number}") for number, row in enumerate(landforms[:3])]
    return _parquet(tmp_path_factory.mktemp("contaminated") / "pairs.parquet", clean[:30] + copies + clean[30:])


def test_contaminated_data_is_refused_and_nothing_is_written(contaminated, tmp_path, capsys):
    from mars_zoo.core.folders import default_cache_dir

    runs = default_cache_dir() / "finetune-runs"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    code = main(["finetune", MODEL, "--train", str(contaminated), "--image-column", "picture", "--caption-column",
                 "text", "--benchmark", "mini", "--out", str(tmp_path / "weights"), *SHORT])
    message = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "(landform: 3 images)" in message and "in 3 training pair(s)" in message
    assert "--allow-contaminated" in message and "Traceback" not in message
    assert not (tmp_path / "weights").exists()
    assert (set(runs.iterdir()) if runs.is_dir() else set()) == before


def test_allowed_contaminated_data_is_trained_on_and_recorded(contaminated, tmp_path):
    out = tmp_path / "weights"
    assert main(["finetune", MODEL, "--train", str(contaminated), "--image-column", "picture", "--caption-column",
                 "text", "--benchmark", "mini", "--out", str(out), "--allow-contaminated", *SHORT,
                 "--batch-size", "16", "--val-split", "0.25"]) == 0
    record = json.loads((out / "training.json").read_text())
    # A quarter of the 67 pairs is held out and scored after every epoch (R@1 each way); 50 are trained on.
    history = record["config"]["history"]
    assert [epoch["val"]["num_samples"] for epoch in history] == [17.0, 17.0]
    assert all(0 <= epoch["val"]["image_to_text_R@1"] <= 1 for epoch in history)
    assert record["allowed_contaminated"] is True and record["contamination"]["contaminated"] is True
    assert record["contamination"]["tasks"]["landform"] == {"images": 3, "captions": 0}
    assert record["contamination"]["tasks"]["paired"] == {"images": 0, "captions": 0}
    assert {example["training_key"] for example in record["contamination"]["examples"]} == {
        "pairs.parquet#30", "pairs.parquet#31", "pairs.parquet#32"}
    assert record["data"]["pairs"] == 50 and record["config"]["val_pairs"] == 17
    assert main(["run", MODEL, "--weights", str(out), "--benchmark", "mini", "--device", "cpu", "--tasks", "landform",
                 "--out", str(tmp_path / "result.json")]) == 0
    assert json.loads((tmp_path / "result.json").read_text())["training"]["record"] == record


def _refusal(capsys, *argv: str) -> str:
    code = main(list(argv))
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "Traceback" not in err, err
    return err


def test_mistakes_are_one_paragraph_each(tmp_path, capsys):
    out = str(tmp_path / "weights")
    assert "no-such/model" in _refusal(capsys, "finetune", "no-such/model", "--train", "mini", "--out", out)
    err = _refusal(capsys, "finetune", "dinov3/tiny-random", "--train", "mini", "--out", out)
    assert "family 'dinov3'" in err and "openclip/tiny-random" in err
    err = _refusal(capsys, "finetune", MODEL, "--train", str(tmp_path / "missing"), "--out", out, "--device", "cpu")
    assert "neither a file or folder here nor a Hugging Face Hub dataset id" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    err = _refusal(capsys, "finetune", MODEL, "--train", "mini", "--out", str(tmp_path / "full"))
    assert "is a folder that is not empty" in err
    err = _refusal(capsys, "finetune", MODEL, "--train", "mini", "--out", out, "--batch-size", "400", "--device", "cpu")
    assert "takes 400 pairs a step" in err and "384 pairs to train on" in err
    assert not (tmp_path / "weights").exists()


def test_a_caption_pandas_would_read_as_missing_is_refused(mini_dir, tmp_path, capsys):
    from mars_zoo.adapt.training_data import open_training_data

    pairs = [(pair.image_bytes, pair.caption) for _, pair in zip(range(8), open_training_data("mini"))]
    pairs[5] = (pairs[5][0], "NA")
    data = _parquet(tmp_path / "na.parquet", pairs)
    err = _refusal(capsys, "finetune", MODEL, "--train", str(data), "--image-column", "picture", "--caption-column",
                   "text", "--benchmark", "mini", "--out", str(tmp_path / "weights"), "--batch-size", "4",
                   "--device", "cpu")
    assert "na.parquet#5 has the caption 'NA'" in err and "reads back as 'nan'" in err


def test_the_engine_builds_the_model_the_plugin_evaluates(tmp_path):
    """What open_clip (and so open_clip_train) builds from the exported base folder is the
    plugin's model: the same weights, evaluation transform and tokens."""
    import dataclasses

    import open_clip
    import torch
    from PIL import Image

    from mars_zoo.models.registry import load_registry
    from mars_zoo_openclip.encoder import load_encoder
    from mars_zoo_openclip.training_base import export_base

    spec = dataclasses.replace(load_registry().get(MODEL), cache_dir=tmp_path / "cache")
    export_base(spec, tmp_path / "base")
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{tmp_path / 'base'}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{tmp_path / 'base'}")
    plugin = load_encoder(spec, "cpu", "fp32")
    ours, theirs = model.state_dict(), plugin.model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[key], theirs[key]) for key in ours)
    image = Image.new("RGB", (96, 70), (200, 120, 40))
    assert torch.equal(preprocess(image), plugin.image_transform(image))
    assert torch.equal(tokenizer(["a dune field"]), plugin.tokenizer(["a dune field"]))
