"""VLM2Vec-V2.0's recipe (B3++ shares it) on the tiny models: the exact text it reads, its
pixels and positions, and its adapter (DoRA; LoRA for B3++), saved with the module names the
published adapters use, loaded as the published sequence loads it: once, onto the base model its
adapter_config.json names, at the base commit the spec resolves in the run's cache.

The published code itself runs in benchmarks/parity_published.py (--families vlm2vec); here the
expectations are computed independently: the merged weights by the LoRA and DoRA formulas from
the files, the positions, grids and pixels by hand."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mars_zoo import RESOLVE_AT_FIRST_USE, MarsZooError
from mars_zoo_mllm import vlm2vec

from hub_cache import cache_model
from mllm_support import IMAGES, TEXTS, picture, received, registry, tiny_adapter_copy, tiny_encoder

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


@pytest.mark.parametrize("width, height, grid", [(20, 40, [1, 4, 4]), (27, 300, [1, 4, 4]), (28, 300, [1, 22, 2])])
def test_an_image_with_a_side_under_28_px_is_resized_to_56_first(width, height, grid):
    """As VLM2Vec's Qwen2_VL_process_fn does; without the rule the processor would keep the
    aspect ratio (20x40 -> 28x56 px: a 2x4 grid)."""
    vlm = encoder()
    inputs = vlm.inputs([vlm.image_prompt()], [vlm.prepare_image(picture(width, height, 0))])
    assert inputs["image_grid_thw"].tolist() == [grid]


def test_pixels_come_from_pils_bicubic_resize():
    """VLM2Vec's image processor is transformers' PIL-based Qwen2-VL one: the values the model
    receives are those of PIL's bicubic resize to the processor's size, normalised with the CLIP
    mean and std (each twice: two temporal frames), in patch order."""
    vlm = encoder()
    image = picture(97, 131, 3)
    inputs = vlm.inputs([vlm.image_prompt()], [vlm.prepare_image(image)])
    t, h, w = inputs["image_grid_thw"][0].tolist()
    resized = np.asarray(image.resize((w * 14, h * 14), Image.Resampling.BICUBIC), dtype=np.float64) / 255
    mean, std = np.array([0.48145466, 0.4578275, 0.40821073]), np.array([0.26862954, 0.26130258, 0.27577711])
    expected = np.sort(np.repeat(((resized - mean) / std).ravel(), 2))
    got = np.sort(inputs["pixel_values"].double().numpy().ravel())
    assert np.abs(got - expected).max() < 1e-5


def test_every_token_sits_at_a_sequential_position_images_included():
    """VLM2Vec's forward gives the bare-token image prompt positions 0..L-1 on all three rotary
    axes (its rope index looks for <|vision_start|>), not Qwen2-VL's 2-D image positions."""
    vlm = encoder()
    inputs = vlm.inputs([vlm.image_prompt()] * 2, [IMAGES[0], IMAGES[0]])
    _, seen = received(vlm.model.model.language_model, lambda: vlm.embed([vlm.image_prompt()] * 2, [IMAGES[0]] * 2))
    length = inputs["input_ids"].shape[1]
    expected = torch.arange(length).expand(3, 2, length)
    assert torch.equal(seen[0]["position_ids"], expected)


BASE_REPO, BASE_COMMIT, OTHER_COMMIT = "tiny-org/qwen2-vl-base", "b" * 40, "c" * 40
ADAPTER_COMMIT = "a" * 40


def _adapter_repo(name):
    return f"tiny-org/{name.partition('/')[0]}-adapter"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """An offline Hugging Face cache holding BASE_REPO (the tiny Qwen2-VL, saved in fp16, its
    config's norm epsilon changed; at OTHER_COMMIT every weight moved by 0.05) and, for each tiny
    adapter model, an adapter repository as VLM2Vec publishes them: the adapter (module names
    of the published adapters), config and processor files, an adapter_config.json naming
    BASE_REPO, and here also full weights of another model, which the published sequence never
    reads."""
    from huggingface_hub import constants
    from transformers import Qwen2VLForConditionalGeneration

    from mars_zoo.core.folders import default_cache_dir

    hub, work = tmp_path_factory.mktemp("hf-hub"), tmp_path_factory.mktemp("repos")
    tinies = [registry().get(name).loader.tiny for name in ADAPTERS]
    folders = [t.folder(default_cache_dir()) for t in tinies]
    base_folder = Path(json.loads((folders[0] / "adapter_config.json").read_text())["base_model_name_or_path"])
    base = Qwen2VLForConditionalGeneration.from_pretrained(base_folder, dtype=torch.float32)
    base.half().save_pretrained(work / "base")
    config = json.loads((work / "base" / "config.json").read_text())
    config["text_config"]["rms_norm_eps"] = 1e-2
    (work / "base" / "config.json").write_text(json.dumps(config))
    for parameter in base.parameters():
        parameter.data += 0.05
    base.save_pretrained(work / "other")
    cache_model(hub, BASE_REPO, OTHER_COMMIT, {p.name: p for p in (work / "other").iterdir()})
    cache_model(hub, BASE_REPO, BASE_COMMIT, {p.name: p for p in (work / "base").iterdir()})  # main
    for name, folder in zip(ADAPTERS, folders):
        (work / name).mkdir(parents=True)
        adapter_config = json.loads((folder / "adapter_config.json").read_text())
        adapter_config["base_model_name_or_path"] = BASE_REPO
        config = json.loads((folder / "config.json").read_text())
        config["dtype"] = "float16"  # as its base's files are
        for file, content in (("adapter_config.json", adapter_config), ("config.json", config)):
            (work / name / file).write_text(json.dumps(content))
        files = {p.name: p for p in folder.iterdir()}
        files.update({p.name: p for p in (work / name).iterdir()})
        files["model.safetensors"] = work / "other" / "model.safetensors"
        cache_model(hub, _adapter_repo(name), ADAPTER_COMMIT, files)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(constants, "HF_HUB_CACHE", str(hub))
        yield hub


# The published adapters' module names -> transformers 5's (written out here, not imported).
PUBLISHED_NAMES = {"model.layers.": "model.language_model.layers."}


def _merged_by_hand(base_state, adapter_file, config):
    """The base's weights with the adapter applied once, by the formulas: LoRA W + s·B·A;
    DoRA m·V/‖V‖ per output row with V = W + s·B·A (s = lora_alpha / r)."""
    from safetensors.torch import load_file

    tensors = load_file(adapter_file)
    scale = config["lora_alpha"] / config["r"]
    merged = {key: value.clone() for key, value in base_state.items()}
    modules = {key.removeprefix("base_model.model.").rpartition(".lora_")[0] for key in tensors}
    assert len(modules) == 14  # 2 layers x 7 linears: every adapter tensor is used
    for module in modules:
        name = module
        for old, new in PUBLISHED_NAMES.items():
            name = name.replace(old, new)
        prefix = f"base_model.model.{module}"
        a, b = (tensors[f"{prefix}.lora_{x}.weight"].float() for x in "AB")
        weight = merged[f"{name}.weight"] + scale * b @ a
        if config["use_dora"]:
            magnitude = tensors[f"{prefix}.lora_magnitude_vector"].float()
            weight = magnitude[:, None] * weight / weight.norm(dim=1, keepdim=True)
        merged[f"{name}.weight"] = weight
    return merged


@pytest.mark.parametrize("name", ADAPTERS)
def test_the_adapter_is_applied_once_onto_the_base_its_config_names(name, hub, tmp_path):
    """Not twice, not onto the weights beside it, with the adapter repository's config."""
    from huggingface_hub import snapshot_download
    from transformers import Qwen2VLForConditionalGeneration

    from mars_zoo_mllm.loading import load_model

    vlm = tiny_encoder(name)
    model = load_model(vlm.recipe, _adapter_repo(name), ADAPTER_COMMIT, torch.float32, adapter=True,
                       cache_dir=tmp_path, base=(BASE_REPO, BASE_COMMIT))
    ours = model.state_dict()
    base = Qwen2VLForConditionalGeneration.from_pretrained(BASE_REPO, revision=BASE_COMMIT, dtype=torch.float32)
    folder = Path(snapshot_download(_adapter_repo(name), revision=ADAPTER_COMMIT))
    config = json.loads((folder / "adapter_config.json").read_text())
    once = _merged_by_hand(base.state_dict(), folder / "adapter_model.safetensors", config)
    twice = _merged_by_hand(once, folder / "adapter_model.safetensors", config)
    assert set(ours) == set(once)
    assert max((ours[key] - once[key]).abs().max().item() for key in once) < 1e-6
    assert max((ours[key] - twice[key]).abs().max().item() for key in once) > 1e-2  # the guard can fail
    assert max((ours[key] - base.state_dict()[key]).abs().max().item() for key in once) > 1e-2
    # built with the adapter repository's config, not the base's (whose epsilon says 1e-2)
    adapter_eps = json.loads((folder / "config.json").read_text())["text_config"]["rms_norm_eps"]
    assert base.config.text_config.rms_norm_eps == 1e-2 != adapter_eps == model.config.text_config.rms_norm_eps


def test_adapters_named_as_transformers_5_names_modules_load_the_same(tmp_path):
    """The renames touch only the published names: an adapter saved by transformers 5's class
    (same seed) gives the same weights."""
    from mars_zoo.core.folders import default_cache_dir
    from mars_zoo_mllm import qwen2vl
    from mars_zoo_mllm.loading import load_model

    base = registry().get("vlm2vec/tiny-random").loader.tiny.base.folder(default_cache_dir())
    qwen2vl.build_tiny(tmp_path / "new-names", seed=0, adapter="dora", base=base, legacy_names=False)
    published = tiny_adapter_copy("vlm2vec/tiny-random", tmp_path / "published-names")
    ours, theirs = (load_model(vlm2vec.RECIPE, str(folder), None, torch.float32, adapter=True, cache_dir=tmp_path)
                    .state_dict() for folder in (tmp_path / "new-names", published))
    assert max((ours[key] - theirs[key]).abs().max().item() for key in ours) == 0.0


def test_an_adapter_whose_tensors_find_no_module_is_refused(tmp_path):
    """peft only warns, and the adapter would stay at its initial values (no adapter at all)."""
    from mars_zoo_mllm.loading import load_model

    folder = tiny_adapter_copy("vlm2vec/tiny-random", tmp_path / "adapter",
                               lambda key: key.replace(".layers.", ".blocks."))
    with pytest.raises(ValueError, match="does not fit the modules of Qwen2VLForConditionalGeneration"):
        load_model(vlm2vec.RECIPE, str(folder), None, torch.float32, adapter=True, cache_dir=tmp_path)


def _spec(name="vlm2vec/vlm2vec-v2.0", **fields):
    import dataclasses

    return dataclasses.replace(registry().get(name), checkpoint=_adapter_repo(ADAPTERS[0]), revision=ADAPTER_COMMIT,
                               **{"base_repo": BASE_REPO, **fields})


def test_the_base_commit_is_resolved_in_the_runs_cache_and_keys_the_embeddings(hub, tmp_path):
    from mars_zoo.embedding.embed import EmbedOptions, entry_identity
    from mars_zoo.core.folders import default_cache_dir
    from mars_zoo.models.model_revisions import MODEL_REVISIONS_FILE, resolve_model_revision

    spec = resolve_model_revision(_spec(base_revision=RESOLVE_AT_FIRST_USE), tmp_path / "cache")
    assert spec.base_revision == BASE_COMMIT
    assert json.loads((tmp_path / "cache" / MODEL_REVISIONS_FILE).read_text())[BASE_REPO] == BASE_COMMIT
    assert not (default_cache_dir() / MODEL_REVISIONS_FILE).exists()
    keys = [entry_identity(_spec(base_revision=commit), "code", EmbedOptions(), "text", ["a"])
            for commit in (BASE_COMMIT, OTHER_COMMIT)]
    assert keys[0] != keys[1] and keys[0]["base"] == [BASE_REPO, BASE_COMMIT]
    plain = registry().get("gme/tiny-random")
    assert "base" not in entry_identity(plain, "code", EmbedOptions(), "text", ["a"])


def test_the_loader_loads_the_base_at_the_commit_the_spec_names(hub):
    first, other = (_spec(base_revision=commit).load("cpu", "fp32") for commit in (BASE_COMMIT, OTHER_COMMIT))
    assert (first.encode_text(TEXTS) - other.encode_text(TEXTS)).abs().max() > 1e-2


def test_an_adapter_naming_another_base_than_the_spec_declares_is_refused(hub):
    with pytest.raises(MarsZooError, match="names the base model tiny-org/qwen2-vl-base, not acme/other-base"):
        _spec(base_repo="acme/other-base", base_revision=BASE_COMMIT).load("cpu", "fp32")


@pytest.mark.parametrize("source, adapter", [(BASE_REPO, False), (_adapter_repo(ADAPTERS[0]), True)])
def test_weights_load_in_the_dtype_asked_not_the_files(source, adapter, hub, tmp_path):
    """The base is saved in fp16; transformers 5 would load it so unless told otherwise."""
    from mars_zoo_mllm.loading import load_model

    revision = ADAPTER_COMMIT if adapter else BASE_COMMIT
    model = load_model(vlm2vec.RECIPE, source, revision, torch.float32, adapter=adapter, cache_dir=tmp_path,
                       base=(BASE_REPO, BASE_COMMIT))
    assert {p.dtype for p in model.parameters()} == {torch.float32}
