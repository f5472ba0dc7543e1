"""`mars-zoo run MODEL --weights PATH`: own weights of a registered architecture, named by
their content in the result, the cache and the leaderboard."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from mars_zoo.cli import main
from mars_zoo.core.errors import MarsZooError
from mars_zoo.leaderboard.build import build_site
from mars_zoo.models.registry import load_registry
from mars_zoo.models.weights import content_sha256, with_own_weights

MODEL = "openclip/tiny-random"


@pytest.fixture(scope="module")
def spec():
    return load_registry().get(MODEL)


@pytest.fixture(scope="module")
def weights(spec, tmp_path_factory):
    """The tiny model's own weights in the forms open_clip training writes, and other weights."""
    import torch
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("weights")
    state = spec.load("cpu", "fp32").model.state_dict()
    torch.save(state, folder / "own.pt")
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, folder / "wrapped.pt")
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "own.safetensors"))
    generator = torch.Generator().manual_seed(1)
    other = {k: v + 0.05 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v
             for k, v in state.items()}
    torch.save(other, folder / "other.pt")
    torch.save({k: v for k, v in list(state.items())[:-3]}, folder / "partial.pt")
    (folder / "garbage.pt").write_bytes(bytes(range(256)))  # binary, so only the loader can tell
    return folder


def _embeddings(encoder):
    import torch
    from PIL import Image

    with torch.inference_mode():
        return (encoder.encode_text(["a crater", "dunes"]),
                encoder.encode_image([Image.new("RGB", (70, 50), (140, 90, 40))]))


@pytest.mark.parametrize("name", ["own.pt", "wrapped.pt", "own.safetensors"])
def test_the_loader_loads_each_checkpoint_form(spec, weights, name):
    import torch

    plain = _embeddings(spec.load("cpu", "fp32"))
    own = _embeddings(with_own_weights(spec, weights / name).load("cpu", "fp32"))
    assert all(torch.equal(a, b) for a, b in zip(plain, own))
    other = _embeddings(with_own_weights(spec, weights / "other.pt").load("cpu", "fp32"))
    assert not torch.allclose(plain[0], other[0]) and not torch.allclose(plain[1], other[1])


@pytest.mark.parametrize("name, words", [
    ("garbage.pt", ["garbage.pt could not be loaded into openclip/tiny-random", "a state_dict"]),
    ("partial.pt", ["partial.pt could not be loaded", "Missing key"]),
    (".", ["is a folder; openclip/tiny-random takes one checkpoint file"]),
])
def test_weights_of_another_form_are_one_named_error(spec, weights, name, words):
    with pytest.raises(MarsZooError) as error:
        with_own_weights(spec, weights / name).load("cpu", "fp32")
    message = " ".join(str(error.value).split())
    assert all(word in message for word in words), message


def test_a_missing_path_fails_before_anything_runs(spec, tmp_path):
    with pytest.raises(MarsZooError, match="no such file or folder. Fix: pass the fine-tuned checkpoint"):
        with_own_weights(spec, tmp_path / "nowhere.pt")


def test_content_hash_of_a_file_and_a_folder(tmp_path):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "weights.bin").write_bytes(b"\x00\x01")
    expected = hashlib.sha256(
        ("config.json " + hashlib.sha256(b"{}").hexdigest() + "\n"
         + "sub/weights.bin " + hashlib.sha256(b"\x00\x01").hexdigest() + "\n").encode()).hexdigest()
    assert content_sha256(folder) == expected
    assert content_sha256(folder / "config.json") == hashlib.sha256(b"{}").hexdigest()
    moved = shutil.copytree(folder, tmp_path / "elsewhere")
    assert content_sha256(moved) == expected  # where it lies does not matter
    (moved / "sub" / "weights.bin").write_bytes(b"\x00\x02")
    assert content_sha256(moved) != expected  # one byte does


def _run(tmp_path, out, *extra, tasks="landform"):
    assert main(["run", MODEL, "--benchmark", "mini", "--tasks", tasks, "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache"), *extra]) == 0
    return json.loads(out.read_text())


def test_run_with_own_weights_equals_the_plain_run_and_names_their_sha256(weights, tmp_path):
    plain = _run(tmp_path, tmp_path / "plain.json")
    own = _run(tmp_path, tmp_path / "own.json", "--weights", str(weights / "own.pt"))
    other = _run(tmp_path, tmp_path / "other.json", "--weights", str(weights / "other.pt"))
    assert own["tasks"]["landform"] == plain["tasks"]["landform"] | {"timings": own["tasks"]["landform"]["timings"],
                                                                     "throughput": own["tasks"]["landform"]["throughput"]}
    assert other["tasks"]["landform"]["metrics"] != plain["tasks"]["landform"]["metrics"]
    digest = hashlib.sha256((weights / "own.pt").read_bytes()).hexdigest()
    assert own["model"]["revision"] == digest
    assert own["model"]["weights"] == {"name": "own.pt", "kind": "file", "base_revision": plain["model"]["revision"]}
    assert plain["model"]["weights"] is None
    # the leaderboard shows them as fine-tuned variants of the base model, each on its own page
    (tmp_path / "submissions").mkdir()
    site = tmp_path / "site"
    build_site(tmp_path / "submissions", site,
                      include=[tmp_path / "plain.json", tmp_path / "own.json", tmp_path / "other.json"])
    index = (site / "index.html").read_text()
    assert f"{MODEL} (fine-tuned: own.pt)" in index and f"{MODEL} (fine-tuned: other.pt)" in index
    pages = sorted(path.name for path in (site / "models").glob("*.html"))
    assert len(pages) == 3


def test_own_weights_have_their_own_cache_entries(weights, tmp_path, capsys):
    _run(tmp_path, tmp_path / "plain.json")
    capsys.readouterr()
    _run(tmp_path, tmp_path / "own.json", "--weights", str(weights / "own.pt"))
    assert "model calls: 0 image batches" not in " ".join(capsys.readouterr().out.split())
    _run(tmp_path, tmp_path / "own2.json", "--weights", str(weights / "own.pt"))
    assert "model calls: 0 image batches, 0 text batches" in " ".join(capsys.readouterr().out.split())


def test_check_takes_own_weights(weights, capsys):
    assert main(["check", MODEL, "--weights", str(weights / "other.pt")]) == 0
    capsys.readouterr()
    assert main(["check", MODEL, "--weights", str(weights / "garbage.pt"), "--json"]) == 1
    (failed,) = [check for check in json.loads(capsys.readouterr().out) if not check["passed"]]
    assert f"--weights {weights / 'garbage.pt'} could not be loaded into {MODEL}" in failed["detail"]


def test_the_default_result_file_keeps_the_name_the_weights_were_given(tmp_path):
    """A link to the weights names the default result file, as before: only a name no result
    can hold is refused."""
    from mars_zoo.cli.run import default_out

    for folder in ("runs", "links"):
        (tmp_path / folder).mkdir()
    (tmp_path / "runs" / "ckpt-0042.pt").write_bytes(b"weights")
    (tmp_path / "links" / "latest.pt").symlink_to(tmp_path / "runs" / "ckpt-0042.pt")
    assert default_out("openclip/tiny-random", "mini", tmp_path / "links" / "latest.pt") == \
        Path("mars-zoo-results") / "openclip__tiny-random__mini__latest.pt.json"
    with pytest.raises(MarsZooError, match="rename the weights"):
        default_out("openclip/tiny-random", "mini", tmp_path / "a\rb.pt")
