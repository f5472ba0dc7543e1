"""GME's recipe on the tiny model: the exact text it reads, pixel limits, the pooled
position under right padding, and its sequential positions."""

import torch
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

from mars_zoo_mllm import qwen2vl

from mllm_support import picture, tiny_encoder

# GME's own wrapper builds these strings literally (gme_inference.py).
TEXT = (
    "<|im_start|>system\nFind an image that matches the given text.<|im_end|>\n"
    "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n<|endoftext|>"
)
IMAGE = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    "<|vision_start|>{}<|vision_end|><|im_end|>\n<|im_start|>assistant\n<|endoftext|>"
)


def encoder():
    return tiny_encoder("gme/tiny-random")


def test_the_model_reads_gmes_text_prompt():
    gme = encoder()
    ids = gme.inputs(gme.text_prompts(["a crater"]))["input_ids"][0]
    assert gme.processor.tokenizer.decode(ids) == TEXT.format("a crater")


def test_the_model_reads_gmes_image_prompt_with_every_patch_token():
    gme = encoder()
    image = gme.prepare_image(picture(64, 64, 0))
    inputs = gme.inputs([gme.image_prompt()], [image])
    merged = int(inputs["image_grid_thw"].prod()) // 4  # 2x2 patches per token
    expected = IMAGE.format("<|image_pad|>" * merged)
    assert gme.processor.tokenizer.decode(inputs["input_ids"][0]) == expected


def test_images_are_resized_like_fetch_image_then_held_to_256_to_1280_tokens():
    gme = encoder()
    # fetch_image: sides rounded to 28 (64 -> 56, 300 -> 308, 500 -> 504)
    assert gme.prepare_image(picture(64, 64, 0)).size == (56, 56)
    assert gme.prepare_image(picture(500, 300, 0)).size == (504, 308)
    # the processor then lifts 56x56 to 256 tokens of 28x28 px: 448x448, 32x32 patches
    grid = gme.inputs([gme.image_prompt()], [gme.prepare_image(picture(64, 64, 0))])["image_grid_thw"]
    assert grid.tolist() == [[1, 32, 32]]
    # and caps a large image at 1280 tokens
    height, width = smart_resize(2000, 2000, 28, 256 * 784, 1280 * 784)
    big = gme.inputs([gme.image_prompt()], [gme.prepare_image(picture(2000, 2000, 0))])["image_grid_thw"]
    assert big.tolist() == [[1, height // 14, width // 14]] and height * width <= 1280 * 784


def _gme_forward(model, inputs):
    """GME's forward, written out: image features into the token embeddings, then the
    language model on inputs_embeds with its default (sequential) positions."""
    base = model.model
    embeds = base.get_input_embeddings()(inputs["input_ids"])
    if "pixel_values" in inputs:
        features = base.visual(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"]).pooler_output
        mask = inputs["input_ids"] == model.config.image_token_id
        embeds = embeds.clone()
        embeds[mask] = features
    return base.language_model(inputs_embeds=embeds, attention_mask=inputs["attention_mask"]).last_hidden_state


def test_gme_runs_the_language_model_with_sequential_positions():
    gme = encoder()
    images = [gme.prepare_image(picture(64, 64, 0)), gme.prepare_image(picture(120, 64, 1))]
    inputs = gme.inputs([gme.image_prompt()] * 2, images)
    with torch.no_grad():
        ours = gme.recipe.hidden_states(gme.model, inputs)
        expected = _gme_forward(gme.model, inputs)
        mrope = qwen2vl.hidden_states(gme.model, inputs)
    assert torch.allclose(ours, expected, atol=1e-5)
    assert not torch.allclose(ours, mrope, atol=1e-3)  # the 3-D positions would change the numbers


def test_right_padding_pools_the_final_endoftext_of_each_text():
    gme = encoder()
    texts = ["a crater", "a satellite image of layered deposits on the floor of a large crater"]
    inputs = gme.inputs(gme.text_prompts(texts))
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    assert mask[0, -1] == 0 and mask[0, 0] == 1  # padded on the right
    end = gme.processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    with torch.no_grad():
        hidden = _gme_forward(gme.model, inputs)
    vectors = gme.encode_text(texts)
    for row in range(2):
        last = int(mask[row].nonzero().max())
        assert ids[row, last] == end
        assert torch.allclose(vectors[row], hidden[row, last], atol=1e-5)
