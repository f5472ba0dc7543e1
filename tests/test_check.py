"""`mars-zoo check`: the plugin contract check passes for honest models and
catches the ones that break the contract."""

import pytest

from mars_zoo.cli import main
from mars_zoo.models.contract import check_model
from mars_zoo.models.plugin_manager import PluginInfo, build_plugin_manager
from mars_zoo.models.registry import Registry
from mars_zoo.core.reporting import Reporter


@pytest.fixture(scope="module")
def registry():
    import fake_models

    pm = build_plugin_manager()
    pm.add(fake_models, PluginInfo("fake", "test", "tests", "0"))
    return Registry(pm)


def failed(registry, name):
    return {check.name: check.detail for check in check_model(registry.get(name), Reporter()) if not check.passed}


def test_builtin_random_baseline_passes(capsys):
    assert main(["check", "openclip/tiny-random"]) == 0
    assert "checks passed" in capsys.readouterr().out
    checks = check_model(Registry(build_plugin_manager()).get("openclip/tiny-random"), Reporter())
    details = {check.name: check.detail for check in checks}
    assert all(check.passed for check in checks)
    assert details["declared metadata matches the model"] == "embedding_dim 64, 3,425,857 parameters"


def test_honest_fake_model_passes(registry):
    assert failed(registry, "fake/good") == {}


def test_batch_dependent_embeddings_fail(registry):
    problems = failed(registry, "fake/batch-dependent")
    assert "changes with its batch" in problems["image: independent of batch mates and batch size"]


def test_nan_and_shape_errors_fail_with_the_model_named(registry):
    problems = failed(registry, "fake/nan")
    assert "non-finite" in problems["image: shape, dtype and finite values"]
    assert "'fake/nan' (plugin fake)" in problems["image: shape, dtype and finite values"]
    assert "shape" in failed(registry, "fake/wrong-shape")["image: shape, dtype and finite values"]
    assert "dimension 32" in failed(registry, "fake/wrong-dim")["text: shape, dtype and finite values"]


def test_image_only_model_must_refuse_text(registry):
    assert failed(registry, "fake/image-only") == {}


def test_declared_metadata_is_compared(registry):
    import dataclasses

    spec = dataclasses.replace(registry.get("fake/good"), embedding_dim=99)
    problems = {c.name: c.detail for c in check_model(spec, Reporter()) if not c.passed}
    assert "returned dimension 16, but 99 from its declared embedding_dim" in " ".join(problems.values())


def test_failing_check_exits_non_zero(tmp_path, capsys):
    import shutil
    from pathlib import Path

    shutil.copy(Path(__file__).with_name("fake_models.py"), tmp_path / "fake_models.py")
    assert main(["check", "fake/batch-dependent", "--plugins-dir", str(tmp_path)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_a_model_that_takes_instructions_must_let_them_reach_it_on_a_new_encoder(registry):
    passed = {c.name: c for c in check_model(registry.get("fake/instructed"), Reporter())}
    instructions = passed["task instructions: reach the model, on a new encoder"]
    assert instructions.passed and instructions.detail.startswith("image moved by 0.0e+00, text moved by")
    problems = failed(registry, "fake/instruction-ignored")
    assert list(problems) == ["task instructions: reach the model, on a new encoder"]
    assert "embeds everything as without it" in problems["task instructions: reach the model, on a new encoder"]
    problems = failed(registry, "fake/instruction-sticks")
    assert "it must return a new encoder" in problems["task instructions: reach the model, on a new encoder"]
    assert "task instructions: reach the model, on a new encoder" not in {
        c.name for c in check_model(registry.get("fake/good"), Reporter())}  # declared by instructed models only
