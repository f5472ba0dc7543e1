"""Qwen3-VL-Embedding's recipe on its seeded tiny model, loaded through the real loader.

Expected values come from the published code re-written here (Qwen's
`Qwen3VLEmbedder`: chat template with the generation prompt, qwen-vl-utils'
`smart_resize` with factor 32, `do_resize=False`, right padding, the last attended
token), never from the plugin's own helpers.
"""

import math

import pytest
import torch

from mllm_support import picture, received, registry, tiny_encoder

SYSTEM = "<|im_start|>system\nRepresent the user's input.<|im_end|>\n"
ASSISTANT = "<|im_start|>assistant\n"
TEXTS = ["a crater", "a crater with layered deposits", "a yardang"]  # similar lengths: one padded batch


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder("qwen3-vl/tiny-random")


def _received(encoder, call):
    return received(encoder.model, call)


def _fetch_image_size(height, width, factor=32, min_pixels=4 * 32 * 32, max_pixels=1800 * 32 * 32):
    """qwen-vl-utils' smart_resize, as the published wrapper calls it."""
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def _published(encoder, contents, images=None):
    """Qwen3VLEmbedder.process: conversations through the chat template, processor
    with do_resize=False, right padding, the last attended token."""
    processor = encoder.processor
    processor.tokenizer.padding_side = "right"
    conversations = [
        [
            {"role": "system", "content": [{"type": "text", "text": "Represent the user's input."}]},
            {"role": "user", "content": [content]},
        ]
        for content in contents
    ]
    text = processor.apply_chat_template(conversations, add_generation_prompt=True, tokenize=False)
    if images is not None:
        images = [image.resize(_fetch_image_size(image.height, image.width)[::-1]) for image in images]
    inputs = processor(
        text=text, images=images, truncation=True, max_length=8192, padding=True, do_resize=False, return_tensors="pt"
    )
    with torch.no_grad():
        hidden = encoder.model(**inputs).last_hidden_state
    mask = inputs["attention_mask"]
    col = mask.shape[1] - mask.flip(dims=[1]).argmax(dim=1) - 1
    return hidden[torch.arange(hidden.shape[0]), col]


def test_full_size_architecture_has_the_declared_dimension_and_parameters():
    from transformers import Qwen3VLConfig, Qwen3VLModel

    from mars_zoo_mllm.qwen3_vl import QWEN3VL_2B

    spec = registry().get("qwen3-vl/qwen3-vl-embedding-2b")
    with torch.device("meta"):
        model = Qwen3VLModel(Qwen3VLConfig(**QWEN3VL_2B))
    assert sum(p.numel() for p in model.parameters()) == spec.parameters == 2_127_532_032
    assert model.config.text_config.hidden_size == spec.embedding_dim == 2048
    assert spec.checkpoint == "Qwen/Qwen3-VL-Embedding-2B"
    assert spec.revision == "9f2f7e710d6d81056aa5c0a4f04764fec6bb7bda"
    assert spec.precision == "fp16"


def test_text_reaches_the_model_through_the_chat_template(encoder):
    _, seen = _received(encoder, lambda: encoder.encode_text(["a crater"]))
    (inputs,) = seen
    decoded = encoder.processor.tokenizer.decode(inputs["input_ids"][0])
    assert decoded == SYSTEM + "<|im_start|>user\na crater<|im_end|>\n" + ASSISTANT


@pytest.mark.parametrize("size", [(96, 64), (100, 70), (40, 40)])
def test_image_is_resized_with_pil_by_32_and_not_again(encoder, size):
    """The checkpoint's processor would scale every image up to 65,536 pixels."""
    width, height = size
    assert encoder.processor.image_processor.size["shortest_edge"] == 65536
    _, seen = _received(encoder, lambda: encoder.encode_image([picture(width, height, 0)]))
    (inputs,) = seen
    decoded = encoder.processor.tokenizer.decode(inputs["input_ids"][0])
    pads = decoded.count("<|image_pad|>")
    h_bar, w_bar = _fetch_image_size(height, width)
    assert inputs["image_grid_thw"].tolist() == [[1, h_bar // 16, w_bar // 16]]
    assert pads == (h_bar // 32) * (w_bar // 32)
    collapsed = decoded.replace("<|image_pad|>" * pads, "<|image_pad|>")
    assert collapsed == SYSTEM + "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n" + ASSISTANT


def test_texts_pad_right_and_pool_the_last_attended_token(encoder):
    out, seen = _received(encoder, lambda: encoder.encode_text(TEXTS))
    masks = [inputs["attention_mask"] for inputs in seen]
    assert any((mask[:, -1] == 0).any() for mask in masks)  # padded, on the right
    assert all((mask[:, 0] == 1).all() for mask in masks)
    expected = _published(encoder, [{"type": "text", "text": text} for text in TEXTS])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_text_alone_equals_text_in_a_padded_batch(encoder):
    alone = torch.cat([encoder.encode_text([text]) for text in TEXTS])
    torch.testing.assert_close(encoder.encode_text(TEXTS), alone, atol=1e-5, rtol=0)


def test_images_equal_the_published_code_alone_and_in_a_batch(encoder):
    images = [picture(96, 64, 1), picture(100, 70, 2), picture(64, 64, 3)]
    expected = torch.cat([_published(encoder, [{"type": "image", "image": image}], [image]) for image in images])
    torch.testing.assert_close(encoder.encode_image(images), expected, atol=1e-5, rtol=0)



def test_texts_are_cut_at_the_embedders_8192_tokens(encoder):
    """Qwen3VLEmbedder's default max_length, which the published wrapper does not change."""
    per_word = len(encoder.processor.tokenizer(" crater", add_special_tokens=False)["input_ids"])
    texts = [" ".join(["crater"] * (9000 // per_word)), " ".join(["crater"] * (3000 // per_word))]
    _, seen = _received(encoder, lambda: encoder.encode_text(texts))
    lengths = sorted(int(mask.sum()) for inputs in seen for mask in inputs["attention_mask"])
    assert lengths[-1] == 8192 and 2048 < lengths[0] < 8192  # the long text cut, the other whole
