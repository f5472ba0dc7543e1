"""The built-in OpenCLIP family, up to the download boundary.

Real weights cannot be downloaded here, so: each model's declared metadata is
checked against its real architecture (built on the meta device, no memory, no
weights), and loading is followed until open_clip asks the Hub for files, where
the test records which repository it asked for and checks the error users get.
"""

import pytest

from mars_zoo.errors import MarsZooError
from mars_zoo.registry import load_registry

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


@pytest.mark.parametrize(
    "name", ["openclip/vit-l-16-siglip2-512", "openclip/marscope-v1", "openclip/pe-core-l-14-336"]
)
def test_loading_asks_the_hub_for_the_right_repo_and_fails_clearly_offline(registry, name, monkeypatch):
    import open_clip.factory
    import open_clip.pretrained

    asked = []

    def offline_download(repo_id, filename, *args, **kwargs):
        asked.append(repo_id)
        raise OSError(f"offline: cannot fetch {filename} from {repo_id}")

    monkeypatch.setattr(open_clip.pretrained, "hf_hub_download", offline_download)
    monkeypatch.setattr(open_clip.factory, "download_pretrained_from_hf",
                        lambda repo, filename="", **kw: offline_download(repo, filename), raising=False)
    with pytest.raises(MarsZooError) as error:
        registry.get(name).load("cpu", "fp32")
    assert asked and set(asked) == {ARCHITECTURES[name][2]}
    message = str(error.value)
    assert name in message and registry.get(name).checkpoint in message and "HF_HUB_OFFLINE" in message


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
