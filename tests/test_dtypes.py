"""Dtypes are stated, never implied: each built-in family declares the dtype of its weights
(`ModelSpec.run_dtypes`), its loader loads them in exactly that dtype, and a run records the
dtypes of weights and computation that ran."""

from __future__ import annotations

import json

import pytest
import torch

from mars_zoo.models.boundary import load_encoder
from mars_zoo.models.model import ModelSpec
from mars_zoo.models.registry import load_registry

# One tiny model per loader of each built-in family.
LOADERS = [
    "openclip/tiny-random", "st/tiny-random", "bge-vl/tiny-random", "dinov3/tiny-random", "aimv2/tiny-random",
    "aimv2/tiny-random-vision", "gme/tiny-random",
]
# The families whose loader loads the weights in the run's precision on CUDA, read from
# their code: the MLLM embedders (as their published GPU runs do). Every other built-in
# family keeps fp32 weights and computes in reduced precision through autocast.
MLLM_FAMILIES = {"gme", "b3", "vlm2vec", "ops-mm", "e5-v", "qwen3-vl", "jina"}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def floating_dtypes(encoder) -> set[torch.dtype]:
    return {parameter.dtype for parameter in encoder.model.parameters() if parameter.is_floating_point()}


def test_every_registered_model_declares_its_family_s_rule(registry):
    assert MLLM_FAMILIES < {spec.family for spec in registry}
    for spec in registry:
        reduced = spec.family in MLLM_FAMILIES
        assert spec.weights_at_precision_on_cuda is reduced, spec.name
        assert spec.run_dtypes("cuda:0", "bf16") == ("bfloat16" if reduced else "float32", "bfloat16"), spec.name
        assert spec.run_dtypes("cuda", "fp16") == ("float16" if reduced else "float32", "float16"), spec.name
        assert spec.run_dtypes("cpu", "bf16") == ("float32", "bfloat16"), spec.name
        assert spec.run_dtypes("cuda", "fp32") == ("float32", "float32"), spec.name


@pytest.mark.parametrize("name", LOADERS)
def test_a_cpu_load_holds_the_declared_fp32_weights_and_passes_the_harness_check(registry, name):
    encoder = load_encoder(registry.get(name), "cpu", "bf16")
    assert floating_dtypes(encoder) == {torch.float32}


@pytest.mark.parametrize("name", LOADERS)
def test_the_loader_loads_whatever_dtype_the_declaration_gives(registry, name, monkeypatch):
    """The loaders take the dtype from `run_dtypes` rather than deciding it themselves: a
    declaration of bf16 weights (what an MLLM declares on CUDA) is what gets loaded."""
    monkeypatch.setattr(ModelSpec, "run_dtypes", lambda self, device, precision: ("bfloat16", "bfloat16"))
    encoder = registry.get(name).load("cpu", "bf16")
    assert floating_dtypes(encoder) == {torch.bfloat16}


def test_a_result_records_the_dtypes_that_ran(plugins_dir, mini_dir, tmp_path):
    from mars_zoo.cli import main

    out = tmp_path / "r.json"
    assert main(["run", "fake/good", "--plugins-dir", str(plugins_dir), "--benchmark", "mini", "--tasks", "landform",
                 "--device", "cpu", "--precision", "bf16", "--no-cache", "--out", str(out)]) == 0
    run = json.loads(out.read_text())["run"]
    # on the CPU every family keeps fp32 weights; bf16 is the autocast dtype
    assert (run["precision"], run["weights_dtype"], run["compute_dtype"]) == ("bf16", "float32", "bfloat16")
