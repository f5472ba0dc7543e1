"""The shared MLLM encoder: grouping, pooling, batch invariance, dtypes, weights and
loader errors, on the tiny models through their real loaders."""

import dataclasses

import pytest
import torch

from mars_zoo.core.errors import MarsZooError
from mars_zoo_mllm.encoder import length_groups, pool, vision_span
from mars_zoo_mllm.recipe import RawPrompt, Recipe

from mllm_support import IMAGES, TEXTS, registry, tiny_encoder

TINY = [
    "gme/tiny-random", "b3/tiny-random", "vlm2vec/tiny-random", "ops-mm/tiny-random", "e5-v/tiny-random",
    "qwen3-vl/tiny-random", "jina/tiny-random",
]


def test_length_groups_sort_and_cut_by_tolerance():
    assert length_groups([10, 100, 11, 12, 120, 10]) == [[0, 5, 2, 3], [1, 4]]
    assert length_groups([5, 5, 5]) == [[0, 1, 2]]
    assert length_groups([]) == []


def test_pool_reads_the_documented_positions():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).view(2, 4, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert pool(hidden, right, "last_non_pad").flatten().tolist() == [1.0, 7.0]
    assert pool(hidden, left, "last").flatten().tolist() == [3.0, 7.0]
    assert pool(hidden, right, "mean").flatten().tolist() == [0.5, 5.5]


def test_vision_span_holds_the_image_tokens_and_their_bounds():
    start, end = 1, 2
    ids = torch.tensor([[7, 1, 5, 5, 2, 9, 0], [1, 5, 2, 9, 9, 9, 9]])
    assert vision_span(ids, start, end).tolist() == [[0, 1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0, 0]]


def test_vision_span_pools_images_only():
    with pytest.raises(ValueError, match="pooling"):
        Recipe("X", RawPrompt(), RawPrompt(), pooling="vision_span", padding_side="right", hidden_states=None)


def test_pooling_last_with_right_padding_is_refused():
    with pytest.raises(ValueError, match="left padding"):
        Recipe("X", RawPrompt(), RawPrompt(), pooling="last", padding_side="right", hidden_states=None)


@pytest.mark.parametrize("name", TINY)
def test_every_mllm_declares_weights_fp32_on_the_cpu_and_in_the_precision_on_cuda(name):
    spec = registry().get(name)
    assert spec.run_dtypes("cpu", "bf16") == ("float32", "bfloat16")
    assert spec.run_dtypes("cuda", "bf16") == ("bfloat16", "bfloat16")
    assert spec.run_dtypes("cuda:0", "fp16") == ("float16", "float16")
    assert spec.run_dtypes("cuda", "fp32") == ("float32", "float32")



@pytest.mark.parametrize("name", TINY)
def test_an_item_alone_equals_the_item_in_a_padded_batch(name):
    encoder = tiny_encoder(name)
    texts = encoder.encode_text(TEXTS)
    images = encoder.encode_image(IMAGES)
    for i in range(len(TEXTS)):
        assert torch.allclose(encoder.encode_text([TEXTS[i]])[0], texts[i], atol=1e-5)
    for i in range(len(IMAGES)):
        assert torch.allclose(encoder.encode_image([IMAGES[i]])[0], images[i], atol=1e-5)
    assert texts.shape == (3, registry().get(name).embedding_dim) == images.shape
    assert torch.isfinite(texts).all() and torch.isfinite(images).all()
    # different inputs, different vectors (the pooled position is not a shared prefix token)
    assert torch.cdist(texts, texts).triu(1)[0, 1:].min() > 1e-3


@pytest.mark.parametrize("name", TINY)
def test_declared_dimension_and_parameters_are_the_tiny_models(name):
    spec = registry().get(name)
    model = tiny_encoder(name).model
    assert spec.parameters == sum(p.numel() for p in model.parameters())
    assert spec.embedding_dim == model.config.text_config.hidden_size


@pytest.mark.parametrize("name", ["gme/tiny-random", "vlm2vec/tiny-random"])
def test_own_weights_replace_the_checkpoints(name, tmp_path):
    spec = registry().get(name)
    encoder = tiny_encoder(name)  # for vlm2vec: save_pretrained writes the merged weights
    own = tmp_path / "own"
    encoder.model.save_pretrained(own)
    same = dataclasses.replace(spec, weights=str(own)).load("cpu", "fp32")
    assert torch.equal(same.encode_text(TEXTS), encoder.encode_text(TEXTS))

    tuned = tmp_path / "tuned"
    state = {k: v + 0.05 if v.is_floating_point() else v for k, v in encoder.model.state_dict().items()}
    model = type(encoder.model)(encoder.model.config)
    model.load_state_dict(state)
    model.save_pretrained(tuned)
    other = dataclasses.replace(spec, weights=str(tuned)).load("cpu", "fp32")
    assert not torch.allclose(other.encode_text(TEXTS), encoder.encode_text(TEXTS), atol=1e-3)


def test_weights_that_are_not_a_folder_are_refused(tmp_path):
    spec = dataclasses.replace(registry().get("gme/tiny-random"), weights=str(tmp_path / "w.pt"))
    with pytest.raises(MarsZooError, match=r"--weights .*w\.pt.*gme/tiny-random.*save_pretrained"):
        spec.load("cpu", "fp32")


@pytest.mark.parametrize("name", ["gme/gme-qwen2-vl-2b-instruct", "vlm2vec/vlm2vec-v2.0", "e5-v/e5-v", "qwen3-vl/qwen3-vl-embedding-2b"])
def test_a_checkpoint_missing_offline_names_model_revision_and_fix(name):
    spec = registry().get(name)
    with pytest.raises(MarsZooError) as caught:
        spec.load("cpu", "fp32")
    message = str(caught.value)
    assert spec.name in message and spec.checkpoint in message and spec.revision in message
    assert "HF_HUB_OFFLINE" in message and "hf download" in message
    assert "\n" not in message


def test_the_full_size_qwen2_vl_2b_has_the_declared_dimension_and_parameters():
    from transformers import Qwen2VLForConditionalGeneration

    from mars_zoo_mllm.qwen2vl import QWEN2VL_2B_TEXT, QWEN2VL_2B_VISION, build_config

    with torch.device("meta"):
        model = Qwen2VLForConditionalGeneration(build_config(QWEN2VL_2B_TEXT, QWEN2VL_2B_VISION))
    count = sum(p.numel() for p in model.parameters())
    assert count == 2_208_985_600  # MTEB's count for Qwen2-VL-2B fine-tunes
    for spec in registry():
        if spec.plugin == "mllm" and not spec.random_weights and spec.parameters == count:
            assert spec.embedding_dim == model.config.text_config.hidden_size == 1536


def test_adapter_models_need_peft_and_say_how_to_install_it(monkeypatch):
    import importlib.metadata

    real = importlib.metadata.distribution

    def without_peft(name):
        if name == "peft":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", without_peft)
    for name in ["vlm2vec/vlm2vec-v2.0", "b3/b3-qwen2-2b", "vlm2vec/tiny-random"]:
        spec = registry().get(name)
        assert spec.missing_requirements() == ["peft"]
        with pytest.raises(MarsZooError, match=r"needs peft.*pip install 'mars-zoo\[peft\]'"):
            spec.load("cpu", "fp32")
    assert registry().get("gme/gme-qwen2-vl-2b-instruct").missing_requirements() == []
