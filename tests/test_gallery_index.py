"""The tile index: the raw header reader agrees with tarfile, unusual shards go to
tarfile, the index of a gallery equals one computed independently (tarfile's listing and
the coordinates the tiles were written at), damaged headers and duplicate tiles are
refused, and a gallery indexed once opens from the cache until its listing or a shard's
stat changes (a shard edited in place or two swapped, mtimes put back, included)."""

from __future__ import annotations

import io
import os
import random
import tarfile

import numpy as np
import pytest
from PIL import Image

from mars_zoo.data import gallery_index, hub_format
from mars_zoo.data.tile_gallery import _placed_tiles, read_tile_gallery
from mars_zoo.data.tile_names import TileNameError, parse_tile_name, parse_tile_names, tile_name
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import Reporter
from stat_edits import rewrite_in_place, swap_files


def _tiles(count, start=0, lat=1.0):
    return [(tile_name(i / 10, lat), hub_format.encode_image(np.full((4, 4), i % 256, np.uint8)))
            for i in range(start, start + count)]


def _expected(path):
    with tarfile.open(path) as tar:
        return [(m.name.encode(), m.offset_data, m.size) for m in tar if m.isfile()]


def _listed(members):
    return list(zip(members.names.tolist(), members.offset.tolist(), members.size.tolist()))


def _add(path, name, data=b"abc", kind=tarfile.REGTYPE, format_=tarfile.USTAR_FORMAT):
    with tarfile.open(path, "a", format=format_) as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _open(tiles, cache):
    return read_tile_gallery(tiles, "g", True, Reporter(), cache)


def test_raw_headers_give_what_tarfile_gives(tmp_path):
    path = tmp_path / "tiles-000000.tar"
    hub_format.write_tile_shard(path, _tiles(30))
    _add(path, "d" * 120 + "/" + tile_name(9.9, 9.9))  # a name split into prefix + name
    _add(path, "sub", kind=tarfile.DIRTYPE)
    _add(path, "sub/README.txt", b"x" * 1500)  # spans three blocks
    _add(path, "sub/" + tile_name(8.8, 8.8), b"")
    assert _listed(gallery_index._ustar_members(path)) == _expected(path)


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
    assert _listed(gallery_index.shard_members(path)) == _expected(path)


def test_the_index_is_what_tarfile_and_the_tile_coordinates_give(tmp_path):
    """Several shards, members in folders and members that are no tile: names, shards,
    offsets, sizes against tarfile; coordinates against the numbers the names were made of."""
    tiles = tmp_path / "tiles"
    rng = random.Random(0)
    places = rng.sample([(lon, lat) for lon in range(-1800, 1800, 7) for lat in range(-900, 900, 13)], 2500)
    written = []
    for shard in range(3):
        path = tiles / hub_format.shard_name(shard)
        chunk = places[shard * 800:(shard + 1) * 800 + (100 if shard == 2 else 0)]
        hub_format.write_tile_shard(path, [(tile_name(lon / 10, lat / 10), b"p" * rng.randrange(0, 2000))
                                           for lon, lat in chunk[:-5]])
        for lon, lat in chunk[-5:]:
            _add(path, f"folder/{tile_name(lon / 10, lat / 10)}", b"q" * rng.randrange(0, 900))
        _add(path, "notes.txt")
        written += chunk

    shards = [tiles / hub_format.shard_name(shard) for shard in range(3)]
    index = gallery_index.build_index(shards, tiles, Reporter(), lambda names, where, _: _placed_tiles(names, where))
    expected = [(shard, name.rsplit(b"/", 1)[-1], offset, size)
                for shard in range(3) for name, offset, size in _expected(shards[shard]) if name.endswith(b".png")]
    assert list(zip(index.shard.tolist(), index.names.tolist(), index.offset.tolist(), index.size.tolist())) == expected
    gallery = _open(tiles, tmp_path / "cache")
    assert list(gallery.images.ids) == [name.decode() for _, name, _, _ in expected]
    assert gallery.lonlat.tolist() == index.lonlat.tolist() == [[lon / 10, lat / 10] for lon, lat in written]


def test_tile_names_all_at_once_read_as_one_by_one():
    rng = random.Random(1)

    def number():
        return f"{'_' * rng.randint(0, 1)}{'0' * rng.randint(0, 2)}{rng.randint(0, 10 ** rng.randint(1, 25))}_{rng.randint(0, 9)}"

    names = [f"E{number()}_N{number()}.png" for _ in range(3000)] + ["E_0_0_N0_0.png", "E0_0_N_0_0.png"]
    parsed = parse_tile_names(np.array([name.encode() for name in names]))
    one_by_one = np.array([parse_tile_name(name) for name in names])
    assert parsed.tobytes() == one_by_one.tobytes()  # bit for bit: -0.0 and the 25-digit numbers too

    for bad in ("E1_0_N1_0.PNG", "E1_0_N1_0.png\n", "E1.0_N1_0.png", "E1_0_N1_05.png", "E\u0661_0_N1_0.png",
                "E1_0_N1_0.pngE1_0_N1_0.png", "e1_0_N1_0.png", ""):
        batch = names[:7] + [bad] + names[7:9]
        with pytest.raises(TileNameError) as error:
            parse_tile_names(np.array([name.encode() for name in batch]))
        assert error.value.index == 7 and repr(bad) in str(error.value)
        with pytest.raises(TileNameError):
            parse_tile_name(bad)


def test_a_duplicate_tile_is_named_with_both_shards(tmp_path):
    tiles = tmp_path / "tiles"
    hub_format.write_tile_shards(tiles, _tiles(25) + [_tiles(1, start=13)[0]] + _tiles(4, start=25), shard_size=10)
    with pytest.raises(MarsZooError) as error:
        _open(tiles, tmp_path / "cache")
    assert (f"Tile {tile_name(1.3, 1.0)} appears twice, in {tiles / hub_format.shard_name(1)} and "
            f"{tiles / hub_format.shard_name(2)}") in str(error.value)


def test_two_names_of_one_place_are_two_tiles(tmp_path):
    """The duplicate check is by name (as the ids are): E01_0 and E1_0 share a place but
    not a name, which sends the check the slow way, and the gallery opens."""
    tiles = tmp_path / "tiles"
    hub_format.write_tile_shards(tiles, _tiles(3), shard_size=10)
    _add(tiles / hub_format.shard_name(0), "E00_1_N1_0.png")
    (tiles / hub_format.GALLERY_INDEX).unlink()
    gallery = _open(tiles, tmp_path / "cache")
    assert list(gallery.images.ids) == [name for name, _ in _tiles(3)] + ["E00_1_N1_0.png"]
    assert gallery.lonlat[1].tolist() == gallery.lonlat[3].tolist() == [0.1, 1.0]


def test_an_indexed_gallery_opens_from_the_cache_until_its_listing_changes(tmp_path, monkeypatch):
    tiles, cache = tmp_path / "tiles", tmp_path / "cache"
    hub_format.write_tile_shards(tiles, _tiles(25), shard_size=10)
    built = []
    real_build = gallery_index.build_index
    monkeypatch.setattr(gallery_index, "build_index", lambda *a: built.append(1) or real_build(*a))

    def ids():
        return list(_open(tiles, cache).images.ids)

    first = _open(tiles, cache)
    second = _open(tiles, cache)
    assert len(built) == 1
    assert list(second.images.ids) == list(first.images.ids) == [name for name, _ in _tiles(25)]
    np.testing.assert_array_equal(second.lonlat, first.lonlat)
    assert np.asarray(second.images[7]).tolist() == np.asarray(first.images[7]).tolist()

    shard = tiles / hub_format.shard_name(1)
    hub_format.write_tile_shard(shard, _tiles(10, start=10)[::-1])  # same size, other order: a new mtime
    assert ids()[10:20] == [name for name, _ in _tiles(10, start=10)][::-1] and len(built) == 2
    stat = os.stat(shard)

    noise = hub_format.encode_image(np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8))
    hub_format.write_tile_shard(shard, [(name, noise) for name, _ in _tiles(10, start=10, lat=2.5)])
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # another size, the old mtime
    assert os.stat(shard).st_size != stat.st_size
    assert ids()[10:20] == [name for name, _ in _tiles(10, start=10, lat=2.5)] and len(built) == 3

    hub_format.write_tile_shards(tiles, _tiles(35), shard_size=10)  # one shard more
    assert len(ids()) == 35 and len(built) == 4
    (tiles / hub_format.shard_name(3)).unlink()  # one shard less, the others untouched
    (tiles / hub_format.GALLERY_INDEX).unlink()
    assert len(ids()) == 30 and len(built) == 5
    assert len(list((cache / "gallery-index").iterdir())) == 1  # the earlier states' indexes are gone


def test_a_damaged_cached_index_is_built_again(tmp_path):
    tiles, cache = tmp_path / "tiles", tmp_path / "cache"
    hub_format.write_tile_shards(tiles, _tiles(12), shard_size=5)
    expected = list(_open(tiles, cache).images.ids)
    (stored,) = (cache / "gallery-index").iterdir()
    for damage in (b"PK\x03\x04 not a zip", stored.read_bytes()[: stored.stat().st_size // 2], b""):
        stored.write_bytes(damage)
        assert list(_open(tiles, cache).images.ids) == expected


def test_a_damaged_header_is_not_read_as_a_tile(tmp_path):
    path = tmp_path / "tiles-000000.tar"
    hub_format.write_tile_shard(path, _tiles(3))
    original = path.read_bytes()
    third = 2 * 1024  # each member: its header and one data block
    for offset, byte in ((third + 3, original[third + 3] ^ 1),  # one bit of its name
                         (third + 124 + 10, ord("7")),  # its size: another digit
                         (third + 124 + 2, 0xB1),  # its size: a byte no number holds
                         (third, 0)):  # its name's first byte, a NUL: it looks like the end
        data = bytearray(original)
        data[offset] = byte
        path.write_bytes(bytes(data))
        with pytest.raises(MarsZooError, match="header of member 3 does not match its checksum"):
            gallery_index.shard_members(path)


def test_checksums_as_other_writers_spell_them(tmp_path):
    """Seven digits, or a signed sum as old tars wrote it: tarfile accepts them, so does the index."""
    path = tmp_path / "tiles-000000.tar"
    hub_format.write_tile_shard(path, _tiles(3))
    data = bytearray(path.read_bytes())

    def blank_sum(start):
        header = data[start:start + 148] + b" " * 8 + data[start + 156:start + 512]
        return sum(header), sum(header) - 256 * sum(byte >= 128 for byte in header)

    data[148:156] = b"%07o\0" % blank_sum(0)[0]
    data[1024 + 266] = 0xE9  # a high byte (after the owner name's NUL): signed and unsigned sums differ
    data[1024 + 148:1024 + 156] = b"%06o\0 " % blank_sum(1024)[1]
    path.write_bytes(bytes(data))
    assert _listed(gallery_index._ustar_members(path)) == _expected(path)
    assert len(_expected(path)) == 3


def test_hidden_files_are_no_part_of_a_gallery(tmp_path):
    """A killed writer's temporary and hidden folders change neither the tiles nor the revision."""
    tiles, cache = tmp_path / "tiles", tmp_path / "cache"
    hub_format.write_tile_shards(tiles, _tiles(12), shard_size=5)
    before = _open(tiles, cache)
    hub_format.write_tile_shard(tiles / f".{hub_format.shard_name(3)}.x1y2.tmp", _tiles(3, start=40))
    hub_format.write_tile_shard(tiles / ".partial" / hub_format.shard_name(3), _tiles(3, start=50))
    after = _open(tiles, cache)
    assert list(after.images.ids) == list(before.images.ids) == [name for name, _ in _tiles(12)]
    assert after.source.revision == before.source.revision


def _built(monkeypatch):
    """The calls of `build_index` from now on."""
    built = []
    real_build = gallery_index.build_index
    monkeypatch.setattr(gallery_index, "build_index", lambda *a: built.append(1) or real_build(*a))
    return built


def _tar_listing(tiles):
    """(name, pixels) of every tile, by tarfile and PIL: the expected gallery."""
    expected = []
    for shard in sorted(tiles.glob("tiles-*.tar")):
        with tarfile.open(shard) as tar:
            expected += [(m.name, np.asarray(Image.open(tar.extractfile(m)).convert("RGB")).tolist()) for m in tar]
    return expected


def _gallery(tiles, cache):
    gallery = _open(tiles, cache)
    return [(name, np.asarray(gallery.images[i]).tolist()) for i, name in enumerate(gallery.images.ids)]


def test_a_shard_edited_in_place_with_its_mtime_put_back_is_indexed_again(tmp_path, monkeypatch):
    """Two tiles trade names inside a shard: same size, same mtime, same inode; the
    change time tells, and the tiles are read under their new names."""
    tiles, cache = tmp_path / "tiles", tmp_path / "cache"
    hub_format.write_tile_shards(tiles, _tiles(25), shard_size=10)
    built = _built(monkeypatch)
    before = _gallery(tiles, cache)
    shard = tiles / hub_format.shard_name(1)
    swapped = _tiles(10, start=10)
    swapped[0], swapped[3] = (swapped[3][0], swapped[0][1]), (swapped[0][0], swapped[3][1])
    hub_format.write_tile_shard(tmp_path / "scratch.tar", swapped)
    rewrite_in_place(shard, (tmp_path / "scratch.tar").read_bytes())
    after = _gallery(tiles, cache)
    assert after == _tar_listing(tiles) != before and len(built) == 2


def test_two_shards_of_one_size_swapped_with_their_mtimes_put_back_are_indexed_again(tmp_path, monkeypatch):
    tiles, cache = tmp_path / "tiles", tmp_path / "cache"
    first, second = hub_format.write_tile_shards(tiles, _tiles(20), shard_size=10)
    built = _built(monkeypatch)
    before = _gallery(tiles, cache)
    swap_files(first, second, tmp_path / "swap.tar")
    after = _gallery(tiles, cache)
    assert after == _tar_listing(tiles) == before[10:] + before[:10] and len(built) == 2


def _rewritten(path, **changes):
    with np.load(path) as stored:
        arrays = {**{name: stored[name] for name in stored.files}, **changes}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


RECORDS = {
    # case: what the cached index says it was built from, other than the gallery as it is
    "another-format": lambda record: {"format": np.array(2)},
    "another-folder": lambda record: {"folder": np.array("/elsewhere/tiles")},
    "other-shards": lambda record: {"shards": record["shards"][::-1]},
    "a-shard-since-changed": lambda record: {"stats": record["stats"] + [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]},
    "stats-under-another-rule": lambda record: {"stats": record["stats"][:, :3]},
    "no-record-of-what-it-was-built-from": lambda record: {name: np.array(0) for name in ("shards", "stats")},
}


@pytest.mark.parametrize("case", [None, *sorted(RECORDS)])
def test_a_cached_index_built_from_anything_but_the_gallery_as_it_is_is_built_again(tmp_path, monkeypatch, case):
    """Names and places in reverse order in the record, which only a rebuild puts right;
    unchanged (case None), the record is used as it is."""
    tiles, cache = tmp_path / "tiles", tmp_path / "cache"
    hub_format.write_tile_shards(tiles, _tiles(12), shard_size=5)
    expected = _gallery(tiles, cache)
    built = _built(monkeypatch)
    path = gallery_index.index_path(tiles, cache)
    with np.load(path) as stored:
        record = {name: stored[name] for name in stored.files}
    changes = RECORDS[case](record) if case else {}
    _rewritten(path, names=record["names"][::-1], lonlat=record["lonlat"][::-1], **changes)
    ids = list(_open(tiles, cache).images.ids)
    if case is None:
        assert ids == [name for name, _ in expected][::-1] and built == []
    else:
        assert _gallery(tiles, cache) == expected and len(built) == 1


def test_an_index_of_the_earlier_format_is_removed_when_the_gallery_is_indexed(tmp_path):
    tiles, cache = tmp_path / "tiles", tmp_path / "cache"
    hub_format.write_tile_shards(tiles, _tiles(3), shard_size=5)
    current = gallery_index.index_path(tiles, cache)
    earlier = current.with_name(f"{current.stem}-0123456789abcdef0123456789abcdef.npz")  # format 2's name
    other_gallery = current.with_name(f"{'0' * 16}-0123456789abcdef0123456789abcdef.npz")
    for path in (earlier, other_gallery):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"an index")
    _open(tiles, cache)
    assert sorted(path.name for path in current.parent.iterdir()) == sorted([current.name, other_gallery.name])
