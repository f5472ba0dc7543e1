"""`mars-zoo run` end to end on the mini benchmark: the result file, the cache,
resumption after SIGKILL, floors, and the errors users see."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mars_zoo.cli import main
from mars_zoo.models.plugin_manager import PluginInfo, build_plugin_manager
from mars_zoo.models.registry import Registry
from mars_zoo.core.reporting import Reporter
from mars_zoo.results.validation import validate_file
from mars_zoo.pipeline.runner import RunConfig, run



@pytest.fixture(scope="module")
def registry():
    import fake_models

    pm = build_plugin_manager()
    pm.add(fake_models, PluginInfo("fake", "test", "tests", "0"))
    return Registry(pm)


def evaluate(registry, model, tmp_path, **options):
    config = RunConfig(model=model, out=tmp_path / "result.json", benchmark="mini",
                       cache_dir=tmp_path / "cache", **options)
    return run(config, registry, Reporter())


def test_tiny_random_on_mini_writes_a_valid_result_with_every_task(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["run", "openclip/tiny-random", "--benchmark", "mini", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    printed = " ".join(capsys.readouterr().out.split())  # the rows are checked in the result below
    for heading in ("SYNTHETIC mini benchmark", "Task 1: paired image-text retrieval (48 pairs,",
                    "Task 2: landform retrieval (8 classes)", "Task 3: global geo-localization (400 tiles)"):
        assert heading in printed
    assert validate_file(out) == []
    result = json.loads(out.read_text())
    assert set(result["tasks"]) == {"paired", "landform", "geolocalization"}
    geo = result["tasks"]["geolocalization"]
    assert set(geo["metrics"]) == {"text", "image", "hybrid"}
    assert {row["mode"] for row in geo["per_landform"]} == {"text", "image", "hybrid"}
    assert len(geo["per_landform"]) == 15
    assert result["benchmark"] == {"name": "mini", "synthetic": True}
    assert result["model"]["random_weights"] is True
    for task in result["tasks"].values():
        assert task["dataset"]["revision"] and len(task["dataset"]["items_sha256"]) == 64


def test_second_run_makes_no_model_call_and_gives_identical_metrics(registry, tmp_path):
    first, embedder = evaluate(registry, "fake/good", tmp_path)
    assert embedder.stats.calls["image"] > 0 and embedder.stats.calls["text"] > 0
    second, embedder = evaluate(registry, "fake/good", tmp_path)
    assert embedder.stats.calls == {"image": 0, "text": 0}
    assert embedder.encoder._encoder is None  # the model was not even loaded
    assert first["tasks"] == {
        name: {**task, "timings": first["tasks"][name]["timings"], "throughput": first["tasks"][name]["throughput"]}
        for name, task in second["tasks"].items()
    }


def test_constant_embeddings_score_at_the_floor(registry, tmp_path):
    result, _ = evaluate(registry, "fake/constant", tmp_path)
    paired = result["tasks"]["paired"]
    items = paired["dataset"]["items"]
    for direction in ("i2t", "t2i"):
        metrics = paired["metrics"][direction]
        assert metrics["r1"] == 0 and metrics["medr"] == items and metrics["mrr"] == pytest.approx(1 / items)
        assert metrics["r10"] == (0 if items > 10 else 1)
    landform = result["tasks"]["landform"]["metrics"]
    assert landform["hit@10"] == 0 and landform["ndcg@10"] == 0 and landform["r_precision"] == 0
    for row in result["tasks"]["geolocalization"]["per_landform"]:
        # ties put every hit last: the top-K holds no tile near a ground-truth point until K covers all misses
        assert row["curve"]["precision"][0] == 0 and row["curve"]["recall"][0] == 0


def test_image_only_model_runs_image_queries_only(registry, tmp_path):
    result, _ = evaluate(registry, "fake/image-only", tmp_path)
    assert set(result["tasks"]) == {"geolocalization"}
    assert set(result["tasks"]["geolocalization"]["metrics"]) == {"image"}


@pytest.mark.parametrize(
    "model, problem",
    [
        ("fake/nan", "non-finite values"),
        ("fake/wrong-shape", "shape (3, 16), expected (4, dim)"),
        ("fake/wrong-dim", "dimension 32, but 16 from its declared embedding_dim"),
        ("fake/raises", "failed in encode_image on a batch of 4 images: RuntimeError: the fake model crashed"),
    ],
)
def test_contract_violations_name_the_plugin_and_model(plugins_dir, tmp_path, model, problem):
    result = subprocess.run(
        [sys.executable, "-m", "mars_zoo", "run", model, "--benchmark", "mini", "--plugins-dir", str(plugins_dir),
         "--tasks", "paired", "--out", str(tmp_path / "r.json"), "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 3
    message = " ".join(result.stderr.split())
    assert f"Model '{model}' (plugin fake_models)" in message and problem in message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "r.json").exists()


def _run_cli(args, env, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "mars_zoo", "run", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_sigkill_mid_embedding_resumes_without_recomputing_finished_shards(plugins_dir, tmp_path):
    log = tmp_path / "calls.log"
    env = dict(os.environ, MARS_ZOO_TEST_CALL_LOG=str(log), MARS_ZOO_TEST_CALL_DELAY="0.15")
    args = ["fake/good", "--benchmark", "mini", "--tasks", "landform", "--plugins-dir", str(plugins_dir),
            "--batch-size", "4", "--cache-shard-size", "8", "--cache-dir", str(tmp_path / "cache")]

    victim = _run_cli([*args, "--out", str(tmp_path / "killed.json")], env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().count("image") >= 7:
            break
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (tmp_path / "killed.json").exists()
    calls_before_kill = log.read_text().count("image")
    # A shard is finished once its checksum is written after it: a kill between the two
    # leaves a shard that the resumed run rightly recomputes.
    finished_shards = len(list((tmp_path / "cache").rglob("shard-*.npy.sha256")))
    assert finished_shards >= 3  # 7 batches of 4 make at least 3 complete shards of 8

    log.unlink()
    resumed = _run_cli([*args, "--out", str(tmp_path / "resumed.json")], env)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    resumed_calls = log.read_text().count("image")

    fresh_env = dict(os.environ)
    fresh = _run_cli([*args[:-1], str(tmp_path / "fresh-cache"), "--out", str(tmp_path / "fresh.json")], fresh_env)
    assert fresh.wait(timeout=300) == 0, fresh.stderr.read()
    fresh_result = json.loads((tmp_path / "fresh.json").read_text())
    images = fresh_result["tasks"]["landform"]["dataset"]["items"]
    total_batches = sum(-(-min(8, images - start) // 4) for start in range(0, images, 8))
    assert resumed_calls == total_batches - 2 * finished_shards
    assert calls_before_kill >= 2 * finished_shards
    resumed_result = json.loads((tmp_path / "resumed.json").read_text())
    assert resumed_result["tasks"]["landform"]["metrics"] == fresh_result["tasks"]["landform"]["metrics"]
    assert resumed_result["tasks"]["landform"]["per_class"] == fresh_result["tasks"]["landform"]["per_class"]


def _error_of(args, capsys):
    code = main(args)
    err = " ".join(capsys.readouterr().err.split())
    return code, err


def test_user_mistakes_give_one_paragraph_and_a_nonzero_exit(tmp_path, capsys, plugins_dir):
    out = str(tmp_path / "r.json")
    code, err = _error_of(["run", "openclip/tiny-randm", "--benchmark", "mini", "--out", out], capsys)
    assert code == 2 and "Unknown model 'openclip/tiny-randm'" in err and "openclip/tiny-random" in err

    code, err = _error_of(["run", "acme/[/bold]x[red]", "--benchmark", "mini", "--out", out], capsys)
    assert code == 2 and "Unknown model 'acme/[/bold]x[red]'" in err  # shown verbatim, not as markup

    code, err = _error_of(["run", "openclip/tiny-random", "--benchmark", "mini", "--device", "cuda:7", "--out", out],
                          capsys)
    assert code == 2 and "--device cuda:7" in err

    code, err = _error_of(["run", "fake/image-only", "--plugins-dir", str(plugins_dir), "--benchmark", "mini",
                           "--tasks", "paired", "--out", out], capsys)
    assert code == 2 and "image-only" in err and "--tasks geolocalization" in err

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, err = _error_of(["run", "openclip/tiny-random", "--benchmark", "mini",
                           "--out", str(blocker / "r.json")], capsys)
    assert code == 2 and "Cannot write the result file" in err

    code, err = _error_of(["run", "openclip/tiny-random", "--data-dir", str(tmp_path / "nowhere"),
                           "--tasks", "landform", "--out", out], capsys)
    assert code == 2 and str(tmp_path / "nowhere") in err

    malformed = tmp_path / "malformed"
    (malformed / "Mars-Landforms").mkdir(parents=True)
    (malformed / "Mars-Landforms" / "data").mkdir()
    (malformed / "Mars-Landforms" / "data" / "train-00000-of-00001.parquet").write_bytes(b"not parquet")
    code, err = _error_of(["run", "openclip/tiny-random", "--data-dir", str(malformed),
                           "--tasks", "landform", "--out", out], capsys)
    assert code == 2 and "Mars-Landforms" in err
    assert not Path(out).exists()


def test_dataloader_workers_give_the_same_embeddings(registry, tmp_path):
    """Decoding and the model's transform run in worker processes; the numbers must not change."""
    in_process, _ = evaluate(registry, "openclip/tiny-random", tmp_path / "a", tasks=("landform",), workers=0)
    in_workers, _ = evaluate(registry, "openclip/tiny-random", tmp_path / "b", tasks=("landform",), workers=2)
    assert in_workers["tasks"]["landform"]["metrics"] == in_process["tasks"]["landform"]["metrics"]
    assert in_workers["run"]["workers"] == 2


def test_dead_image_links_are_recorded_and_reported(mini_dir, tmp_path, capsys):
    from test_data_readers import _ImageServer

    from mars_zoo.data import hub_format
    from mars_zoo.data.benchmark import open_benchmark
    from mars_zoo.data.specs import PAIRS_URLS

    frozen = open_benchmark("mini").paired()
    served = {f"{key}.png": hub_format.encode_image(frozen.images[i]) for i, key in enumerate(frozen.keys[:6])}
    server = _ImageServer(served)
    try:
        rows = [{"key": key, "image_url": server.url(f"{key}.png"), "ori_caption": caption,
                 "refined_caption": caption} for key, caption in zip(frozen.keys[:8], frozen.captions)]
        hub_format.write_pairs_urls(tmp_path / "data" / PAIRS_URLS.name, rows)
        out = tmp_path / "r.json"
        code = main(["run", "openclip/tiny-random", "--data-dir", str(tmp_path / "data"), "--tasks", "paired",
                     "--pairs-source", "urls", "--out", str(out), "--cache-dir", str(tmp_path / "cache")])
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    assert code == 0
    assert "2 pairs could not be evaluated" in " ".join(capsys.readouterr().out.split())
    dataset = json.loads(out.read_text())["tasks"]["paired"]["dataset"]
    assert dataset["id"] == PAIRS_URLS.repo_id and dataset["items"] == 6 and dataset["source_rows"] == 8
    assert dataset["missing"] == frozen.keys[6:8]


def test_a_copy_of_the_mini_benchmark_stays_synthetic(registry, mini_dir, tmp_path):
    """Passing the generated data as --data-dir must not turn it into a 'real' result."""
    copy = shutil.copytree(mini_dir, tmp_path / "data")
    result, _ = evaluate(registry, "fake/good", tmp_path, tasks=("landform", "geolocalization"))
    config = RunConfig(model="fake/good", out=tmp_path / "copy.json", benchmark="marsretrieval", data_dir=copy,
                       cache_dir=tmp_path / "cache", tasks=("landform", "geolocalization"))
    copied, _ = run(config, registry, Reporter())
    assert copied["benchmark"] == {"name": "mini", "synthetic": True}
    assert copied["tasks"]["landform"]["dataset"]["id"].startswith("mars-zoo/mini-")
    assert copied["tasks"]["geolocalization"]["gallery"]["synthetic"] is True
    assert copied["tasks"]["landform"]["metrics"] == result["tasks"]["landform"]["metrics"]


def test_a_failing_image_transform_is_named_even_in_worker_processes(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken_transform.py").write_text(textwrap.dedent("""
        import mars_zoo


        class BrokenTransform:
            def __call__(self, image):
                raise ValueError("cannot resize")


        class TransformEncoder(mars_zoo.Encoder):
            image_transform = BrokenTransform()


        @mars_zoo.hookimpl
        def register_models(register):
            register(mars_zoo.ModelSpec(name="fake/bad-transform", family="fake", checkpoint="x",
                                        embedding_dim=16, parameters=1, license="mit", random_weights=True,
                                        loader=lambda spec, device, precision: TransformEncoder()))
    """))
    for workers in ("0", "2"):
        result = subprocess.run(
            [sys.executable, "-m", "mars_zoo", "run", "fake/bad-transform", "--benchmark", "mini", "--tasks",
             "landform", "--workers", workers, "--plugins-dir", str(plugins), "--out", str(tmp_path / "r.json"),
             "--cache-dir", str(tmp_path / "cache")],
            capture_output=True, text=True, timeout=300,
        )
        message = " ".join(result.stderr.split())
        assert result.returncode == 3, result.stderr
        assert "The image_transform of model 'fake/bad-transform' (plugin broken_transform)" in message
        assert "ValueError: cannot resize" in message and "Traceback" not in result.stderr


@pytest.mark.parametrize("recommended, device, used", [
    ("fp16", "cpu", "fp32"), ("fp16", "cuda", "fp16"), ("fp16", "cuda:1", "fp16"),
    ("bf16", "cpu", "bf16"), ("fp32", "cuda", "fp32"),
])
def test_a_cpu_run_of_an_fp16_model_uses_fp32_unless_asked(recommended, device, used):
    from mars_zoo import ModelSpec
    from mars_zoo.embedding.environment import check_precision
    from mars_zoo.pipeline.settings import recommended_precision

    spec = ModelSpec(name="fake/p", family="fake", checkpoint="x", loader=lambda *a: None,
                     precision=recommended)
    assert recommended_precision(spec, device) == used
    check_precision(used, device)  # what the run then checks passes
