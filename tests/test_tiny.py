"""The shared builder of tiny models: built once, atomically, keyed by the recipe."""

from pathlib import Path

import pytest

from mars_zoo.models.tiny import materialize, train_bpe_tokenizer


def test_materialize_builds_once_and_keys_by_recipe(tmp_path):
    builds = []

    def build(folder: Path) -> None:
        builds.append(folder)
        (folder / "weights.bin").write_bytes(b"w")

    first = materialize("fam/tiny-random", {"seed": 0}, build, cache_dir=tmp_path)
    again = materialize("fam/tiny-random", {"seed": 0}, build, cache_dir=tmp_path)
    other = materialize("fam/tiny-random", {"seed": 1}, build, cache_dir=tmp_path)
    assert first == again != other
    assert len(builds) == 2
    assert (first / "weights.bin").read_bytes() == b"w"


def test_a_failed_build_leaves_nothing(tmp_path):
    def build(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"h")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        materialize("fam/tiny-random", {"seed": 0}, build, cache_dir=tmp_path)
    assert list((tmp_path / "tiny-models").iterdir()) == []


def test_bpe_tokenizer_is_deterministic_and_keeps_special_tokens():
    specials = ["<|endoftext|>", "<|image_pad|>"]
    one = train_bpe_tokenizer(specials, pad_token="<|endoftext|>")
    two = train_bpe_tokenizer(specials, pad_token="<|endoftext|>")
    text = "a satellite photo of pitted cones.<|image_pad|>"
    assert one(text)["input_ids"] == two(text)["input_ids"]
    assert one.convert_tokens_to_ids("<|image_pad|>") in one(text)["input_ids"]
    assert one.decode(one(text)["input_ids"]) == text
