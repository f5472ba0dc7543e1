"""Tiles streamed from their tar shards a batch at a time: the same pixels and the same
embeddings, in gallery order, as decoding each tile's own bytes one by one, with one read
per run of neighbouring members instead of one per tile."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mars_zoo.embedding.cache import EmbeddingCache
from mars_zoo.data import image_sources
from mars_zoo.data.tile_gallery import read_tile_gallery
from mars_zoo.data.tile_names import tile_name
from mars_zoo.data.types import DatasetRef
from mars_zoo.embedding.embed import Embedder, EmbedOptions
from mars_zoo.models.model import ModelSpec
from mars_zoo.core.reporting import Reporter

PER_SHARD = 7
SHARDS = 3
BIG_GAP = (1 << 20) + 1  # a non-tile member larger than the reader's largest gap


def _add(tar: tarfile.TarFile, name: str, data: bytes | None) -> None:
    info = tarfile.TarInfo(name)
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> tuple[Path, list[str], list[bytes]]:
    """Three tar shards of random PNG tiles (RGB and greyscale, sizes differing), with a
    folder, a small text file and a file over a megabyte stored between tiles. Returns the
    folder and each tile's name and PNG bytes, in the order written."""
    folder = tmp_path_factory.mktemp("streamed") / "tiles"
    folder.mkdir()
    rng = np.random.default_rng(7)
    names, blobs = [], []
    for shard in range(SHARDS):
        with tarfile.open(folder / f"tiles-{shard:06d}.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
            _add(tar, "tiles", None)
            for member in range(PER_SHARD):
                number = shard * PER_SHARD + member
                side = 12 + number % 5
                pixels = rng.integers(0, 256, (side, side, 3) if number % 4 else (side, side), dtype=np.uint8)
                buffer = io.BytesIO()
                Image.fromarray(pixels).save(buffer, format="PNG")
                names.append(tile_name(10 + number / 10, 5.0))
                blobs.append(buffer.getvalue())
                _add(tar, f"tiles/{names[-1]}", blobs[-1])
                if member == 2:
                    _add(tar, "tiles/notes.txt", b"not a tile")
                if member == 4 and shard == 1:
                    _add(tar, "tiles/big.bin", bytes(BIG_GAP))
    return folder, names, blobs


def _pixels(image: Image.Image) -> np.ndarray:
    assert image.mode == "RGB"
    return np.asarray(image)


def _one_by_one(blobs: list[bytes]) -> list[np.ndarray]:
    """Each tile decoded from its own bytes by PIL alone: the expected pixels."""
    return [np.asarray(Image.open(io.BytesIO(blob)).convert("RGB")) for blob in blobs]


def _open(folder: Path, tmp_path: Path):
    return read_tile_gallery(folder, "g", True, Reporter(), tmp_path / "cache").images


def test_streamed_tiles_are_each_tiles_own_pixels_in_the_order_asked(gallery, tmp_path):
    folder, names, blobs = gallery
    source = _open(folder, tmp_path)
    expected = _one_by_one(blobs)
    assert list(source.ids) == names
    streamed = [_pixels(image) for image in source.many(range(len(names)))]
    assert len(streamed) == len(expected)
    assert all(np.array_equal(got, want) for got, want in zip(streamed, expected))
    rng = np.random.default_rng(1)
    for order in (rng.permutation(len(names)), [5, 5, 4, 20, 0, 13, 12], [8], []):
        got = [_pixels(image) for image in source.many(list(order))]
        assert len(got) == len(order)
        assert all(np.array_equal(got[k], expected[i]) for k, i in enumerate(order)), list(order)
    assert all(np.array_equal(_pixels(source[i]), expected[i]) for i in (0, 9, len(names) - 1))


def test_a_batch_is_read_in_one_read_per_run_of_neighbouring_tiles(gallery, tmp_path, monkeypatch):
    folder, names, _ = gallery
    source = _open(folder, tmp_path)
    reads = []
    real_pread = image_sources.os.pread

    def counted(fd, size, offset):
        reads.append(size)
        return real_pread(fd, size, offset)

    monkeypatch.setattr(image_sources.os, "pread", counted)
    source.many(range(len(names)))
    # one read per shard, plus one where the file over a megabyte lies between two tiles
    assert len(reads) == SHARDS + 1
    assert max(reads) < BIG_GAP
    reads.clear()
    source.many([3, 2, 1])  # backwards: each tile read on its own
    assert len(reads) == 3


class _PixelModel:
    """Embeds a tile by some of its transformed pixels: each row depends on its own tile only."""

    @staticmethod
    def image_transform(image):
        import torch

        pixels = np.asarray(image.resize((6, 6)), dtype=np.float32) / 255.0
        return torch.from_numpy(pixels).permute(2, 0, 1) - 0.5

    def encode_image(self, images):
        return images.flatten(1)[:, ::5] * 3.0


def _spec() -> ModelSpec:
    return ModelSpec(name="test/pixels", family="test", checkpoint="none", modalities=("image",),
                     loader=lambda spec, device, precision: _PixelModel(), random_weights=True, plugin="test")


def _per_tile_embeddings(blobs: list[bytes]) -> np.ndarray:
    """Each tile's embedding computed alone: PIL decode, transform, model, L2 norm (torch's,
    as the harness normalises)."""
    import torch

    model = _PixelModel()
    rows = []
    for blob in blobs:
        tile = model.image_transform(Image.open(io.BytesIO(blob)).convert("RGB"))
        rows.append(torch.nn.functional.normalize(model.encode_image(tile[None]), dim=1)[0].numpy())
    return np.stack(rows)


@pytest.mark.parametrize("workers", [0, 2])
def test_harness_embeddings_of_streamed_tiles_equal_each_tiles_own_in_gallery_order(gallery, tmp_path, workers):
    folder, names, blobs = gallery
    source = _open(folder, tmp_path)
    # batches of 3 within cache shards of 5: batches end at shard boundaries of both kinds
    options = EmbedOptions(batch_size=3, workers=workers)
    embedder = Embedder(_spec(), "0", options, EmbeddingCache(tmp_path / "embeddings", shard_size=5), Reporter())
    got = embedder.images(source, DatasetRef("g", "0", None, "g"), "tiles")
    assert embedder.stats.calls["image"] == sum(-(-min(5, len(names) - s) // 3) for s in range(0, len(names), 5))
    expected = _per_tile_embeddings(blobs)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)
