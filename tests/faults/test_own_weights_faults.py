"""Fault corpus, own weights: `mars-zoo run MODEL --weights PATH` given an empty file, a
text file or a damaged safetensors file, for an OpenCLIP model (one checkpoint file) and
a transformers family (a save_pretrained folder). The file is the user's, not the plugin's
fault: exit 2, one paragraph naming the file, what it holds (with the library's reason for
a damaged safetensors file) and the forms the model takes, before any weights are read.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from boundary_helpers import assert_clean_error, cli

OPENCLIP, TRANSFORMERS = "openclip/tiny-random", "aimv2/tiny-random"
OPENCLIP_FORMS = "takes one checkpoint file: a state_dict (torch.save or safetensors)"
TRANSFORMERS_FORMS = "takes a save_pretrained folder"
# A safetensors header length (8 bytes, little-endian) of 16, then 6 bytes of a header.
BROKEN_HEADER = (16).to_bytes(8, "little") + b'{"a": '


def _tiny_folder(name: str) -> Path:
    """The save_pretrained folder the seeded tiny model `name` is built into (built if needed)."""
    from mars_zoo.core.folders import default_cache_dir
    from mars_zoo.models.registry import load_registry
    from mars_zoo.models.tiny import TINY_DIR

    load_registry().get(name).load("cpu", "fp32")
    return next((default_cache_dir() / TINY_DIR).glob(name.replace("/", "--") + "-*"))


@pytest.fixture(scope="module")
def safetensors_file(tmp_path_factory) -> Path:
    import numpy as np
    from safetensors.numpy import save_file

    path = tmp_path_factory.mktemp("safetensors") / "intact.safetensors"
    save_file({"weight": np.ones((64, 64), dtype=np.float32)}, str(path))
    return path


def _file(name: str, content: bytes):
    def make(tmp_path: Path, intact: Path) -> Path:
        (tmp_path / name).write_bytes(content)
        return tmp_path / name
    return make


def _truncated(tmp_path: Path, intact: Path) -> Path:
    (tmp_path / "cut.safetensors").write_bytes(intact.read_bytes()[:-100])  # a copy that stopped short
    return tmp_path / "cut.safetensors"


def _folder_with(name: str, content: bytes):
    """A copy of the transformers tiny model's folder whose file `name` holds `content`."""
    def make(tmp_path: Path, intact: Path) -> Path:
        folder = shutil.copytree(_tiny_folder(TRANSFORMERS), tmp_path / "fine-tuned")
        (folder / "model.safetensors").unlink()
        (folder / name).write_bytes(content)
        return folder
    return make


# case: (model, how the --weights path is made, what the message says besides the model's forms)
CASES = {
    "openclip-empty-file": (OPENCLIP, _file("empty.pt", b""), ["empty.pt is empty"]),
    "openclip-text-file": (OPENCLIP, _file("notes.pt", b"epoch 3: loss 0.41\n"),
                           ["notes.pt holds text, not a checkpoint"]),
    "openclip-broken-safetensors": (OPENCLIP, _file("model.safetensors", BROKEN_HEADER), [
        "model.safetensors is a damaged safetensors file (SafetensorError: Error while deserializing header: "
        "invalid header length)"]),
    "openclip-truncated-safetensors": (OPENCLIP, _truncated, [
        "cut.safetensors is a damaged safetensors file (SafetensorError: Error while deserializing header: "
        "incomplete metadata, file not fully covered)"]),
    "transformers-empty-file": (TRANSFORMERS, _file("empty.pt", b""), ["empty.pt is an empty file;"]),
    "transformers-broken-safetensors": (TRANSFORMERS, _folder_with("model.safetensors", BROKEN_HEADER), [
        "model.safetensors in it is a damaged safetensors file (SafetensorError: Error while deserializing header: "
        "invalid header length)"]),
    "transformers-empty-safetensors": (TRANSFORMERS, _folder_with("model.safetensors", b""),
                                       ["model.safetensors in it is empty"]),
    "transformers-text-bin": (TRANSFORMERS, _folder_with("pytorch_model.bin", b"version https://git-lfs\n"),
                              ["pytorch_model.bin in it holds text, not a checkpoint"]),
}


@pytest.mark.parametrize("model, make, words", CASES.values(), ids=CASES)
def test_damaged_own_weights_are_the_users_file_named_with_what_it_holds(capsys, tmp_path, safetensors_file, model,
                                                                       make, words):
    weights = make(tmp_path, safetensors_file)
    outcome = cli(capsys, "run", model, "--weights", weights, "--benchmark", "mini", "--tasks", "landform",
                  "--out", tmp_path / "result.json", "--no-cache")
    forms = OPENCLIP_FORMS if model == OPENCLIP else TRANSFORMERS_FORMS
    assert_clean_error(outcome, 2, f"--weights {weights}", *words, f"{model} {forms}")
    assert "Fix the plugin" not in outcome.message
    assert not (tmp_path / "result.json").exists()


@pytest.mark.parametrize("length, refused", [(200, False), (201, True), (255, True)])
def test_a_weights_name_longer_than_a_result_records_is_refused_before_the_run(capsys, tmp_path, length, refused):
    """A result records the weights' name in at most the schema's `name` length; a longer
    name is refused at the start, not after the whole run when the result is validated."""
    from mars_zoo.schema.results_schema import load_schema
    from mars_zoo.models.weights import RECORDED_NAME_MAX

    assert RECORDED_NAME_MAX == load_schema()["$defs"]["name"]["maxLength"] == 200
    weights = tmp_path / ("w" * (length - 3) + ".pt")
    weights.write_bytes(b"")
    outcome = cli(capsys, "run", OPENCLIP, "--weights", weights, "--benchmark", "mini", "--tasks", "landform",
                  "--out", tmp_path / "result.json", "--no-cache")
    if refused:
        assert_clean_error(outcome, 2, f"its name has {length} characters, more than the 200 a result records")
    else:  # past the name check, refused for what the file holds
        assert_clean_error(outcome, 2, f"{weights.name} is empty")
    assert not (tmp_path / "result.json").exists()
