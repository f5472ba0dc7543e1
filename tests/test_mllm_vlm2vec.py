"""VLM2Vec-V2.0's recipe (B3++ shares it) on the tiny models: the exact text it
reads, its pixel limits, and its adapter (DoRA; LoRA for B3++) loaded as the published
sequence loads it (VLM2Vec's MMEBModel.load, run here literally on tiny repositories in an
offline Hugging Face cache): once, onto the base model its adapter_config.json names."""

import json
from pathlib import Path

import pytest
import torch

from mars_zoo_mllm import vlm2vec

from hub_cache import cache_model
from mllm_support import IMAGES, TEXTS, picture, registry, tiny_encoder

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


BASE_REPO, BASE_COMMIT = "tiny-org/qwen2-vl-base", "b" * 40
ADAPTER_COMMIT = "a" * 40


def _adapter_repo(name):
    return f"tiny-org/{name.partition('/')[0]}-adapter"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """An offline Hugging Face cache holding BASE_REPO (the tiny Qwen2-VL, saved in fp16,
    its config's norm epsilon changed) and, for each tiny adapter model, an adapter
    repository as VLM2Vec publishes them: the adapter, config and processor files, an
    adapter_config.json naming BASE_REPO, and here also full weights of another model. The
    published sequence builds the base from the adapter repository's config and never reads
    those weights."""
    from huggingface_hub import constants
    from transformers import Qwen2VLForConditionalGeneration

    from mars_zoo.folders import default_cache_dir

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
    cache_model(hub, BASE_REPO, BASE_COMMIT, {p.name: p for p in (work / "base").iterdir()})
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


def _published(repo):
    """VLM2Vec's MMEBModel.load as MarsRetrieval calls it (lora=True; is_trainable left at
    its default True, so the adapter stays unmerged), run literally on the transformers and
    peft installed here, with the dtype mars-zoo uses on the CPU where it passes bf16."""
    from peft import LoraConfig, PeftModel
    from transformers import AutoConfig, Qwen2VLForConditionalGeneration

    config = AutoConfig.from_pretrained(repo)
    base_model = Qwen2VLForConditionalGeneration.from_pretrained(repo, dtype=torch.float32, config=config)
    lora_config = LoraConfig.from_pretrained(repo)
    lora_model = PeftModel.from_pretrained(base_model, repo, config=lora_config, is_trainable=True)
    lora_model.load_adapter(repo, lora_model.active_adapter, is_trainable=True)
    return lora_model.eval()


def _last_token(model, inputs):
    """VLM2Vec's last-token pooling (right padding): the final hidden state at the last
    attended position."""
    with torch.no_grad():
        hidden = model(**inputs, output_hidden_states=True, return_dict=True).hidden_states[-1]
    return hidden[torch.arange(hidden.shape[0]), inputs["attention_mask"].sum(dim=1) - 1]


@pytest.mark.filterwarnings("ignore:Already found a `peft_config`")  # the published sequence's own
@pytest.mark.parametrize("name", ADAPTERS)
def test_the_adapter_loads_as_the_published_sequence_loads_it(name, hub, tmp_path):
    """Once, onto the base its adapter_config.json names (not onto weights beside it)."""
    from peft import PeftModel
    from transformers import Qwen2VLForConditionalGeneration

    from mars_zoo_mllm.loading import load_model

    vlm = tiny_encoder(name)
    batches = [vlm.inputs(vlm.text_prompts(TEXTS)), vlm.inputs([vlm.image_prompt()] * 2, IMAGES[:1] * 2)]
    ours = load_model(vlm.recipe, _adapter_repo(name), ADAPTER_COMMIT, torch.float32, adapter=True,
                      cache_dir=tmp_path).eval()
    published = _published(_adapter_repo(name))
    base = Qwen2VLForConditionalGeneration.from_pretrained(BASE_REPO, revision=BASE_COMMIT, dtype=torch.float32).eval()
    twice = PeftModel.from_pretrained(base, _adapter_repo(name), revision=ADAPTER_COMMIT).merge_and_unload()
    twice = PeftModel.from_pretrained(twice, _adapter_repo(name), revision=ADAPTER_COMMIT).merge_and_unload()
    for inputs in batches:
        expected = _last_token(published, inputs)
        torch.testing.assert_close(_last_token(ours, inputs), expected, atol=1e-5, rtol=0)
        assert (_last_token(twice, inputs) - expected).abs().max() > 0.1  # the guards can fail
    base = Qwen2VLForConditionalGeneration.from_pretrained(BASE_REPO, revision=BASE_COMMIT, dtype=torch.float32).eval()
    assert (_last_token(base, batches[0]) - _last_token(published, batches[0])).abs().max() > 0.1


def test_the_base_revision_is_resolved_at_first_use_and_recorded(hub, tmp_path):
    from mars_zoo.model_revisions import MODEL_REVISIONS_FILE
    from mars_zoo_mllm.loading import load_model

    load_model(vlm2vec.RECIPE, _adapter_repo(ADAPTERS[0]), ADAPTER_COMMIT, torch.float32, adapter=True,
               cache_dir=tmp_path)
    recorded = json.loads((tmp_path / MODEL_REVISIONS_FILE).read_text())
    assert recorded[BASE_REPO] == BASE_COMMIT


@pytest.mark.parametrize("source, adapter", [(BASE_REPO, False), (_adapter_repo(ADAPTERS[0]), True)])
def test_weights_load_in_the_dtype_asked_not_the_files(source, adapter, hub, tmp_path):
    """The base is saved in fp16; transformers 5 would load it so unless told otherwise."""
    from mars_zoo_mllm.loading import load_model

    revision = ADAPTER_COMMIT if adapter else BASE_COMMIT
    model = load_model(vlm2vec.RECIPE, source, revision, torch.float32, adapter=adapter, cache_dir=tmp_path)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
