"""The tile index: the raw header reader agrees with tarfile, unusual shards go to
tarfile, and a gallery indexed once opens from the cache until a shard changes."""

from __future__ import annotations

import io
import os
import tarfile

import numpy as np
import pytest

from mars_zoo.data import gallery_index, hub_format
from mars_zoo.data.tile_gallery import read_tile_gallery
from mars_zoo.data.tile_names import tile_name
from mars_zoo.reporting import Reporter


def _tiles(count, start=0):
    return [(tile_name(i / 10, 1.0), hub_format.encode_image(np.full((4, 4), i % 256, np.uint8)))
            for i in range(start, start + count)]


def _expected(path):
    with tarfile.open(path) as tar:
        return [(m.name.encode(), m.offset_data, m.size) for m in tar if m.isfile()]


def test_raw_headers_give_what_tarfile_gives(tmp_path):
    path = tmp_path / "tiles-000000.tar"
    hub_format.write_tile_shard(path, _tiles(30))
    with tarfile.open(path, "a", format=tarfile.USTAR_FORMAT) as tar:  # a name split into prefix + name
        info = tarfile.TarInfo("d" * 120 + "/" + tile_name(9.9, 9.9))
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    assert gallery_index._ustar_members(path) == _expected(path)


@pytest.mark.parametrize("format_", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_other_tar_formats_are_read_by_tarfile(tmp_path, format_):
    path = tmp_path / "tiles-000000.tar"
    with tarfile.open(path, "w", format=format_) as tar:
        for name, data in _tiles(5):
            info = tarfile.TarInfo("x" * 150 + "/" + name)  # too long for plain ustar
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(gallery_index._Unusual):
        gallery_index._ustar_members(path)
    assert gallery_index.shard_members(path) == _expected(path)


def test_an_indexed_gallery_opens_from_the_cache_until_a_shard_changes(tmp_path, monkeypatch):
    tiles = tmp_path / "tiles"
    hub_format.write_tile_shards(tiles, _tiles(25), shard_size=10)
    built = []
    real_build = gallery_index.build_index
    monkeypatch.setattr(gallery_index, "build_index", lambda *a: built.append(1) or real_build(*a))

    def open_gallery():
        return read_tile_gallery(tiles, "g", True, Reporter(), tmp_path / "cache")

    first = open_gallery()
    second = open_gallery()
    assert len(built) == 1
    assert list(second.images.ids) == list(first.images.ids) == [name for name, _ in _tiles(25)]
    np.testing.assert_array_equal(second.lonlat, first.lonlat)
    assert np.asarray(second.images[7]).tolist() == np.asarray(first.images[7]).tolist()

    shard = tiles / hub_format.shard_name(1)
    hub_format.write_tile_shard(shard, _tiles(10, start=10)[::-1])  # same tiles, other order
    os.utime(shard, ns=(1, 1))
    reordered = open_gallery()
    assert len(built) == 2
    assert list(reordered.images.ids)[10:20] == [name for name, _ in _tiles(10, start=10)][::-1]


def test_a_damaged_header_is_not_read_as_a_tile(tmp_path):
    from mars_zoo.errors import MarsZooError

    path = tmp_path / "tiles-000000.tar"
    hub_format.write_tile_shard(path, _tiles(3))
    data = bytearray(path.read_bytes())
    data[2 * 1024 + 3] ^= 1  # one bit of the third member's name (each member: header + one data block)
    path.write_bytes(bytes(data))
    with pytest.raises(MarsZooError, match="header of member 3 does not match its checksum"):
        gallery_index.shard_members(path)
