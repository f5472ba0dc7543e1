"""VLM2Vec-V2.0's recipe on the tiny model: the exact text it reads, its pixel
limits, and its DoRA adapter merged exactly once (the ZOO.md trap)."""

import shutil

import pytest
import torch

from mllm_support import TEXTS, picture, registry, tiny_encoder

IMAGE_PROMPT = " Represent the given image with the following question: What is in the image"


def encoder():
    return tiny_encoder("vlm2vec/tiny-random")


def test_the_model_reads_the_raw_text_and_the_demo_image_prompt():
    vlm = encoder()
    decode = vlm.processor.tokenizer.decode
    assert decode(vlm.inputs(vlm.text_prompts(["a crater"]))["input_ids"][0]) == "a crater"
    inputs = vlm.inputs([vlm.image_prompt()], [vlm.prepare_image(picture(64, 64, 0))])
    merged = int(inputs["image_grid_thw"].prod()) // 4
    assert decode(inputs["input_ids"][0]) == "<|image_pad|>" * merged + IMAGE_PROMPT


def test_pixel_limits_are_4_to_1280_tokens_with_no_prior_resize():
    vlm = encoder()
    size = vlm.processor.image_processor.size
    assert (size.shortest_edge, size.longest_edge) == (4 * 784, 1280 * 784)
    image = picture(64, 64, 0)
    assert vlm.prepare_image(image).size == (64, 64)
    grid = vlm.inputs([vlm.image_prompt()], [image])["image_grid_thw"]
    assert grid.tolist() == [[1, 4, 4]]  # 64 px rounds to 56: 4x4 patches of 14 px


@pytest.fixture(scope="module")
def adapter_folder():
    from mars_zoo.tiny import materialize

    spec = registry().get("vlm2vec/tiny-random")
    tiny = spec.loader.tiny
    return materialize(tiny.name, dict(tiny.params), lambda into: tiny.build(into, **tiny.params))


@pytest.fixture(scope="module")
def base_folder(adapter_folder, tmp_path_factory):
    """A copy of the adapter folder without the adapter files: the base weights alone."""
    folder = tmp_path_factory.mktemp("vlm2vec-base")
    for name in ("config.json", "model.safetensors"):
        shutil.copy(adapter_folder / name, folder / name)
    return folder


def test_the_adapter_is_merged_exactly_once(adapter_folder, base_folder):
    from peft import PeftModel
    from transformers import Qwen2VLForConditionalGeneration

    def base():
        return Qwen2VLForConditionalGeneration.from_pretrained(base_folder).eval()

    def with_adapter(model):
        return PeftModel.from_pretrained(model, str(adapter_folder))

    vlm = encoder()
    inputs = vlm.inputs(vlm.text_prompts(TEXTS))
    run = lambda model: vlm.recipe.hidden_states(model, inputs)  # noqa: E731
    with torch.no_grad():
        ours = run(vlm.model)
        once = run(with_adapter(base()).get_base_model())  # unmerged: applied once, on the fly
        none = run(base())
        twice = run(with_adapter(with_adapter(base()).merge_and_unload()).get_base_model())
    assert torch.allclose(ours, once, atol=1e-5)
    assert not torch.allclose(ours, none, atol=1e-3)
    assert not torch.allclose(ours, twice, atol=1e-3)
