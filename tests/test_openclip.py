"""The built-in OpenCLIP family, up to the download boundary.

Real weights cannot be downloaded here, so: each model's declared metadata is
checked against its real architecture (built on the meta device, no memory, no
weights); loading is followed until huggingface_hub is asked for files, where the
tests record the repository, file and revision asked for and check the error users
get offline; and a fake Hub repository of the tiny architecture is served to the real
loading code, which must give the tiny model's exact embeddings.
"""

import dataclasses
import json

import pytest

import mars_zoo
from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.registry import load_registry

# model -> (open_clip architecture of its checkpoint, image size, Hub repo of its weights)
ARCHITECTURES = {
    "openclip/dfn2b-clip-vit-l-14": ("ViT-L-14-quickgelu", 224, "apple/DFN2B-CLIP-ViT-L-14"),
    "openclip/vit-l-16-siglip-384": ("ViT-L-16-SigLIP-384", 384, "timm/ViT-L-16-SigLIP-384"),
    "openclip/vit-l-16-siglip2-512": ("ViT-L-16-SigLIP2-512", 512, "timm/ViT-L-16-SigLIP2-512"),
    "openclip/pe-core-l-14-336": ("PE-Core-L-14-336", 336, "timm/PE-Core-L-14-336"),
    # MarScope: ViT-L-14-quickgelu fine-tuned at 512 px (its config lives in its Hub repo)
    "openclip/marscope-v1": ("ViT-L-14-quickgelu", 512, "claytonwang/MarsScope-v1"),
}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_checkpoints_are_the_published_ids(registry):
    checkpoints = {spec.name: spec.checkpoint for spec in registry if spec.family == "openclip"}
    assert checkpoints["openclip/dfn2b-clip-vit-l-14"] == "ViT-L-14-quickgelu@dfn2b"
    assert checkpoints["openclip/vit-l-16-siglip-384"] == "hf-hub:timm/ViT-L-16-SigLIP-384"
    assert checkpoints["openclip/vit-l-16-siglip2-512"] == "hf-hub:timm/ViT-L-16-SigLIP2-512"
    assert checkpoints["openclip/pe-core-l-14-336"] == "hf-hub:timm/PE-Core-L-14-336"
    assert checkpoints["openclip/marscope-v1"] == "hf-hub:claytonwang/MarsScope-v1"


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_declared_metadata_matches_the_architecture(registry, name):
    import open_clip
    import torch

    architecture, image_size, _ = ARCHITECTURES[name]
    spec = registry.get(name)
    with torch.device("meta"):
        model = open_clip.create_model(
            architecture, pretrained=None, device="meta", force_image_size=image_size, pretrained_text=False
        )
    assert sum(p.numel() for p in model.parameters()) == spec.parameters
    assert open_clip.get_model_config(architecture)["embed_dim"] == spec.embedding_dim
    assert spec.image_size == image_size


def test_dfn2b_tag_resolves_to_its_hub_weights():
    from open_clip.pretrained import get_pretrained_cfg

    assert get_pretrained_cfg("ViT-L-14-quickgelu", "dfn2b")["hf_hub"].rstrip("/") == ARCHITECTURES[
        "openclip/dfn2b-clip-vit-l-14"
    ][2]


REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_paper_model_pins_its_weights_repository(registry, name):
    spec = registry.get(name)
    assert spec.repository == ARCHITECTURES[name][2]
    # no public source pins these repositories: resolved at first use and recorded
    assert spec.revision == mars_zoo.RESOLVE_AT_FIRST_USE


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_loading_asks_for_the_files_at_the_revision_and_fails_clearly_offline(registry, name, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    asked = []

    def offline(repo_id, filename, *, revision=None, **kwargs):
        asked.append((repo_id, filename, revision))
        raise LocalEntryNotFoundError(f"{filename} is not cached")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    spec = dataclasses.replace(registry.get(name), revision=REVISION)
    with pytest.raises(MarsZooError) as error:
        spec.load("cpu", "fp32")
    repo = ARCHITECTURES[name][2]
    if spec.checkpoint.startswith("hf-hub:"):  # the config comes first, at the same revision
        assert asked == [(repo, "open_clip_config.json", REVISION)]
    else:
        assert asked == [(repo, "open_clip_model.safetensors", REVISION), (repo, "open_clip_pytorch_model.bin", REVISION)]
    message = " ".join(str(error.value).split())
    assert name in message and REVISION in message and repo in message
    assert "unset HF_HUB_OFFLINE" in message and "copy the Hugging Face cache" in message


@pytest.fixture(scope="module")
def tiny_repo(registry, tmp_path_factory):
    """A fake Hub repository holding the tiny architecture at REVISION, laid out as
    huggingface_hub's cache lays out a snapshot: its open_clip_config.json and weights."""
    import torch
    from safetensors.torch import save_file

    from mars_zoo_openclip.encoder import TINY_CONFIG

    baseline = registry.get("openclip/tiny-random").load("cpu", "fp32")
    snapshot = tmp_path_factory.mktemp("hub") / "snapshots" / REVISION
    snapshot.mkdir(parents=True)
    config = {"model_cfg": json.loads(TINY_CONFIG.read_text()), "preprocess_cfg": {}}
    (snapshot / "open_clip_config.json").write_text(json.dumps(config))
    state = {key: value.contiguous() for key, value in baseline.model.state_dict().items()}
    save_file(state, str(snapshot / "open_clip_model.safetensors"))
    torch.save(state, snapshot / "open_clip_pytorch_model.bin")
    return snapshot, baseline


def _serve(monkeypatch, snapshot, present):
    """Point huggingface_hub.hf_hub_download at `snapshot`; files not in `present` are
    missing from the repository. Returns the list of requests."""
    import httpx2 as httpx  # the HTTP client huggingface_hub uses
    import huggingface_hub
    from huggingface_hub.errors import RemoteEntryNotFoundError

    asked = []

    def download(repo_id, filename, *, revision=None, **kwargs):
        asked.append((repo_id, filename, revision))
        if revision != REVISION or filename not in present:
            response = httpx.Response(404, request=httpx.Request("GET", f"https://hub.test/{repo_id}/{filename}"))
            raise RemoteEntryNotFoundError(f"{filename} not found", response=response)
        return str(snapshot / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    return asked


def _same_embeddings(a, b):
    import torch
    from PIL import Image

    image = Image.new("RGB", (80, 60), (120, 60, 30))
    with torch.inference_mode():
        texts = ["a crater", "dunes on Mars"]
        return torch.equal(a.encode_text(texts), b.encode_text(texts)) and torch.equal(
            a.encode_image([image]), b.encode_image([image]))


def _tiny_spec(registry, checkpoint, hub_repo):
    return dataclasses.replace(registry.get("openclip/tiny-random"), name="openclip/tiny-hub", checkpoint=checkpoint,
                               hub_repo=hub_repo, revision=REVISION, random_weights=False)


def test_hf_hub_checkpoint_loads_config_and_weights_at_the_revision(registry, tiny_repo, monkeypatch):
    snapshot, baseline = tiny_repo
    asked = _serve(monkeypatch, snapshot, {"open_clip_config.json", "open_clip_model.safetensors"})
    encoder = _tiny_spec(registry, "hf-hub:acme/tiny-clip", "acme/tiny-clip").load("cpu", "fp32")
    assert asked == [("acme/tiny-clip", "open_clip_config.json", REVISION),
                     ("acme/tiny-clip", "open_clip_model.safetensors", REVISION)]
    assert _same_embeddings(encoder, baseline)


def test_pretrained_tag_loads_the_tag_weights_at_the_revision(registry, tiny_repo, monkeypatch):
    import open_clip.pretrained

    from mars_zoo_openclip.encoder import TINY_ARCHITECTURE

    snapshot, baseline = tiny_repo
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, TINY_ARCHITECTURE,
                        {"fake": {"hf_hub": "acme/tiny-tag/", "quick_gelu": False}})
    asked = _serve(monkeypatch, snapshot, {"open_clip_pytorch_model.bin"})  # no safetensors: the .bin
    encoder = _tiny_spec(registry, f"{TINY_ARCHITECTURE}@fake", "acme/tiny-tag").load("cpu", "fp32")
    assert asked == [("acme/tiny-tag", "open_clip_model.safetensors", REVISION),
                     ("acme/tiny-tag", "open_clip_pytorch_model.bin", REVISION)]
    assert _same_embeddings(encoder, baseline)


def test_tiny_random_is_seeded_offline_and_matches_its_metadata(registry):
    import torch

    spec = registry.get("openclip/tiny-random")
    first, second = spec.load("cpu", "fp32"), spec.load("cpu", "fp32")
    assert first.parameter_count() == spec.parameters < 5_000_000
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    with torch.inference_mode():
        text = first.encode_text(["a crater", "a dune field"])
    assert text.shape == (2, spec.embedding_dim)
    assert "RANDOM-WEIGHT BASELINE" in spec.description


@pytest.mark.parametrize("tokenizer_repo, revision", [("acme/tiny-clip", REVISION), ("acme/other-tokenizer", None)])
def test_a_hub_tokenizer_in_the_checkpoint_repository_is_read_at_its_revision(
        registry, tiny_repo, monkeypatch, tmp_path, tokenizer_repo, revision):
    """SigLIP-style configs name a Hugging Face tokenizer; kept in the same repository it is
    pinned with the weights (a tokenizer in another repository has no pin of its own)."""
    import open_clip.tokenizer

    snapshot, _ = tiny_repo
    pinned = tmp_path / "snapshots" / REVISION
    pinned.mkdir(parents=True)
    config = json.loads((snapshot / "open_clip_config.json").read_text())
    config["model_cfg"]["text_cfg"].update(hf_tokenizer_name=tokenizer_repo, context_length=64,
                                          tokenizer_kwargs={"clean": "canonicalize"})
    (pinned / "open_clip_config.json").write_text(json.dumps(config))
    (pinned / "open_clip_model.safetensors").symlink_to(snapshot / "open_clip_model.safetensors")
    _serve(monkeypatch, pinned, {"open_clip_config.json", "open_clip_model.safetensors"})
    made = []

    class RecordingTokenizer:
        def __init__(self, name, **kwargs):
            made.append((name, kwargs))

    monkeypatch.setattr(open_clip.tokenizer, "HFTokenizer", RecordingTokenizer)
    encoder = _tiny_spec(registry, "hf-hub:acme/tiny-clip", "acme/tiny-clip").load("cpu", "fp32")
    assert isinstance(encoder.tokenizer, RecordingTokenizer)
    assert made == [(tokenizer_repo, {"context_length": 64, "tokenizer_mode": None, "revision": revision,
                                      "clean": "canonicalize"})]
