"""The transformers dual and vision-only encoders (BGE-VL, AIMv2, DINOv3).

Real weights cannot be downloaded here, so: each real model's declared size is checked
against its full-size architecture built on the meta device, its loader is followed
until the Hub refuses, and every recipe rule is checked on the seeded tiny models,
which load through the same loader as the real checkpoints. Expected values come from
direct calls of the transformers model, never from the plugin's own code.
"""

import dataclasses
import io
import pickle
import re

import pytest
import torch
from PIL import Image

from mars_zoo.models.contract import check_model
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import Reporter
from mllm_support import CAPTION, LONGER, picture, tiny_encoder
from mllm_support import registry as shared_registry

REAL = {
    "bge-vl/bge-vl-large": "BAAI/BGE-VL-large",
    "aimv2/aimv2-large-patch14-224-lit": "apple/aimv2-large-patch14-224-lit",
    "aimv2/aimv2-large-patch14-448": "apple/aimv2-large-patch14-448",
    "dinov3/dinov3-vitl16-pretrain-lvd1689m": "facebook/dinov3-vitl16-pretrain-lvd1689m",
}
TINY = ["bge-vl/tiny-random", "aimv2/tiny-random", "aimv2/tiny-random-vision", "dinov3/tiny-random"]


@pytest.fixture(scope="module")
def registry():
    return shared_registry()


@pytest.fixture(scope="module")
def encoders(registry):
    return {name: tiny_encoder(name) for name in TINY}


@pytest.fixture(scope="module")
def images():
    return [picture(52, 40 + 7 * i, i) for i in range(3)]


def _full_size(name):
    """The real architecture of each checkpoint, from its published sizes."""
    from transformers import (Aimv2Config, Aimv2Model, Aimv2VisionConfig, Aimv2VisionModel, CLIPConfig,
                              CLIPModel, DINOv3ViTConfig, DINOv3ViTModel)

    if name.startswith("bge-vl/"):  # CLIP ViT-L/14 at 224
        config = CLIPConfig(
            text_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12),
            vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                               num_attention_heads=16, patch_size=14, image_size=224),
            projection_dim=768,
        )
        return CLIPModel(config), config.projection_dim
    if name.endswith("224-lit"):
        config = Aimv2Config(projection_dim=768)
        return Aimv2Model(config), config.projection_dim
    if name.endswith("448"):
        config = Aimv2VisionConfig(image_size=448, use_head=False)
        return Aimv2VisionModel(config), config.hidden_size
    config = DINOv3ViTConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                             num_register_tokens=4, patch_size=16)
    return DINOv3ViTModel(config), config.hidden_size


@pytest.mark.parametrize("name", sorted(REAL))
def test_declared_metadata_matches_the_full_size_architecture(registry, name):
    spec = registry.get(name)
    with torch.device("meta"):
        model, dim = _full_size(name)
    assert sum(p.numel() for p in model.parameters()) == spec.parameters
    assert dim == spec.embedding_dim
    assert spec.checkpoint == REAL[name]
    assert re.fullmatch(r"[0-9a-f]{40}", spec.revision)
    assert spec.license and spec.paper_url and spec.code_url and spec.recipe_notes
    assert spec.precision == ("fp32" if name.startswith("dinov3/") else "fp16")
    assert spec.supports_text == (name.startswith("bge-vl/") or name.endswith("lit"))


@pytest.mark.parametrize("name", sorted(REAL))
def test_loading_offline_names_the_model_the_revision_and_the_fix(registry, name):
    spec = registry.get(name)
    with pytest.raises(MarsZooError) as error:
        spec.load("cpu", "fp32")
    message = str(error.value)
    assert name in message and spec.revision in message and spec.checkpoint in message
    assert "HF_HUB_OFFLINE" in message and "\n" not in message


def test_a_gated_repository_says_how_to_get_access(registry, monkeypatch):
    from transformers import DINOv3ViTImageProcessor

    def gated(*args, **kwargs):
        raise OSError("You are trying to access a gated repo.\nMake sure to have access to it.")

    monkeypatch.setattr(DINOv3ViTImageProcessor, "from_pretrained", gated)
    with pytest.raises(MarsZooError) as error:
        registry.get("dinov3/dinov3-vitl16-pretrain-lvd1689m").load("cpu", "fp32")
    message = str(error.value)
    assert "gated" in message and "accept its licence" in message and "hf auth login" in message
    assert "ea8dc2863c51be0a264bab82070e3e8836b02d51" in message


@pytest.mark.parametrize("name", TINY)
def test_tiny_model_passes_the_contract_check(registry, name):
    spec = registry.get(name)
    assert spec.random_weights and "RANDOM-WEIGHT BASELINE" in spec.description
    failed = {c.name: c.detail for c in check_model(spec, Reporter()) if not c.passed}
    assert failed == {}


@pytest.mark.parametrize("name", TINY)
def test_image_transform_is_picklable_with_a_fixed_shape(encoders, images, name):
    transform = encoders[name].image_transform
    copy = pickle.loads(pickle.dumps(transform))
    shapes = {tuple(transform(image).shape) for image in images}
    assert len(shapes) == 1
    assert torch.equal(copy(images[0]), transform(images[0]))


@pytest.mark.parametrize("name", ["bge-vl/tiny-random", "aimv2/tiny-random"])
def test_text_reaches_the_model_as_written_and_truncated_to_77(encoders, name):
    encoder = encoders[name]
    tokens = encoder.tokenize([CAPTION, LONGER])
    decode = encoder.tokenizer.decode
    first = tokens["input_ids"][0][tokens["attention_mask"][0].bool()]
    assert decode(first) == f"<|startoftext|>{CAPTION}<|endoftext|>"
    long_text = " ".join([LONGER] * 20)
    ids = encoder.tokenize([long_text])["input_ids"][0]
    assert len(ids) == 77 and decode(ids[-1:]) == "<|endoftext|>"
    assert long_text.startswith(decode(ids[1:-1]))


@pytest.mark.parametrize("name", ["bge-vl/tiny-random", "aimv2/tiny-random"])
def test_text_embedding_is_the_projected_end_of_text_token(encoders, name):
    encoder = encoders[name]
    tokenizer, model = encoder.tokenizer, encoder.model
    ids = torch.tensor([tokenizer(CAPTION)["input_ids"]])
    end = ids[0].tolist().index(tokenizer.convert_tokens_to_ids("<|endoftext|>"))
    assert end == ids.shape[1] - 1
    with torch.inference_mode():
        hidden = model.text_model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        expected = model.text_projection(hidden[0, end])
        got = encoder.encode_text([CAPTION, LONGER])[0]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["bge-vl/tiny-random", "aimv2/tiny-random"])
def test_a_caption_embeds_the_same_alone_and_in_a_padded_batch(encoders, name):
    encoder = encoders[name]
    with torch.inference_mode():
        alone = encoder.encode_text([CAPTION])
        batch = encoder.encode_text([LONGER, CAPTION, "a dune"])
    assert encoder.tokenize([LONGER, CAPTION])["attention_mask"][1].min() == 0  # it was padded
    assert (alone[0] - batch[1]).abs().max() <= 1e-5


def test_aimv2_text_is_causal(encoders):
    """Tokens after the end-of-text token, even attended, change nothing: Apple's text
    tower is causal. Bidirectional attention (transformers' SDPA path) fails this."""
    encoder = encoders["aimv2/tiny-random"]
    tokenizer = encoder.tokenizer
    ids = tokenizer(CAPTION)["input_ids"]
    extra = tokenizer(LONGER, add_special_tokens=False)["input_ids"]
    short, extended = torch.tensor([ids]), torch.tensor([ids + extra])
    with torch.inference_mode():
        a = encoder.model.get_text_features(input_ids=short, attention_mask=torch.ones_like(short)).pooler_output
        b = encoder.model.get_text_features(input_ids=extended, attention_mask=torch.ones_like(extended)).pooler_output
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def _jpeg_q95(image):
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=95)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def test_bge_vl_re_encodes_only_task_1_images_as_jpeg(encoders, images):
    """The published wrapper re-encodes the PIL images of task 1's dataset as JPEG quality
    95; landform, tile and query images reach it as file paths, opened as they are."""
    encoder = encoders["bge-vl/tiny-random"]
    processor = encoder.image_transform.image_processor
    as_jpeg = processor(images=_jpeg_q95(images[0]), return_tensors="pt")["pixel_values"][0]
    as_file = processor(images=images[0], return_tensors="pt")["pixel_values"][0]
    assert not torch.equal(as_jpeg, as_file)
    assert torch.equal(encoder.paired_image_transform(images[0]), as_jpeg)
    assert torch.equal(encoder.image_transform(images[0]), as_file)


def test_the_harness_hands_only_task_1_images_to_the_paired_transform(registry, encoders, images, tmp_path):
    """Embedded through mars-zoo's embedding path: images prepared for task 1 (their cache
    key's preprocessing) go through the JPEG round trip, any other images do not."""
    from mars_zoo.embedding.cache import EmbeddingCache
    from mars_zoo.data.image_sources import FileImageSource
    from mars_zoo.data.images import PUBLISHED_PREPARATION
    from mars_zoo.data.types import DatasetRef
    from mars_zoo.embedding.embed import EmbedOptions, Embedder

    encoder = encoders["bge-vl/tiny-random"]
    processor = encoder.image_transform.image_processor
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        image.save(paths[-1])
    source = FileImageSource(paths, [path.name for path in paths], fix="-")
    embedder = Embedder(registry.get("bge-vl/tiny-random"), "0", EmbedOptions(), EmbeddingCache(tmp_path / "cache"),
                        Reporter())

    def expected(prepare):
        pixels = processor(images=[prepare(image) for image in images], return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            features = encoder.model.get_image_features(pixel_values=pixels).pooler_output
        return torch.nn.functional.normalize(features, dim=1).numpy()

    paired = embedder.images(source, DatasetRef("d", "0", None, "d"), "pairs", preprocessing=PUBLISHED_PREPARATION)
    files = embedder.images(source, DatasetRef("d", "0", None, "d"), "files")
    assert abs(paired - expected(_jpeg_q95)).max() < 1e-5
    assert abs(files - expected(lambda image: image)).max() < 1e-5
    assert abs(paired - files).max() > 1e-3


def _clip_pixels_with_pil(image, size, mean, std):
    """CLIP's preprocessing written with PIL and numpy: shorter side to `size` (bicubic),
    centred crop, scaled to [0, 1], normalised; as transformers 4's CLIPImageProcessor."""
    import numpy as np

    width, height = image.size
    scale = size / min(width, height)
    resized = image.convert("RGB").resize(
        (size, int(height * scale)) if width <= height else (int(width * scale), size), Image.BICUBIC)
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    array = np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
    return torch.from_numpy(((array - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32))
                            .transpose(2, 0, 1).astype(np.float32))


@pytest.mark.parametrize("name", ["bge-vl/tiny-random", "aimv2/tiny-random", "aimv2/tiny-random-vision"])
def test_clip_style_pixels_are_resized_with_pil_as_in_the_published_runs(encoders, name):
    """transformers 4.57 (the published runs) builds these checkpoints' CLIP image processor
    on PIL; transformers 5 defaults to torchvision, whose bicubic resize differs (0.03 on
    normalised pixels). Odd sizes both ways round, so both resize directions count."""
    transform = encoders[name].image_transform
    processor = transform.image_processor
    size = processor.crop_size["height"]
    for image in (picture(3 * size + 1, 2 * size - 3, 0), picture(size // 2 + 3, size + 5, 1)):
        expected = _clip_pixels_with_pil(image, size, processor.image_mean, processor.image_std)
        torch.testing.assert_close(transform(image), expected, atol=1e-5, rtol=0)


def test_weights_are_loaded_in_fp32_whatever_dtype_the_file_stores(registry, encoders, tmp_path):
    """BGE-VL's Hub file is fp16 and transformers 5 loads a file's own dtype unless told;
    the published runs load fp32 on the CPU (fp16 only on a GPU), and mars-zoo's reduced
    precision is autocast over fp32 weights."""
    base = encoders["bge-vl/tiny-random"]
    base.model.to(torch.float16).save_pretrained(tmp_path / "half")
    base.model.to(torch.float32)
    loaded = dataclasses.replace(registry.get("bge-vl/tiny-random"), weights=str(tmp_path / "half")).load("cpu", "fp32")
    assert {parameter.dtype for parameter in loaded.model.parameters()} == {torch.float32}


def test_aimv2_lit_image_is_the_attention_pool_head_then_projector(encoders, images):
    encoder = encoders["aimv2/tiny-random"]
    pixels = encoder.image_transform(images[0])[None]
    vision = encoder.model.vision_model
    with torch.inference_mode():
        tokens = vision(pixel_values=pixels).last_hidden_state
        expected = encoder.model.visual_projection(vision.head(tokens))
        got = encoder.encode_image(pixels)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name, pooled", [
    ("aimv2/tiny-random-vision", lambda tokens: tokens.mean(dim=1)),
    ("dinov3/tiny-random", lambda tokens: tokens[:, 0]),
])
def test_vision_only_pooling(encoders, images, name, pooled):
    encoder = encoders[name]
    pixels = torch.stack([encoder.image_transform(image) for image in images])
    with torch.inference_mode():
        expected = pooled(encoder.model(pixel_values=pixels).last_hidden_state)
        got = encoder.encode_image(list(images))  # PIL images: the encoder applies its own transform
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["aimv2/tiny-random-vision", "dinov3/tiny-random"])
def test_image_only_models_refuse_text(encoders, name):
    with pytest.raises(MarsZooError, match="image-only"):
        encoders[name].encode_text(["a crater"])


def test_dinov3_processor_uses_imagenet_statistics(encoders):
    processor = encoders["dinov3/tiny-random"].image_transform.image_processor
    assert tuple(processor.image_mean) == (0.485, 0.456, 0.406)
    assert tuple(processor.image_std) == (0.229, 0.224, 0.225)


# Native name -> Apple's original name, written from Apple's layout (the inverse of the table).
_APPLE_NAMES = [
    (r"embeddings\.patch_embed", "preprocessor.patchifier.proj"),
    (r"embeddings\.position_embedding\.weight", "preprocessor.pos_embed"),
    (r"embeddings\.rms_norm\.weight", "preprocessor.patchifier.norm.weight"),
    (r"encoder\.layers\.(\d+)\.attention\.qkv", r"trunk.blocks.\1.attn.qkv"),
    (r"encoder\.layers\.(\d+)\.attention\.out_proj", r"trunk.blocks.\1.attn.proj"),
    (r"encoder\.layers\.(\d+)\.ffn\.gate_proj", r"trunk.blocks.\1.mlp.fc1"),
    (r"encoder\.layers\.(\d+)\.ffn\.down_proj", r"trunk.blocks.\1.mlp.fc2"),
    (r"encoder\.layers\.(\d+)\.ffn\.up_proj", r"trunk.blocks.\1.mlp.fc3"),
    (r"encoder\.layers\.(\d+)\.rms_norm1", r"trunk.blocks.\1.norm_1"),
    (r"encoder\.layers\.(\d+)\.rms_norm2", r"trunk.blocks.\1.norm_2"),
    (r"^(vision_model\.|text_model\.|)rms_norm", r"\1trunk.post_trunk_norm"),
    (r"^vision_model\.head\.k_proj", "image_encoder.head.k"),
    (r"^vision_model\.head\.v_proj", "image_encoder.head.v"),
    (r"^vision_model\.head\.output_proj", "image_encoder.head.linear"),
    (r"^vision_model\.head\.cls_token", "image_encoder.head.cls_token"),
    (r"^text_model\.embeddings\.token_embedding\.weight", "text_encoder.preprocessor.text_embedding.weight"),
    (r"^text_model\.preprocessor\.pos_embed", "text_encoder.preprocessor.positional_embedding"),
    (r"^vision_model\.", "image_encoder."),
    (r"^text_model\.", "text_encoder."),
    (r"^visual_projection", "image_projector"),
    (r"^text_projection", "text_projector"),
    (r"^logit_scale", "log_logit_scale"),
]


def _apple_layout(state):
    """A native state dict as Apple's checkpoints store it: fused qkv, [1, N, D] positions."""
    apple = {}
    for key, tensor in state.items():
        if ".q_proj." in key and ".head." not in key:
            tensor = torch.cat([tensor, state[key.replace("q_proj", "k_proj")], state[key.replace("q_proj", "v_proj")]])
            key = key.replace("q_proj", "qkv")
        elif (".k_proj." in key or ".v_proj." in key) and ".head." not in key:
            continue
        if key.endswith("position_embedding.weight"):
            tensor = tensor[None]
        for pattern, target in _APPLE_NAMES:
            key = re.sub(pattern, target, key)
        apple[key] = tensor.clone()
    return apple


def _apple_checkpoint(name, state, folder):
    """A copy of tiny model `name`'s folder whose weights are `state` in Apple's layout."""
    import shutil

    from safetensors.torch import save_file

    from mars_zoo.core.folders import default_cache_dir
    from mars_zoo.models.tiny import TINY_DIR

    built = next((default_cache_dir() / TINY_DIR).glob(name.replace("/", "--") + "-*"))
    shutil.copytree(built, folder)
    save_file(state, str(folder / "model.safetensors"))
    return str(folder)


@pytest.mark.parametrize("name", ["aimv2/tiny-random", "aimv2/tiny-random-vision"])
def test_aimv2_reads_apples_original_layout(registry, encoders, images, tmp_path, name):
    """The pinned AIMv2 revisions store Apple's keys: a checkpoint in that layout loads
    into the same model as its native twin."""
    native = encoders[name]
    apple = _apple_layout(native.model.state_dict())
    assert any(key.startswith(("trunk.blocks.0.attn.qkv", "image_encoder.trunk.blocks.0.attn.qkv")) for key in apple)
    folder = _apple_checkpoint(name, apple, tmp_path / "apple")
    loaded = dataclasses.replace(registry.get(name), weights=folder).load("cpu", "fp32")
    with torch.inference_mode():
        torch.testing.assert_close(loaded.encode_image(images), native.encode_image(images), atol=1e-6, rtol=0)
        if hasattr(native, "tokenizer"):
            torch.testing.assert_close(loaded.encode_text([CAPTION, LONGER]), native.encode_text([CAPTION, LONGER]),
                                       atol=1e-6, rtol=0)


def test_fine_tuned_weights_folder_is_loaded_instead_of_the_checkpoint(registry, encoders, images, tmp_path):
    spec = registry.get("dinov3/tiny-random")
    base = encoders["dinov3/tiny-random"]
    base.model.save_pretrained(tmp_path / "same")
    base.image_transform.image_processor.save_pretrained(tmp_path / "same")
    with torch.no_grad():
        changed = type(base.model).from_pretrained(tmp_path / "same")
        changed.norm.weight.mul_(2.0).add_(0.1)
    changed.save_pretrained(tmp_path / "other")  # the model alone: the processor comes from the checkpoint
    with torch.inference_mode():
        reference = base.encode_image(images)
        same = dataclasses.replace(spec, weights=str(tmp_path / "same")).load("cpu", "fp32").encode_image(images)
        other = dataclasses.replace(spec, weights=str(tmp_path / "other")).load("cpu", "fp32").encode_image(images)
    assert torch.equal(same, reference)
    assert (other - reference).abs().max() > 1e-3
    with pytest.raises(MarsZooError, match="save_pretrained"):
        dataclasses.replace(spec, weights=str(tmp_path / "missing")).load("cpu", "fp32")


def test_an_apple_layout_checkpoint_that_does_not_fit_its_config_is_named(registry, encoders, tmp_path):
    name = "aimv2/tiny-random-vision"
    apple = _apple_layout(encoders[name].model.state_dict())
    del apple["trunk.blocks.1.mlp.fc3.weight"]
    folder = _apple_checkpoint(name, apple, tmp_path / "apple")
    with pytest.raises(MarsZooError, match=r"Apple's original layout.*up_proj"):
        dataclasses.replace(registry.get(name), weights=folder).load("cpu", "fp32")
