"""A split opened again maps the Arrow files datasets made the first time, and goes back
to datasets whenever those files are gone or changed."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from mars_zoo.data import hub_format
from mars_zoo.data.arrow_splits import open_split
from stat_edits import rewrite_in_place


def _landforms(folder):
    images = [hub_format.encode_image(np.full((8, 8), i, dtype=np.uint8)) for i in range(6)]
    hub_format.write_landforms(folder, images, [0, 1, 2, 0, 1, 2], ["a", "b", "c"], [f"i{i}" for i in range(6)])


def _loader(tmp_path):
    """A `load` for `open_split` of the landforms in tmp_path/data, and the list of its calls."""
    from datasets import load_dataset

    _landforms(tmp_path / "data")
    loads = []

    def load():
        loads.append(1)
        return load_dataset(str(tmp_path / "data"), split="train", cache_dir=str(tmp_path / "hf"))

    return load, loads


def test_the_second_open_maps_what_datasets_made_and_a_stale_record_reloads(tmp_path):
    from datasets import load_dataset

    load, loads = _loader(tmp_path)
    first = open_split(tmp_path / "data", "rev-1", "train", tmp_path / "records", load)
    second = open_split(tmp_path / "data", "rev-1", "train", tmp_path / "records", load)
    assert len(loads) == 1
    expected = load_dataset(str(tmp_path / "data"), split="train", cache_dir=str(tmp_path / "hf"))
    for split in (first, second, pickle.loads(pickle.dumps(second))):
        assert split.features == expected.features.to_dict()
        assert split.column("image_id").to_pylist() == expected["image_id"]
        assert split.value("image", 4)["bytes"] == expected.with_format("arrow")["image"][4]["bytes"].as_py()
    assert second.select([5, 1]).column("label").to_pylist() == [2, 1]
    assert second.select([5, 1]).select([1]).value("image_id", 0) == "i1"

    open_split(tmp_path / "data", "rev-2", "train", tmp_path / "records", load)  # another revision
    assert len(loads) == 2
    for name in second.files:
        with open(name, "ab") as handle:
            handle.write(b"\0")
    open_split(tmp_path / "data", "rev-1", "train", tmp_path / "records", load)
    assert len(loads) == 3


def test_an_arrow_file_rewritten_in_place_with_its_mtime_put_back_reloads(tmp_path):
    load, loads = _loader(tmp_path)
    first = open_split(tmp_path / "data", "rev-1", "train", tmp_path / "records", load)
    for name in first.files:
        rewrite_in_place(Path(name), Path(name).read_bytes())  # the same bytes: only the change time moves
    open_split(tmp_path / "data", "rev-1", "train", tmp_path / "records", load)
    assert len(loads) == 2
    open_split(tmp_path / "data", "rev-1", "train", tmp_path / "records", load)
    assert len(loads) == 2
