"""Fault corpus, adapter models: a `--weights` folder holding a peft adapter whose
adapter_config.json cannot say which base model to load. Each is one error paragraph
naming the folder and what is wrong in it, exit 2, no traceback, no result written."""

from __future__ import annotations

import json

import pytest

from boundary_helpers import assert_clean_error, cli

# (case id, adapter_config.json text, what the message must say besides the folder)
CASES = [
    ("no-base", json.dumps({"peft_type": "LORA"}), ["names no base model (base_model_name_or_path)"]),
    ("empty-base", json.dumps({"peft_type": "LORA", "base_model_name_or_path": ""}), ["names no base model"]),
    ("not-json", "{not json", ["JSONDecodeError"]),
    ("base-folder-gone", json.dumps({"peft_type": "LORA", "base_model_name_or_path": "/nowhere/base"}),
     ["names the base model folder /nowhere/base, which does not exist"]),
    ("base-not-cached-offline", json.dumps({"peft_type": "LORA", "base_model_name_or_path": "nobody/no-base"}),
     ["The base model nobody/no-base of the adapter in", "has no pinned revision", "HF_HUB_OFFLINE=1"]),
]


@pytest.mark.parametrize("name, config, needles", CASES, ids=[case[0] for case in CASES])
def test_an_adapter_without_a_usable_base_is_one_error(tmp_path, capsys, name, config, needles):
    weights = tmp_path / "adapter"
    weights.mkdir()
    (weights / "adapter_config.json").write_text(config)
    out = tmp_path / "r.json"
    outcome = cli(capsys, "run", "vlm2vec/tiny-random", "--weights", weights, "--benchmark", "mini",
                  "--tasks", "landform", "--out", out, "--cache-dir", tmp_path / "cache")
    assert_clean_error(outcome, 2, str(weights), *needles)
    assert not out.exists()


def test_an_adapter_whose_tensors_name_no_module_of_the_model_is_one_error(tmp_path, capsys):
    """peft only warns when a saved tensor finds no module, and the adapter then stays at its
    initial values: a trained adapter silently becomes no adapter. Here the adapter (the tiny
    model's own, its layers renamed) is refused, naming the folder and a tensor."""
    from mllm_support import tiny_adapter_copy

    weights = tiny_adapter_copy("vlm2vec/tiny-random", tmp_path / "adapter", lambda key: key.replace(".mlp.", ".ffn."))
    out = tmp_path / "r.json"
    outcome = cli(capsys, "run", "vlm2vec/tiny-random", "--weights", weights, "--benchmark", "mini",
                  "--tasks", "landform", "--out", out, "--cache-dir", tmp_path / "cache")
    assert_clean_error(outcome, 2, str(weights), "does not fit the modules of Qwen2VLForConditionalGeneration",
                       ".ffn.")
    assert not out.exists()
