"""The embedding cache: keys, atomic shards, resumption."""

import hashlib
import os
import time

import numpy as np
import pytest

from mars_zoo.core.atomic import atomic_output, atomic_path, atomic_write_bytes, remove_temporaries
from mars_zoo.embedding.cache import VERIFIED_NAME, EmbeddingCache, cache_key, embeddings_dir
from mars_zoo.core.folders import default_cache_dir
from mars_zoo.embedding.cache import _read_shard as read_shard

FIELDS = {"model": "fake/good", "precision": "fp32", "dataset": "d", "dataset_revision": "r1", "items_sha256": "x"}


def test_key_changes_with_every_field():
    base = cache_key(FIELDS)
    for field in FIELDS:
        assert cache_key({**FIELDS, field: "other"}) != base, field
    assert cache_key(dict(reversed(list(FIELDS.items())))) == base


def test_shards_round_trip_and_missing_ones_are_listed(tmp_path):
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=10)
    assert entry.shards == 3 and entry.missing() == [0, 1, 2]
    data = np.random.default_rng(0).normal(size=(10, 5)).astype(np.float32)
    entry.write(0, data[0:4])
    entry.write(2, data[8:10])
    assert entry.missing() == [1]
    entry.write(1, data[4:8])
    assert entry.missing() == []
    np.testing.assert_array_equal(entry.read(), data)
    # a second handle on the same key sees the same shards
    assert EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=10).missing() == []


def test_an_entry_is_read_in_the_layout_its_manifest_records_whatever_size_is_asked(tmp_path):
    data = np.random.default_rng(5).normal(size=(10, 3)).astype(np.float32)
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=10)
    for shard in range(3):
        entry.write(shard, data[4 * shard : 4 * shard + 4])
    for asked in (1, 3, 64):
        again = EmbeddingCache(tmp_path, shard_size=asked).entry(FIELDS, items=10)
        assert again.shard_size == 4 and again.missing() == []
        np.testing.assert_array_equal(again.read(), data)
    fresh = EmbeddingCache(tmp_path, shard_size=64).entry({**FIELDS, "items_sha256": "y"}, items=10)
    assert fresh.shard_size == 64  # the size asked for shapes new entries


def test_a_shard_file_holds_the_rows_its_name_says(tmp_path):
    """A lost manifest, and another size asked for: only files of the same rows are reused."""
    data = np.arange(30, dtype=np.float32).reshape(10, 3)
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=10)
    for shard in range(3):
        entry.write(shard, data[4 * shard : 4 * shard + 4])
    (entry.directory / "manifest.json").unlink()
    other = EmbeddingCache(tmp_path, shard_size=8).entry(FIELDS, items=10)
    assert other.shard_size == 8 and other.missing() == [0]  # rows 0-8 are new; rows 8-10 exist
    other.write(0, data[:8])
    np.testing.assert_array_equal(other.read(), data)


def test_lazy_rows_slice_across_shards(tmp_path):
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=10)
    data = np.arange(30, dtype=np.float32).reshape(10, 3)
    for shard in range(3):
        start, stop = entry.shard_range(shard)
        entry.write(shard, data[start:stop])
    rows = entry.rows()
    assert len(rows) == 10 and rows.shape == (10, 3)
    for start, stop in ((0, 10), (3, 9), (4, 8), (9, 10), (0, 1), (7, 50), (5, 5)):
        np.testing.assert_array_equal(rows[start:stop], data[start:stop])


def _flip_a_bit(path):
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x04  # inside the float data, past the .npy header
    path.write_bytes(bytes(data))


def _nan_in_place(path):
    array = np.load(path)
    array[1, 1] = np.nan
    np.save(path, array)


def _verify(entry):
    """A run's check of every shard; then a pause, since file times move in clock ticks on
    some kernels, and a later write must fall in a later tick, as it would outside a test."""
    assert entry.missing() == []
    time.sleep(0.02)


@pytest.fixture
def shard_reads(monkeypatch):
    """The shards read in full, by file name, in order."""
    reads = []

    def counted(path):
        reads.append(path.name)
        return read_shard(path)

    monkeypatch.setattr("mars_zoo.embedding.cache._read_shard", counted)
    return reads


def test_a_verified_shard_is_trusted_by_its_stat_without_being_read(tmp_path, shard_reads):
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=10)
    data = np.random.default_rng(2).normal(size=(10, 3)).astype(np.float32)
    for shard in range(3):
        entry.write(shard, data[4 * shard : 4 * shard + 4])
    assert entry.missing() == [] and shard_reads == [entry.shard_path(shard).name for shard in range(3)]
    shard_reads.clear()
    assert EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=10).missing() == []
    assert shard_reads == []
    # A shard written again (by rename: a new inode) is read again, and only that one.
    entry.write(1, data[4:8])
    assert entry.missing() == [] and shard_reads == [entry.shard_path(1).name]


def test_shards_written_by_this_run_are_recorded_as_verified_and_not_read_again(tmp_path, shard_reads):
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=8)
    data = np.random.default_rng(4).normal(size=(8, 3)).astype(np.float32)
    entry.write(0, data[:4])
    entry.write(1, data[4:])
    assert sorted(entry.written) == [entry.shard_path(0).name, entry.shard_path(1).name]
    entry.record_written(entry.written)
    assert EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=8).missing() == [] and shard_reads == []
    _flip_a_bit(entry.shard_path(1))  # and a record of a write still guards the bytes
    warnings = []
    assert entry.missing(warnings.append) == [1] and "do not match its checksum" in warnings[0]
    assert shard_reads == [entry.shard_path(1).name]


def test_a_shard_replaced_right_after_it_was_written_is_not_recorded(tmp_path, monkeypatch):
    """Another process may publish the same shard between our rename and our stat: the
    stat is then of its file, not of the bytes our checksum describes."""
    import mars_zoo.embedding.cache

    def write_then_replaced(path, data):
        inode = atomic_write_bytes(path, data)
        if path.suffix == ".npy":
            atomic_write_bytes(path, data)  # the other process's copy: same bytes, another file
        return inode

    monkeypatch.setattr(mars_zoo.embedding.cache, "atomic_write_bytes", write_then_replaced)
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=4)
    entry.write(0, np.ones((4, 3), dtype=np.float32))
    assert entry.written == {}


def test_a_shard_with_non_finite_rows_is_not_recorded_as_verified(tmp_path):
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=4)
    entry.write(0, np.full((4, 3), np.nan, dtype=np.float32))
    assert entry.written == {}


def test_a_bit_flip_after_verification_is_caught_even_with_its_old_mtime_restored(tmp_path, shard_reads):
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=8)
    data = np.random.default_rng(3).normal(size=(8, 3)).astype(np.float32)
    entry.write(0, data[:4])
    entry.write(1, data[4:])
    _verify(entry)
    shard = entry.shard_path(1)
    before = shard.stat()
    _flip_a_bit(shard)
    os.utime(shard, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime, same inode
    assert shard.stat().st_size == before.st_size and shard.stat().st_ino == before.st_ino
    warnings = []
    shard_reads.clear()
    assert entry.missing(warnings.append) == [1] and "do not match its checksum" in warnings[0]
    assert shard_reads == [shard.name]


def test_an_unreadable_or_foreign_record_of_verified_shards_means_reading_them_again(tmp_path, shard_reads):
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=4)
    entry.write(0, np.ones((4, 3), dtype=np.float32))
    _verify(entry)
    record = entry.directory / VERIFIED_NAME
    for garbage in (b"\x00{", b'{"root": "elsewhere", "files": {}}', b"[]"):
        record.write_bytes(garbage)
        shard_reads.clear()
        assert entry.missing() == [] and shard_reads == [entry.shard_path(0).name]
        shard_reads.clear()
        assert entry.missing() == [] and shard_reads == []  # and the record is sound again


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda path: path.write_bytes(path.read_bytes()[:20]), "do not match its checksum"),
        (lambda path: path.write_bytes(b""), "do not match its checksum"),
        (_flip_a_bit, "do not match its checksum"),
        (_nan_in_place, "do not match its checksum"),
        (lambda path: path.with_name(path.name + ".sha256").unlink(), "no readable checksum"),
    ],
    ids=["truncated", "empty", "bit-flip", "nan", "no-checksum"],
)
def test_a_damaged_shard_is_reported_and_listed_as_missing(tmp_path, damage, reason):
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=8)
    data = np.random.default_rng(1).normal(size=(8, 3)).astype(np.float32)
    entry.write(0, data[:4])
    entry.write(1, data[4:])
    _verify(entry)  # so the damage meets the shards' record of being verified
    damage(entry.shard_path(1))
    warnings = []
    assert entry.missing(warnings.append) == [1]
    assert len(warnings) == 1 and entry.shard_path(1).name in warnings[0] and reason in warnings[0]
    entry.write(1, data[4:])
    assert entry.missing(warnings.append) == [] and len(warnings) == 1
    np.testing.assert_array_equal(entry.read(), data)


def test_a_shard_whose_checksum_matches_but_content_is_unusable_is_still_refused(tmp_path):
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=4)
    entry.write(0, np.ones((4, 3), dtype=np.float32))
    shard = entry.shard_path(0)
    array = np.ones((4, 3), dtype=np.float32)
    array[0, 0] = np.inf
    np.save(shard, array)
    checksum = shard.with_name(shard.name + ".sha256")
    checksum.write_text(f"{hashlib.sha256(shard.read_bytes()).hexdigest()}  {shard.name}\n")
    warnings = []
    assert entry.missing(warnings.append) == [0] and "non-finite" in warnings[0]


def test_the_checksum_file_is_in_sha256sum_format(tmp_path):
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=4)
    entry.write(0, np.ones((4, 3), dtype=np.float32))
    shard = entry.shard_path(0)
    digest, name = shard.with_name(shard.name + ".sha256").read_text().split()
    assert name == shard.name and digest == hashlib.sha256(shard.read_bytes()).hexdigest()


def test_wrong_row_count_is_refused(tmp_path):
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=6)
    with pytest.raises(ValueError, match="needs 2 rows"):
        entry.write(1, np.ones((3, 3), dtype=np.float32))


def test_no_temporary_files_are_left_behind(tmp_path):
    entry = EmbeddingCache(tmp_path, shard_size=2).entry(FIELDS, items=2)
    entry.write(0, np.ones((2, 3), dtype=np.float32))
    assert sorted(p.name for p in entry.directory.iterdir()) == ["manifest.json", "shard-000000000-000000002.npy",
                                                                     "shard-000000000-000000002.npy.sha256"]


def test_atomic_writes_publish_whole_files_or_nothing(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    atomic_write_bytes(target, b"old")
    assert target.read_bytes() == b"old"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as handle:
            handle.write(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".")
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # published only when the block succeeds
    assert target.read_bytes() == b"new"
    assert [path.name for path in target.parent.iterdir()] == ["file.bin"]


def test_remove_temporaries_clears_only_what_killed_writers_left(tmp_path):
    for name in (".file.bin.x1y2.tmp", "file.bin", "notes.tmp"):
        (tmp_path / name).write_bytes(b"x")
    remove_temporaries(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file.bin", "notes.tmp"]


def test_cache_directory_rule(monkeypatch, tmp_path):
    from mars_zoo.data import benchmark

    assert benchmark.default_cache_dir is default_cache_dir  # one rule for data and embeddings
    monkeypatch.setenv("MARS_ZOO_CACHE", str(tmp_path / "mz"))
    assert default_cache_dir() == tmp_path / "mz"
    assert embeddings_dir(default_cache_dir()) == tmp_path / "mz" / "embeddings"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MARS_ZOO_CACHE", "relative")  # made absolute, before a plugin can change directory
    assert default_cache_dir() == tmp_path / "relative"
    monkeypatch.delenv("MARS_ZOO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "mars-zoo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "mars-zoo"


def test_atomic_writes_get_ordinary_file_permissions(tmp_path):
    import os

    from mars_zoo.core.atomic import atomic_write_bytes

    previous = os.umask(0o022)
    os.umask(previous)
    atomic_write_bytes(tmp_path / "result.json", b"{}")
    assert (tmp_path / "result.json").stat().st_mode & 0o777 == 0o666 & ~previous
