"""Weights declared by URL and sha256 (`ModelSpec.url_weights`), as open_clip's pretrained table
declares many: downloaded once into the mars-zoo cache, checked, reused, and named by their sha256
in the result, the embedding cache and the leaderboard.

The weights are those of the tiny OpenCLIP architecture, perturbed so that they differ from its
seeded random initialisation, served by a local HTTP server on 127.0.0.1 (or read from a file://
URL) to the real OpenCLIP loader.
"""

import dataclasses
import hashlib
import json
import textwrap

import pytest

from local_servers import Answer, local_server
from mars_zoo import UrlWeights
from mars_zoo.cli import main
from mars_zoo.core.errors import MarsZooError
from mars_zoo.leaderboard.build import build_site
from mars_zoo.models.registry import load_registry
from mars_zoo.results.validation import validate_file
from mars_zoo.models.url_weights import with_weights_file

FILE = "tiny-clip.safetensors"  # the extension tells open_clip how to read it: the cache keeps the name
ROUTE = f"/releases/{FILE}"
TEXTS = ["a crater", "dunes on Mars"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny OpenCLIP checkpoint file, its bytes and sha256, and the state_dict it holds."""
    import torch
    from safetensors.torch import save_file

    tiny = load_registry().get("openclip/tiny-random").load("cpu", "fp32")
    generator = torch.Generator().manual_seed(7)
    state = {key: (value + 0.05 * torch.randn(value.shape, generator=generator) if value.is_floating_point()
                   else value).contiguous() for key, value in tiny.model.state_dict().items()}
    path = tmp_path_factory.mktemp("release") / FILE
    save_file(state, str(path))
    data = path.read_bytes()
    return path, data, hashlib.sha256(data).hexdigest(), state


@pytest.fixture
def server(checkpoint):
    with local_server() as served:
        served.routes[ROUTE] = Answer(checkpoint[1])
        yield served


def _url_spec(url: str, sha256: str):
    from mars_zoo_openclip.encoder import TINY_ARCHITECTURE

    tiny = load_registry().get("openclip/tiny-random")
    return dataclasses.replace(tiny, name="openclip/tiny-url", checkpoint=TINY_ARCHITECTURE, random_weights=False,
                               url_weights=UrlWeights(url, sha256))


def _expected_text_embeddings(state):
    """The state_dict's text embeddings, computed with open_clip alone."""
    import open_clip
    import torch

    from mars_zoo_openclip.encoder import TINY_ARCHITECTURE, TINY_CONFIG

    open_clip.add_model_config(TINY_CONFIG)
    model = open_clip.create_model(TINY_ARCHITECTURE, pretrained=None).eval()
    model.load_state_dict(state)
    with torch.inference_mode():
        return model.encode_text(open_clip.get_tokenizer(TINY_ARCHITECTURE)(TEXTS))


def _text_embeddings(encoder):
    import torch

    with torch.inference_mode():
        return encoder.encode_text(TEXTS)


def test_weights_by_url_are_downloaded_once_checked_and_loaded(checkpoint, server, tmp_path):
    import torch

    _, data, sha256, state = checkpoint
    spec = with_weights_file(_url_spec(server.url + ROUTE, sha256), tmp_path / "cache")
    first = spec.load("cpu", "fp32")
    second = spec.load("cpu", "fp32")
    assert server.requests == [ROUTE]  # the second load reused the cached file
    cached = tmp_path / "cache" / "weights" / sha256 / FILE
    assert cached.read_bytes() == data and spec.weights_file == str(cached)
    assert [p.name for p in cached.parent.iterdir()] == [FILE]  # no temporary left
    expected = _expected_text_embeddings(state)
    assert torch.equal(_text_embeddings(first), expected) and torch.equal(_text_embeddings(second), expected)


def test_a_file_url_is_copied_into_the_cache_and_loaded(checkpoint, tmp_path):
    import torch

    path, data, sha256, state = checkpoint
    spec = with_weights_file(_url_spec(path.as_uri(), sha256), tmp_path / "cache")
    encoder = spec.load("cpu", "fp32")
    assert (tmp_path / "cache" / "weights" / sha256 / FILE).read_bytes() == data
    assert torch.equal(_text_embeddings(encoder), _expected_text_embeddings(state))


def test_a_file_of_other_bytes_is_refused_and_deleted(checkpoint, server, tmp_path):
    _, data, sha256, _ = checkpoint
    altered = data[:-1] + bytes([data[-1] ^ 1])
    server.routes[ROUTE] = Answer(altered)
    url = server.url + ROUTE
    spec = with_weights_file(_url_spec(url, sha256), tmp_path / "cache")
    with pytest.raises(MarsZooError) as error:
        spec.load("cpu", "fp32")
    message = " ".join(str(error.value).split())
    assert url in message and sha256 in message and hashlib.sha256(altered).hexdigest() in message
    assert "The download was deleted, not loaded" in message
    assert list((tmp_path / "cache" / "weights" / sha256).iterdir()) == []  # neither the file nor a temporary


def test_a_damaged_cached_copy_is_downloaded_again(checkpoint, server, tmp_path):
    _, data, sha256, _ = checkpoint
    spec = with_weights_file(_url_spec(server.url + ROUTE, sha256), tmp_path / "cache")
    spec.load("cpu", "fp32")
    cached = tmp_path / "cache" / "weights" / sha256 / FILE
    cached.write_bytes(data[: len(data) // 2])
    spec.load("cpu", "fp32")
    assert server.requests == [ROUTE, ROUTE]
    assert cached.read_bytes() == data


def test_url_weights_name_the_revision_and_key_the_embedding_cache(checkpoint, tmp_path):
    from mars_zoo.models.weights import with_own_weights

    path, _, sha256, _ = checkpoint
    spec = _url_spec("https://example.org/" + FILE, sha256)
    assert spec.evaluated_revision == sha256 and spec.revision is None and spec.repository is None
    other = dataclasses.replace(spec, url_weights=UrlWeights(spec.url_weights.url, "0" * 64))
    assert other.evaluated_revision != spec.evaluated_revision  # other weights, other cache entries
    own = with_own_weights(spec, path)  # fine-tuned from the URL weights
    assert own.evaluated_revision == hashlib.sha256(path.read_bytes()).hexdigest()
    assert own.metadata()["weights"]["base_revision"] == sha256


PLUGIN = """
    import mars_zoo
    from mars_zoo_openclip import _load
    from mars_zoo_openclip.encoder import TINY_ARCHITECTURE

    @mars_zoo.hookimpl
    def register_models(register):
        register(mars_zoo.ModelSpec(
            name="acme/tiny-url", family="acme", checkpoint=TINY_ARCHITECTURE, loader=_load,
            url_weights=mars_zoo.UrlWeights({url!r}, {sha256!r}), embedding_dim=64, parameters=3_425_857,
            license="apache-2.0", image_size=64, batch_size=32))
"""


def test_a_run_records_url_and_sha256_and_the_leaderboard_links_the_url(checkpoint, server, tmp_path):
    _, _, sha256, _ = checkpoint
    url = server.url + ROUTE
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "acme_url.py").write_text(textwrap.dedent(PLUGIN.format(url=url, sha256=sha256)))
    args = ["run", "acme/tiny-url", "--benchmark", "mini", "--tasks", "landform", "--no-cache", "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache"), "--plugins-dir", str(plugins)]
    assert main([*args, "--out", str(tmp_path / "first.json")]) == 0
    assert main([*args, "--out", str(tmp_path / "second.json")]) == 0  # loads the model again, from the cache
    assert server.requests == [ROUTE]
    for name in ("first.json", "second.json"):
        assert validate_file(tmp_path / name) == []
    model = json.loads((tmp_path / "first.json").read_text())["model"]
    assert model["url_weights"] == {"url": url, "sha256": sha256}
    assert model["revision"] == sha256 and model["hub_repo"] is None and model["revision_verified"] is None
    (tmp_path / "submissions").mkdir()
    files = build_site(tmp_path / "submissions", tmp_path / "site", include=[tmp_path / "first.json"])
    page = files["models/acme--tiny-url.html"].decode()
    assert f'href="{url}"' in page and f"weights (sha256 {sha256[:7]})" in page
    assert "huggingface.co" not in page
