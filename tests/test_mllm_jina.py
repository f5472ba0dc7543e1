"""jina-embeddings-v4's recipe on its seeded tiny model, loaded through the real loader.

Expected values come from jina's wrapper re-written here ("Query: " texts pooled
over the attention mask; images read through the "Describe the image." turn and
pooled from <|vision_start|> to <|vision_end|>), never from the plugin's helpers.
"""

import dataclasses
import math

import pytest
import torch

from mars_zoo.core.errors import MarsZooError
from mllm_support import picture, received, registry, tiny_encoder

JINA_IMAGE_PROMPT = "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe the image.<|im_end|>\n"
TEXTS = ["a crater", "a crater with layered deposits", "a yardang"]  # similar lengths: one padded batch


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder("jina/tiny-random")


def _received(encoder, call):
    return received(encoder.model.model, call)


def _hidden(encoder, inputs):
    with torch.no_grad():
        return encoder.model(**inputs, output_hidden_states=True).hidden_states[-1][0]


def _text_alone(encoder, text):
    """The wrapper's text path for one text (no padding): mean of every position."""
    inputs = encoder.processor(text=["Query: " + text], return_tensors="pt")
    return _hidden(encoder, inputs).mean(dim=0)


def _image_alone(encoder, image):
    """The wrapper's image path for one image: mean from vision start to vision end."""
    inputs = encoder.processor(text=[JINA_IMAGE_PROMPT], images=[image.convert("RGB")], return_tensors="pt")
    ids = inputs["input_ids"][0].tolist()
    tokenizer = encoder.processor.tokenizer
    start = ids.index(tokenizer.convert_tokens_to_ids("<|vision_start|>"))
    end = ids.index(tokenizer.convert_tokens_to_ids("<|vision_end|>"))
    return _hidden(encoder, inputs)[start : end + 1].mean(dim=0)


def test_full_size_architecture_has_the_declared_dimension_and_parameters():
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from mars_zoo_mllm.jina import QWEN25VL_3B

    spec = registry().get("jina/jina-embeddings-v4")
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**QWEN25VL_3B))
    assert sum(p.numel() for p in model.parameters()) == spec.parameters == 3_754_622_976
    assert model.config.text_config.hidden_size == spec.embedding_dim == 2048
    assert spec.checkpoint == "jinaai/jina-embeddings-v4-vllm-retrieval"
    assert "remote code" in spec.recipe_notes and "Query: " in spec.recipe_notes
    assert spec.precision == "bf16"  # the published encode loop autocasts to bf16


def test_every_text_reaches_the_model_as_a_query(encoder):
    _, seen = _received(encoder, lambda: encoder.encode_text(["a crater"]))
    (inputs,) = seen
    assert encoder.processor.tokenizer.decode(inputs["input_ids"][0]) == "Query: a crater"


def test_text_is_the_mean_over_its_tokens_alone_and_in_a_padded_batch(encoder):
    out, seen = _received(encoder, lambda: encoder.encode_text(TEXTS))
    assert any((inputs["attention_mask"] == 0).any() for inputs in seen)  # some batch was padded
    expected = torch.stack([_text_alone(encoder, text) for text in TEXTS])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_image_reaches_the_model_through_describe_the_image(encoder):
    _, seen = _received(encoder, lambda: encoder.encode_image([picture(96, 64, 0)]))
    (inputs,) = seen
    decoded = encoder.processor.tokenizer.decode(inputs["input_ids"][0])
    pads = decoded.count("<|image_pad|>")
    assert decoded.replace("<|image_pad|>" * pads, "<|image_pad|>") == JINA_IMAGE_PROMPT


def test_images_keep_at_most_768_merged_patches(encoder):
    """800 x 800 px: 29 x 29 merged patches with the processor's own limit, 27 x 27
    (602,112 pixels at most) with jina's."""
    _, seen = _received(encoder, lambda: encoder.encode_image([picture(800, 800, 5)]))
    (inputs,) = seen
    side = math.floor(800 / math.sqrt(800 * 800 / (768 * 28 * 28)) / 28) * 28
    assert inputs["image_grid_thw"].tolist() == [[1, side // 14, side // 14]]
    assert (side // 28) ** 2 <= 768


def test_images_are_the_mean_over_their_vision_span_alone_and_in_a_batch(encoder):
    images = [picture(96, 64, 1), picture(100, 70, 2), picture(84, 84, 3)]
    out, seen = _received(encoder, lambda: encoder.encode_image(images))
    assert any(len(inputs["input_ids"]) > 1 for inputs in seen)  # some images shared a batch
    expected = torch.stack([_image_alone(encoder, image) for image in images])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_the_unpinned_checkpoint_is_resolved_at_first_use_or_named_with_the_fix(tmp_path):
    """jina publishes no pin of the merged checkpoint: offline and with nothing recorded
    the run stops before loading, naming the model, the repository and the fix; once a
    commit is resolved, a missing checkpoint names that commit."""
    from mars_zoo import RESOLVE_AT_FIRST_USE
    from mars_zoo.models.model_revisions import resolve_model_revision

    spec = registry().get("jina/jina-embeddings-v4")
    assert spec.revision == RESOLVE_AT_FIRST_USE
    with pytest.raises(MarsZooError) as error:
        resolve_model_revision(spec, tmp_path)
    assert spec.name in str(error.value) and spec.checkpoint in str(error.value) and "Fix" in str(error.value)
    commit = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(MarsZooError) as error:
        dataclasses.replace(spec, revision=commit).load("cpu", "fp32")
    message = str(error.value)
    assert spec.name in message and spec.checkpoint in message and commit in message and "HF_HUB_OFFLINE" in message
