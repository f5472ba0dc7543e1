"""GME's recipe on the tiny model: the exact text it reads, pixel limits, the pooled
position under right padding, and its sequential positions."""

import torch
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

from mars_zoo_mllm import qwen2vl

from mllm_support import picture, registry, tiny_encoder

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


def test_the_prompts_are_written_out_as_gmes_code_writes_them_whatever_the_chat_template():
    """GME's code writes its chat strings itself; the checkpoint's chat template, which a
    fine-tune may change, plays no part (the tiny checkpoint's is taken away here)."""
    gme = encoder()
    gme.processor.chat_template = None
    decode = gme.processor.tokenizer.decode
    assert decode(gme.inputs(gme.text_prompts(["a crater"]))["input_ids"][0]) == TEXT.format("a crater")
    assert gme.image_prompt() == IMAGE.format("<|image_pad|>")


def test_pixel_limits_and_the_pil_processor_hold_over_a_checkpoints_own_limits(tmp_path):
    """Qwen2-VL fine-tunes keep min_pixels/max_pixels in preprocessor_config.json (3136 and
    12845056 for Qwen2-VL-2B-Instruct), which transformers 5 lets win over a `size` keyword;
    GME's wrapper passes min_pixels/max_pixels, which win over them, to the slow PIL processor
    that transformers 4.51.3 loaded."""
    import json
    import shutil

    from mars_zoo.core.folders import default_cache_dir
    from mars_zoo_mllm.gme import RECIPE
    from mars_zoo_mllm.loading import load_processor

    folder = tmp_path / "gme"
    shutil.copytree(registry().get("gme/tiny-random").loader.tiny.folder(default_cache_dir()), folder)
    config = json.loads((folder / "processor_config.json").read_text())  # as transformers 5 saves it
    config["image_processor"].update(min_pixels=3136, max_pixels=12845056,
                                     size={"shortest_edge": 3136, "longest_edge": 12845056})
    (folder / "processor_config.json").write_text(json.dumps(config))
    processor = load_processor(RECIPE, str(folder), None)
    assert type(processor.image_processor).__name__ == "Qwen2VLImageProcessorPil"
    small = processor(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=[picture(56, 56, 0)])
    assert small["image_grid_thw"].tolist() == [[1, 32, 32]]  # lifted to 256 merged patches
    height, width = smart_resize(2000, 2000, 28, 256 * 784, 1280 * 784)
    big = processor(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=[picture(2000, 2000, 0)])
    assert big["image_grid_thw"].tolist() == [[1, height // 14, width // 14]]  # held to 1280


def test_the_model_page_says_where_the_recipe_follows_the_published_code():
    notes = registry().get("gme/gme-qwen2-vl-2b-instruct").recipe_notes
    assert "Find an image that matches the given text." in notes and "4.51.3" in notes and "gallery" in notes
