"""Ops-MM-embedding-v1's recipe on the tiny model: the exact text it reads, its
resize, and the last position under left padding."""

import torch

from mllm_support import picture, registry, tiny_encoder

# Ops-MM's own wrapper builds these strings literally (ops_mm_embedding_v1.py).
PROMPT = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n"
    "<|im_start|>assistant\n<|endoftext|>"
)


def encoder():
    return tiny_encoder("ops-mm/tiny-random")


def test_the_model_reads_ops_mms_prompts():
    ops = encoder()
    decode = ops.processor.tokenizer.decode
    assert decode(ops.inputs(ops.text_prompts(["a crater"]))["input_ids"][0]) == PROMPT.format("a crater")
    inputs = ops.inputs([ops.image_prompt()], [ops.prepare_image(picture(64, 64, 0))])
    merged = int(inputs["image_grid_thw"].prod()) // 4
    image = "<|vision_start|>" + "<|image_pad|>" * merged + "<|vision_end|>"
    assert decode(inputs["input_ids"][0]) == PROMPT.format(image)


def test_images_are_resized_to_256_to_1280_patches_before_the_processor():
    ops = encoder()
    assert ops.prepare_image(picture(64, 64, 0)).size == (448, 448)  # 256 patches of 28 px
    # 2000x1000 has 2.0e6 px > 1280*784: scaled by sqrt(2.0e6 / 1003520), floored to 28
    assert ops.prepare_image(picture(2000, 1000, 0)).size == (1400, 700)


def test_left_padding_pools_the_final_endoftext_at_the_last_position():
    ops = encoder()
    texts = ["a crater", "a satellite image of layered deposits on the floor of a large crater"]
    inputs = ops.inputs(ops.text_prompts(texts))
    assert inputs["attention_mask"][0, 0] == 0 and inputs["attention_mask"][0, -1] == 1
    end = ops.processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert (inputs["input_ids"][:, -1] == end).all()
    with torch.no_grad():
        hidden = ops.model.base_model(**inputs).last_hidden_state
    assert torch.allclose(ops.encode_text(texts), hidden[:, -1], atol=1e-5)


def test_the_model_page_says_where_the_recipe_follows_the_published_code():
    notes = registry().get("ops-mm/ops-mm-embedding-v1-2b").recipe_notes
    assert "You are a helpful assistant." in notes and "instruction" in notes and "bf16" in notes
