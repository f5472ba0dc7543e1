"""E5-V's recipe on its seeded tiny model, loaded through the real loader.

Expected values come from the published code re-written here from the E5-V README and
MarsRetrieval's wrapper (literal prompts, the checkpoint's own padding side, the whole
LlavaNextForConditionalGeneration forward, `hidden_states[-1][:, -1, :]`, one batch per
prompt ensemble and one item per batch otherwise), never from the plugin's own helpers.
"""

import dataclasses

import pytest
import torch

from mars_zoo.core.folders import default_cache_dir
from mars_zoo.core.protocol import prompts_for
from mars_zoo_mllm.recipe import MllmLoader, TinyModel

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
    """The README's code path on the encoder's model: the whole model, last position."""
    return _published_embed(encoder.processor, encoder.model, prompts, images)


def _published_embed(processor, model, prompts, images=None):
    inputs = processor(text=prompts, images=images, return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = model(**inputs, output_hidden_states=True, return_dict=True).hidden_states[-1]
    return hidden[:, -1, :]


@pytest.fixture(scope="module", params=["left", "right"])
def sided(request):
    """A tiny E5-V whose tokenizer config says `request.param` padding: mars-zoo's encoder
    (the real loader), and the published sequence's processor and model on the same folder."""
    from transformers import LlavaNextForConditionalGeneration, LlavaNextProcessor

    spec = registry().get("e5-v/tiny-random")
    tiny = TinyModel(spec.loader.tiny.name, spec.loader.tiny.build, {"seed": 0, "padding_side": request.param})
    folder = tiny.folder(default_cache_dir())
    loaded = dataclasses.replace(spec, cache_dir=default_cache_dir())  # as the harness hands it over
    encoder = MllmLoader(spec.loader.recipe, tiny)(loaded, "cpu", "fp32")
    # its padding side is never set; the PIL image processor is what transformers 4.57.3 loads
    processor = LlavaNextProcessor.from_pretrained(folder, backend="pil")
    processor.patch_size = 14
    model = LlavaNextForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()
    return request.param, encoder, processor, model


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


def test_padding_follows_the_checkpoints_tokenizer_config(sided):
    side, encoder, processor, _ = sided
    assert processor.tokenizer.padding_side == side  # what the checkpoint says
    assert encoder.processor.tokenizer.padding_side == side
    _, seen = _received(encoder, lambda: encoder.encode_text(prompts_for("yardangs")))
    (inputs,) = seen  # the ensemble is one batch, padded on the checkpoint's side
    padded_at = 0 if side == "left" else -1
    assert (inputs["attention_mask"][:, padded_at] == 0).any()


def test_texts_equal_the_published_sequence_however_the_harness_cuts_its_batches(sided):
    """Prompt ensembles (one batch each in the published code) and captions (one per
    batch) sent mixed and cut into harness batches that split ensembles. With right
    padding the published code reads two of each ensemble's prompts at a padding token."""
    _, encoder, processor, model = sided
    concepts = ["yardangs", "pitted cones"]
    captions = ["a crater", "a crater with layered deposits", "dunes"]
    expected = {}
    for concept in concepts:
        prompts = prompts_for(concept)
        vectors = _published_embed(processor, model, [README_TEXT.replace("<sent>", p) for p in prompts])
        expected.update(zip(prompts, vectors))
    for caption in captions:
        expected[caption] = _published_embed(processor, model, [README_TEXT.replace("<sent>", caption)])[0]
    (a0, a1, a2), (b0, b1, b2) = (prompts_for(c) for c in concepts)
    texts = [a0, captions[0], captions[1], a1, a2, b0, captions[2], b1, b2]
    out = torch.cat([encoder.encode_text(texts[i : i + 4]) for i in range(0, len(texts), 4)])
    torch.testing.assert_close(out, torch.stack([expected[t] for t in texts]), atol=1e-5, rtol=0)


def test_images_equal_the_published_sequence_one_per_batch(sided):
    _, encoder, processor, model = sided
    images = [picture(96, 64, 1), picture(64, 96, 2), picture(96, 64, 3)]  # two token counts
    expected = torch.cat([_published_embed(processor, model, [README_IMAGE], [image]) for image in images])
    torch.testing.assert_close(encoder.encode_image(images), expected, atol=1e-5, rtol=0)


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



def test_images_are_preprocessed_by_the_pil_image_processor_the_published_code_used(encoder):
    """transformers 4.57.3 (the published runs) loads the slow, PIL-based LLaVA-NeXT image
    processor; transformers 5's default torchvision backend resizes differently. The model
    receives exactly what the PIL-based processor, built here from the checkpoint's
    preprocessor config, makes of the image."""
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    image = picture(333, 517, 5)  # a resize whose result differs between the two backends
    expected = LlavaNextImageProcessorPil.from_pretrained(encoder.model.name_or_path)(images=[image], return_tensors="pt")
    _, seen = _received(encoder, lambda: encoder.encode_image([image]))
    torch.testing.assert_close(seen[0]["pixel_values"], expected["pixel_values"], atol=0, rtol=0)
