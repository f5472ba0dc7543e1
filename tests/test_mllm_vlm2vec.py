"""VLM2Vec-V2.0's recipe (B3++ shares it) on the tiny models: the exact text it
reads, its pixel limits, and its adapter (DoRA; LoRA for B3++) merged exactly once
(merging it twice is the easy mistake)."""

import shutil

import pytest
import torch

from mllm_support import TEXTS, picture, registry, tiny_encoder

IMAGE_PROMPT = " Represent the given image with the following question: What is in the image"


ADAPTERS = ["vlm2vec/tiny-random", "b3/tiny-random"]


def encoder():
    return tiny_encoder("vlm2vec/tiny-random")


@pytest.mark.parametrize("name", ADAPTERS)
def test_the_model_reads_the_raw_text_and_the_demo_image_prompt(name):
    vlm = tiny_encoder(name)
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


@pytest.mark.parametrize("name", ADAPTERS)
def test_the_adapter_is_merged_exactly_once(name, tmp_path):
    from peft import PeftModel
    from transformers import Qwen2VLForConditionalGeneration

    from mars_zoo.tiny import materialize

    tiny = registry().get(name).loader.tiny
    adapter_folder = materialize(tiny.name, dict(tiny.params), lambda into: tiny.build(into, **tiny.params))
    base_folder = tmp_path  # the folder without its adapter files: the base weights alone
    for file in ("config.json", "model.safetensors"):
        shutil.copy(adapter_folder / file, base_folder / file)

    def base():
        return Qwen2VLForConditionalGeneration.from_pretrained(base_folder).eval()

    def with_adapter(model):
        return PeftModel.from_pretrained(model, str(adapter_folder))

    vlm = tiny_encoder(name)
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
