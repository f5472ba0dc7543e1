"""The sentence-transformers family: registered by Hub id, loaded by SentenceTransformer.

The real CLIP models' declared sizes are checked on the meta device; the recipe is
checked on a tiny CLIP saved as a sentence-transformers folder and loaded through the
family's real loader. Expected values come from direct calls of the wrapped
transformers model.
"""

import dataclasses
import shutil

import pytest
import torch

from mars_zoo import RESOLVE_AT_FIRST_USE
from mars_zoo.models.contract import check_model
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import Reporter
from mllm_support import CAPTION, LONGER, picture, tiny_encoder
from mllm_support import registry as shared_registry

# model -> (Hub id, CLIP vision tower: hidden, layers, heads, patch; text hidden/heads; projection)
REAL = {
    "st/clip-vit-b-32": ("sentence-transformers/clip-ViT-B-32", (768, 12, 12, 32), (512, 8), 512),
    "st/clip-vit-b-16": ("sentence-transformers/clip-ViT-B-16", (768, 12, 12, 16), (512, 8), 512),
    "st/clip-vit-l-14": ("sentence-transformers/clip-ViT-L-14", (1024, 24, 16, 14), (768, 12), 768),
}


@pytest.fixture(scope="module")
def registry():
    return shared_registry()


@pytest.fixture(scope="module")
def tiny():
    return tiny_encoder("st/tiny-random")


@pytest.fixture(scope="module")
def images():
    return [picture(48, 36 + 9 * i, 10 + i) for i in range(3)]


@pytest.mark.parametrize("name", sorted(REAL))
def test_declared_metadata_matches_the_architecture(registry, name):
    from transformers import CLIPConfig, CLIPModel

    hub_id, (width, layers, heads, patch), (text_width, text_heads), projection = REAL[name]
    spec = registry.get(name)
    assert spec.checkpoint == hub_id and name == "st/" + hub_id.split("/")[1].lower()
    config = CLIPConfig(
        text_config=dict(hidden_size=text_width, intermediate_size=4 * text_width, num_hidden_layers=12,
                         num_attention_heads=text_heads),
        vision_config=dict(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers,
                           num_attention_heads=heads, patch_size=patch, image_size=224),
        projection_dim=projection,
    )
    with torch.device("meta"):
        model = CLIPModel(config)
    assert sum(p.numel() for p in model.parameters()) == spec.parameters
    assert projection == spec.embedding_dim
    assert spec.supports_text and spec.license and spec.paper_url
    assert spec.revision == RESOLVE_AT_FIRST_USE  # no published pins: recorded at first use


@pytest.mark.parametrize("name", sorted(REAL))
def test_loading_offline_names_the_model_and_the_fix(registry, name, tmp_path):
    from mars_zoo.models.model_revisions import resolve_model_revision

    spec = registry.get(name)
    with pytest.raises(MarsZooError) as error:  # as `run` and `check` load: the revision first
        resolve_model_revision(spec, tmp_path).load("cpu", "fp32")
    message = str(error.value)
    assert name in message and REAL[name][0] in message and "HF_HUB_OFFLINE" in message and "\n" not in message
    # A revision recorded earlier is what the loader asks for.
    pinned = dataclasses.replace(spec, revision="0" * 40)
    with pytest.raises(MarsZooError, match=f"{REAL[name][0]} at revision {'0' * 40}.*HF_HUB_OFFLINE"):
        pinned.load("cpu", "fp32")


def test_tiny_model_passes_the_contract_check(registry):
    spec = registry.get("st/tiny-random")
    assert spec.random_weights and "RANDOM-WEIGHT BASELINE" in spec.description
    assert {c.name: c.detail for c in check_model(spec, Reporter()) if not c.passed} == {}


def test_tiny_model_is_a_sentence_transformers_clip_module(tiny):
    assert type(tiny.model[0]).__name__ == "CLIPModel" and type(tiny.model[0].auto_model).__name__ == "CLIPModel"


def test_text_reaches_the_model_as_written_and_truncated_to_77(tiny):
    tokenizer = tiny.model[0].processor.tokenizer
    features = tiny.model.preprocess([CAPTION, " ".join([LONGER] * 20)])
    ids, mask = features["input_ids"], features["attention_mask"]
    assert tokenizer.decode(ids[0][mask[0].bool()]) == f"<|startoftext|>{CAPTION}<|endoftext|>"
    assert ids.shape[1] == 77 and tokenizer.decode(ids[1][-1:]) == "<|endoftext|>"


def test_text_embedding_is_the_projected_end_of_text_token_alone_or_padded(tiny):
    clip, tokenizer = tiny.model[0].auto_model, tiny.model[0].processor.tokenizer
    ids = torch.tensor([tokenizer(CAPTION)["input_ids"]])
    with torch.inference_mode():
        hidden = clip.text_model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        expected = clip.text_projection(hidden[0, -1])
        alone = tiny.encode_text([CAPTION])[0]
        padded = tiny.encode_text([LONGER, CAPTION])[1]
    torch.testing.assert_close(alone, expected, atol=1e-5, rtol=0)
    assert (alone - padded).abs().max() <= 1e-5


def test_image_embedding_is_clips_projected_image_features(tiny, images):
    clip, processor = tiny.model[0].auto_model, tiny.model[0].processor.image_processor
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        expected = clip.visual_projection(clip.vision_model(pixel_values=pixels).pooler_output)
        got = tiny.encode_image(images)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_a_text_only_model_is_refused(registry, tmp_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    from mars_zoo.models.tiny import train_bpe_tokenizer

    text_only = SentenceTransformer(modules=[StaticEmbedding(train_bpe_tokenizer(["[PAD]"]), embedding_dim=8)])
    text_only.save(str(tmp_path / "text-only"))
    spec = dataclasses.replace(registry.get("st/tiny-random"), weights=str(tmp_path / "text-only"))
    with pytest.raises(MarsZooError, match="does not embed image"):
        spec.load("cpu", "fp32")


def test_fine_tuned_folder_is_loaded_instead_of_the_checkpoint(registry, tiny, images, tmp_path):
    spec = registry.get("st/tiny-random")
    tiny.model.save(str(tmp_path / "same"))
    other = tiny.model
    shutil.copytree(tmp_path / "same", tmp_path / "other")
    loaded = dataclasses.replace(spec, weights=str(tmp_path / "other")).load("cpu", "fp32")
    with torch.no_grad():
        loaded.model[0].auto_model.visual_projection.weight.mul_(-1)
    loaded.model.save(str(tmp_path / "other"))
    with torch.inference_mode():
        reference = other.encode(images, convert_to_tensor=True)
        same = dataclasses.replace(spec, weights=str(tmp_path / "same")).load("cpu", "fp32").encode_image(images)
        changed = dataclasses.replace(spec, weights=str(tmp_path / "other")).load("cpu", "fp32").encode_image(images)
    torch.testing.assert_close(same, reference, atol=0, rtol=0)
    torch.testing.assert_close(changed, -reference, atol=1e-6, rtol=0)
    with pytest.raises(MarsZooError, match="modules.json"):
        dataclasses.replace(spec, weights=str(tmp_path / "missing")).load("cpu", "fp32")
