"""Training pairs from parquet datasets and WebDataset tar shards, their fingerprint, and
the mini benchmark's training split (disjoint from every test item)."""

import hashlib
import io
import re
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mars_zoo.adapt.training_data import open_training_data
from mars_zoo.core.errors import MarsZooError


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


PAIRS = [(f"p{i}", _png(10 * i), f"caption number {i}") for i in range(5)]


def _parquet(path, rows, image="image", caption="caption", hub_image=True, key=True):
    columns = {caption: [c for _, _, c in rows]}
    columns[image] = [{"bytes": b, "path": None} for _, b, _ in rows] if hub_image else [b for _, b, _ in rows]
    if key:
        columns["key"] = [k for k, _, _ in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


def _tar(path, rows, image_ext="png", caption_ext="txt"):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for key, data, caption in rows:
            for ext, payload in ((image_ext, data), (caption_ext, caption.encode())):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))


def _read(data):
    return [(p.key, p.image_bytes, p.caption) for p in data]


def test_parquet_columns_named_by_flags_and_split_chosen(tmp_path):
    copy = tmp_path / "copy"
    _parquet(copy / "data" / "train-00000-of-00002.parquet", PAIRS[:3], image="jpg", caption="text")
    _parquet(copy / "data" / "train-00001-of-00002.parquet", PAIRS[3:], image="jpg", caption="text")
    _parquet(copy / "data" / "test-00000-of-00001.parquet", [("t", _png(255), "held out")], image="jpg",
             caption="text")
    data = open_training_data(str(copy), image_column="jpg", caption_column="text")
    assert _read(data) == PAIRS
    assert (data.name, data.revision, data.pairs) == ("copy", None, 5)


def test_plain_binary_images_and_keys_from_position(tmp_path):
    _parquet(tmp_path / "pairs.parquet", PAIRS, hub_image=False, key=False)
    data = open_training_data(str(tmp_path / "pairs.parquet"))
    assert _read(data) == [(f"pairs.parquet#{i}", b, c) for i, (_, b, c) in enumerate(PAIRS)]


def test_fingerprint_names_the_pairs_not_their_container(tmp_path):
    _parquet(tmp_path / "a.parquet", PAIRS)
    _tar(tmp_path / "shards" / "000.tar", PAIRS[:2])
    _tar(tmp_path / "shards" / "001.tar", PAIRS[2:])
    parquet, tars = open_training_data(str(tmp_path / "a.parquet")), open_training_data(str(tmp_path / "shards"))
    assert _read(tars) == PAIRS
    # independently: sha256 over (sha256(image), caption length, caption) of each pair in order
    expected = hashlib.sha256()
    for _, image, caption in PAIRS:
        expected.update(hashlib.sha256(image).digest() + len(caption.encode()).to_bytes(8, "big") + caption.encode())
    assert parquet.fingerprint == tars.fingerprint == f"sha256:{expected.hexdigest()}"
    changed = [*PAIRS[:4], (PAIRS[4][0], PAIRS[4][1], PAIRS[4][2] + ".")]
    _parquet(tmp_path / "b.parquet", changed)
    assert open_training_data(str(tmp_path / "b.parquet")).fingerprint != parquet.fingerprint


def test_tar_extensions_named_by_flags(tmp_path):
    _tar(tmp_path / "s.tar", PAIRS, image_ext="webp", caption_ext="json")
    assert _read(open_training_data(str(tmp_path / "s.tar"), image_column="webp", caption_column="json")) == PAIRS
    with pytest.raises(MarsZooError, match=r"sample p0 has no a \.txt caption.*--caption-column EXT"):
        list(open_training_data(str(tmp_path / "s.tar"), image_column="webp"))


@pytest.mark.parametrize("case, message", [
    ("missing-column", r"no caption column 'caption' \(its columns: .*text.*\).*--caption-column NAME"),
    ("text-images", r"column 'image' is of type string, not images.*--image-column NAME"),
    ("no-train", r"holds the split\(s\) test but no train split"),
    ("nothing", r"holds no \.parquet file and no \.tar shard"),
    ("unknown", r"neither a file or folder here nor a Hugging Face Hub dataset id"),
    ("revision-local", r"--train-revision v1 cannot apply to"),
])
def test_bad_sources_are_named_with_the_fix(tmp_path, case, message):
    source = str(tmp_path / "d")
    revision = None
    if case == "missing-column":
        _parquet(tmp_path / "d" / "x.parquet", PAIRS, caption="text")
    elif case == "text-images":
        pq.write_table(pa.table({"image": ["http://x/1.png"], "caption": ["c"]}), tmp_path / "d.parquet")
        source = str(tmp_path / "d.parquet")
    elif case == "no-train":
        _parquet(tmp_path / "d" / "test.parquet", PAIRS)
    elif case == "nothing":
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "README.md").write_text("x")
    elif case == "unknown":
        source = "not a dataset"
    else:
        _parquet(tmp_path / "d" / "x.parquet", PAIRS)
        revision = "v1"
    with pytest.raises(MarsZooError, match=message):
        list(open_training_data(source, revision=revision))


def test_hub_dataset_missing_offline_says_what_to_do():
    with pytest.raises(MarsZooError, match=r"not in the local Hugging Face cache.*HF_HUB_OFFLINE=1"):
        open_training_data("someone/absent-dataset")


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def test_mini_training_split_is_disjoint_from_every_test_item(mini_dir):
    import datasets

    data = open_training_data("mini")
    pairs = list(data)
    assert (data.name, data.revision, len(pairs)) == ("mars-zoo/mini-training", "mini-train-v1", 384)
    assert len({p.key for p in pairs}) == len(pairs)
    test_images, test_captions = set(), set()
    for folder in ("Mars-VL-Pairs-MTEB", "Mars-Landforms"):
        for row in datasets.load_dataset(str(mini_dir / folder), split="test" if "Pairs" in folder else "train"):
            test_images.add(hashlib.sha256(row["image"].convert("L").tobytes()).hexdigest())
            for column in ("ori_caption", "refined_caption"):
                if column in row:
                    test_captions.add(_words(row[column]))
    for path in (mini_dir / "Mars-Global-Geolocalization" / "image_queries").rglob("*.*"):
        test_images.add(hashlib.sha256(Image.open(path).convert("L").tobytes()).hexdigest())
    for shard in (mini_dir / "tiles").glob("*.tar"):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                tile = Image.open(io.BytesIO(tar.extractfile(member).read()))
                test_images.add(hashlib.sha256(tile.convert("L").tobytes()).hexdigest())
    assert len(test_captions) > 48 and len(test_images) == 48 + 96 + 15 + 400  # refined captions are unique
    trained = {hashlib.sha256(Image.open(io.BytesIO(p.image_bytes)).convert("L").tobytes()).hexdigest()
               for p in pairs}
    assert not trained & test_images
    assert not {_words(p.caption) for p in pairs} & test_captions
    # every landform kind is taught, in equal numbers
    kinds = ("impact crater", "dune crests", "channel meandering", "pitted cones", "yardangs", "landslide",
             "alluvial fan", "glacier-like form")
    counts = [sum(kind in p.caption for p in pairs) for kind in kinds]
    assert counts == [48] * 8
