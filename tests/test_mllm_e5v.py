"""E5-V's recipe on its seeded tiny model, loaded through the real loader.

Expected values come from the published code re-written here from the E5-V README
(literal prompts, the whole LlavaNextForConditionalGeneration forward,
`hidden_states[-1][:, -1, :]`), never from the plugin's own helpers.
"""

import pytest
import torch

from mllm_support import picture, received, registry, tiny_encoder

README_TEMPLATE = "<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n \n"
README_TEXT = README_TEMPLATE.format("<sent>\nSummary above sentence in one word: ")
README_IMAGE = README_TEMPLATE.format("<image>\nSummary above image in one word: ")
TEXTS = ["a crater", "a crater with layered deposits", "a yardang"]  # similar lengths: one padded batch


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder("e5-v/tiny-random")


def _received(encoder, call):
    return received(encoder.model.model, call)


def _published(encoder, prompts, images=None):
    """The README's code path: the whole model, padded on the left, last position."""
    processor = encoder.processor
    processor.tokenizer.padding_side = "left"
    inputs = processor(text=prompts, images=images, return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = encoder.model(**inputs, output_hidden_states=True, return_dict=True).hidden_states[-1]
    return hidden[:, -1, :]


def test_full_size_architecture_has_the_declared_dimension_and_parameters():
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration

    from mars_zoo_mllm.e5v import E5V_8B

    spec = registry().get("e5-v/e5-v")
    with torch.device("meta"):
        model = LlavaNextForConditionalGeneration(LlavaNextConfig(**E5V_8B))
    assert sum(p.numel() for p in model.parameters()) == spec.parameters == 8_355_276_800
    assert model.config.text_config.hidden_size == spec.embedding_dim == 4096
    assert spec.checkpoint == "royokong/e5-v" and len(spec.revision) == 40
    assert spec.precision == "fp16"


def test_text_reaches_the_model_as_the_readme_prompt(encoder):
    _, seen = _received(encoder, lambda: encoder.encode_text(["a crater"]))
    (inputs,) = seen
    assert encoder.processor.tokenizer.decode(inputs["input_ids"][0]) == "<|begin_of_text|>" + README_TEXT.replace("<sent>", "a crater")


def test_image_reaches_the_model_as_the_readme_prompt(encoder):
    _, seen = _received(encoder, lambda: encoder.encode_image([picture(96, 64, 0)]))
    (inputs,) = seen
    text = encoder.processor.tokenizer.decode(inputs["input_ids"][0])
    collapsed = text.replace("<image>", "")
    assert collapsed == "<|begin_of_text|>" + README_IMAGE.replace("<image>", "")
    assert text.count("<image>") > 1  # expanded to the image's features, which needs the patch size


def test_text_batches_pad_left_and_pool_the_last_real_token(encoder):
    """The tiny tokenizer pads on the right, as Llama-3's does by default: the recipe
    must switch it, or the shorter captions would be read at a padding token."""
    from transformers import AutoTokenizer

    saved = AutoTokenizer.from_pretrained(encoder.model.name_or_path)
    assert saved.padding_side == "right"
    out, seen = _received(encoder, lambda: encoder.encode_text(TEXTS))
    masks = [inputs["attention_mask"] for inputs in seen]
    assert all((mask[:, -1] == 1).all() for mask in masks)  # the last position is real in every row
    assert any((mask == 0).any() for mask in masks)  # and some batch was really padded
    expected = _published(encoder, [README_TEXT.replace("<sent>", t) for t in TEXTS])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_text_alone_equals_text_in_a_padded_batch(encoder):
    alone = torch.cat([encoder.encode_text([text]) for text in TEXTS])
    torch.testing.assert_close(encoder.encode_text(TEXTS), alone, atol=1e-5, rtol=0)


def test_images_equal_the_published_code_and_are_batch_invariant(encoder):
    images = [picture(96, 64, 1), picture(64, 96, 2), picture(80, 80, 3)]
    expected = torch.cat([_published(encoder, [README_IMAGE], [image]) for image in images])
    torch.testing.assert_close(encoder.encode_image(images), expected, atol=1e-5, rtol=0)


def test_patch_size_comes_from_the_recipe_not_the_checkpoint(encoder):
    """The checkpoint's processor config has no patch size; without one the processor
    cannot count image tokens (transformers 5 raises)."""
    from transformers import AutoProcessor

    saved = AutoProcessor.from_pretrained(encoder.model.name_or_path)
    assert saved.patch_size is None
    with pytest.raises(TypeError):
        saved(text=[README_IMAGE], images=[picture(64, 64, 4)], return_tensors="pt")
    assert encoder.processor.patch_size == 14 == encoder.model.config.vision_config.patch_size

