"""Fault corpus, files changed behind a remembered record: what was learnt from a file's
bytes (the tar gallery's cached index, a data copy's fingerprints) is trusted only while
the file's size, modification time, change time and inode are all unchanged. Each edit
here keeps the size and puts the modification time back (`os.utime`), as a careful hand
or a copy tool does; the change time (and, for a file replaced by rename, the inode)
still moves, and the run must see it before scoring: scored as a fresh run on the edited
data scores it, or refused with one paragraph naming the shard when the new contents
are not a sound gallery.

Each case edits a private `--data-dir` copy of the mini benchmark after one run has
indexed and fingerprinted it in a private copy of the clean run's cache.
"""

from __future__ import annotations

import io
import os
import struct
import tarfile
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_faults import assert_one_paragraph_error, metrics, run_cli
from mars_zoo.data.hub_format import write_tile_shard, write_tile_shards
from mars_zoo.data.tile_gallery import read_tile_gallery
from mars_zoo.core.reporting import Reporter
from stat_edits import rewrite_in_place, swap_files

TILES = Path("tiles")
LANDFORM_FILE = Path("Mars-Landforms") / "data" / "train-00001-of-00002.parquet"  # rows 48..95
LANDSLIDES_TILE = 40  # in tiles-000001.tar: a tile the landslide queries should find; member 0 is plain ground

Edit = Callable[[Path, Path], None]  # (data copy, cache)


def members(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path) as tar:
        return [(member.name, tar.extractfile(member).read()) for member in tar]


def shard_bytes(tiles: list[tuple[str, bytes]], scratch: Path) -> bytes:
    """A shard of `tiles` as the gallery writer writes it (fixed headers: the bytes depend
    only on the tiles, so a shard of the same tiles in another order has the same size)."""
    write_tile_shard(scratch, tiles)
    return scratch.read_bytes()


def names_swapped(data: Path, cache: Path) -> None:
    """Two tiles of a shard trade names, each keeping its bytes where they were."""
    shard = data / TILES / "tiles-000001.tar"
    tiles = members(shard)
    (plain, _), (landslides, _) = tiles[0], tiles[LANDSLIDES_TILE]
    tiles[0], tiles[LANDSLIDES_TILE] = (landslides, tiles[0][1]), (plain, tiles[LANDSLIDES_TILE][1])
    rewrite_in_place(shard, shard_bytes(tiles, data.parent / "scratch.tar"))


def shards_swapped(data: Path, cache: Path) -> None:
    swap_files(data / TILES / "tiles-000000.tar", data / TILES / "tiles-000001.tar", data / "swap.tar")


def png_gallery(data: Path) -> None:
    """The gallery as PNG files in folders (the other layout), its landslides tile stored
    without compression, so that other pixels of the same shape take the same bytes."""
    for shard in sorted((data / TILES).glob("tiles-*.tar")):
        folder = data / TILES / shard.stem
        folder.mkdir()
        for name, content in members(shard):
            (folder / name).write_bytes(content)
        shard.unlink()
    (data / TILES / "tiles.json").unlink()
    tile = _png_tile(data)
    Image.open(tile).save(tile, compress_level=0)


def _png_tile(data: Path) -> Path:
    return sorted((data / TILES / "tiles-000001").iterdir())[LANDSLIDES_TILE]


def png_tile_replaced(data: Path, cache: Path) -> None:
    """The tile replaced (by rename) with a file of its size: its pixels inverted."""
    tile = _png_tile(data)
    stat = tile.stat()
    inverted = Image.fromarray(255 - np.asarray(Image.open(tile)))
    inverted.save(tile.with_name("replacement.png"), compress_level=0)
    os.replace(tile.with_name("replacement.png"), tile)
    os.utime(tile, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert tile.stat().st_size == stat.st_size


def landform_images_swapped(data: Path, cache: Path) -> None:
    """Rows 1 and 2 of a Mars-Landforms parquet file trade images (their labels, 5 and 3,
    stay), by swapping the stored values: image bytes are stored PLAIN and uncompressed,
    each as its 4-byte length and its bytes."""
    path = data / LANDFORM_FILE
    content = path.read_bytes()
    first, second = pq.read_table(path).column("image").combine_chunks().field("bytes").to_pylist()[1:3]

    def value(image: bytes) -> bytes:
        return struct.pack("<I", len(image)) + image

    start = content.index(first) - 4
    end = start + len(value(first)) + len(value(second))
    assert content[start:end] == value(first) + value(second)
    rewrite_in_place(path, content[:start] + value(second) + value(first) + content[end:])


def _the_index(cache: Path) -> Path:
    """The cached index of the data copy's gallery: the one written last."""
    return max((cache / "gallery-index").iterdir(), key=lambda path: path.stat().st_mtime_ns)


def index_of_another_layout(data: Path, cache: Path) -> None:
    """The cached index replaced by that of the same tiles packed in other shards."""
    tiles = [tile for shard in sorted((data / TILES).glob("tiles-*.tar")) for tile in members(shard)]
    other = write_tile_shards(data.parent / "other" / "tiles", tiles, shard_size=50)[0].parent
    read_tile_gallery(other, "other", True, Reporter(), data.parent / "other" / "cache")
    (index,) = (data.parent / "other" / "cache" / "gallery-index").iterdir()
    _the_index(cache).write_bytes(index.read_bytes())


def index_of_another_format(data: Path, cache: Path) -> None:
    """The cached index says it was written in format 2, and gives the tiles' names and
    places in reverse order (each tile's bytes where they were): another format's record
    is not read, whatever it holds."""
    path = _the_index(cache)
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in stored.files}
    reverse = {name: arrays[name][::-1] for name in ("names", "lonlat")}
    buffer = io.BytesIO()
    np.savez(buffer, **{**arrays, **reverse, "format": np.array(2)})
    path.write_bytes(buffer.getvalue())


SCORED = {
    # case: (task, prepare the copy (before the first run), edit, whether the edit changes the scores)
    "tile-names-swapped-in-place": ("geolocalization", None, names_swapped, True),
    "same-size-shards-swapped": ("geolocalization", None, shards_swapped, False),
    "png-tile-replaced-same-size": ("geolocalization", png_gallery, png_tile_replaced, True),
    "landform-parquet-edited-same-size": ("landform", None, landform_images_swapped, True),
    "gallery-index-of-another-layout": ("geolocalization", None, index_of_another_layout, False),
    "gallery-index-of-another-format": ("geolocalization", None, index_of_another_format, False),
}


@pytest.mark.parametrize("case", sorted(SCORED))
def test_an_edit_behind_the_record_is_scored_as_a_fresh_run_scores_it(case, clean, cache_copy, data_copy, tmp_path,
                                                                       capsys):
    task, prepare, edit, changes = SCORED[case]
    if prepare is not None:
        prepare(data_copy)
    before = run_cli(capsys, cache_copy, tmp_path / "before.json", clean.plugins, "--data-dir", str(data_copy),
                     "--tasks", task)
    assert before.code == 0, before.err
    edit(data_copy, cache_copy)
    outcome = run_cli(capsys, cache_copy, tmp_path / "r.json", clean.plugins, "--data-dir", str(data_copy),
                      "--tasks", task)
    assert outcome.code == 0, outcome.err
    fresh = run_cli(capsys, tmp_path / "fresh-cache", tmp_path / "fresh.json", clean.plugins,
                    "--data-dir", str(data_copy), "--tasks", task, "--no-cache")
    assert metrics(outcome.result) == metrics(fresh.result)
    assert (metrics(outcome.result) != metrics(before.result)) == changes


def _shard_edit(name: str, change: Callable[[Path, bytes], bytes]) -> Edit:
    def edit(data: Path, cache: Path) -> None:
        shard = data / TILES / name
        rewrite_in_place(shard, change(data, shard.read_bytes()))
    return edit


def _header_byte_flipped(data: Path, content: bytes) -> bytes:
    """One bit of the sixth member's name: past five members, each its header and its data
    in 512-byte blocks."""
    sixth = sum(512 + -(-len(tile) // 512) * 512 for _, tile in members(data / TILES / "tiles-000000.tar")[:5])
    edited = bytearray(content)
    edited[sixth + 2] ^= 0x01
    return bytes(edited)


def _truncated(data: Path, cache: Path) -> None:
    shard = data / TILES / "tiles-000003.tar"
    stat = shard.stat()
    shard.write_bytes(shard.read_bytes()[: stat.st_size // 2])
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns))


REFUSED = {
    # case: (edit, what the message must say, after the copy's path is substituted)
    "shard-overwritten-by-another-same-size": (
        _shard_edit("tiles-000001.tar", lambda data, _: (data / TILES / "tiles-000000.tar").read_bytes()),
        ["appears twice, in {data}/tiles/tiles-000000.tar and {data}/tiles/tiles-000001.tar"]),
    "shard-tail-zeroed-same-size": (
        _shard_edit("tiles-000002.tar", lambda data, content: content[: len(content) // 2] + bytes(len(content) // 2)),
        ["Tile shard {data}/tiles/tiles-000002.tar holds", "tiles where {data}/tiles/tiles.json lists 100"]),
    "shard-header-damaged-same-size": (
        _shard_edit("tiles-000000.tar", _header_byte_flipped),
        ["Tile shard {data}/tiles/tiles-000000.tar is damaged", "member 6 does not match its checksum"]),
    "shard-truncated": (_truncated, ["{data}/tiles/tiles-000003.tar"]),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_gallery_edited_behind_its_index_into_an_unsound_one_is_refused(case, clean, cache_copy, data_copy,
                                                                          tmp_path, capsys):
    edit, needles = REFUSED[case]
    before = run_cli(capsys, cache_copy, tmp_path / "before.json", clean.plugins, "--data-dir", str(data_copy),
                     "--tasks", "geolocalization")
    assert before.code == 0 and before.calls == (0, 0), before.err
    edit(data_copy, cache_copy)
    shards_before = sorted(cache_copy.glob("embeddings/*/*/shard-*.npy"))
    outcome = run_cli(capsys, cache_copy, tmp_path / "r.json", clean.plugins, "--data-dir", str(data_copy),
                      "--tasks", "geolocalization")
    assert_one_paragraph_error(outcome, 2, *(needle.format(data=data_copy) for needle in needles))
    assert "loading fake/good" not in outcome.err  # refused before the model was even loaded
    assert sorted(cache_copy.glob("embeddings/*/*/shard-*.npy")) == shards_before
