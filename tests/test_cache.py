"""The embedding cache: keys, atomic shards, resumption."""

import numpy as np
import pytest

from mars_zoo.cache import EmbeddingCache, cache_key

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


def test_truncated_shard_counts_as_missing(tmp_path):
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=4)
    entry.write(0, np.ones((4, 3), dtype=np.float32))
    shard = next(entry.directory.glob("shard-*.npy"))
    shard.write_bytes(shard.read_bytes()[:20])
    assert entry.missing() == [0]


def test_wrong_row_count_is_refused(tmp_path):
    entry = EmbeddingCache(tmp_path, shard_size=4).entry(FIELDS, items=6)
    with pytest.raises(ValueError, match="needs 2 rows"):
        entry.write(1, np.ones((3, 3), dtype=np.float32))


def test_no_temporary_files_are_left_behind(tmp_path):
    entry = EmbeddingCache(tmp_path, shard_size=2).entry(FIELDS, items=2)
    entry.write(0, np.ones((2, 3), dtype=np.float32))
    assert sorted(p.name for p in entry.directory.iterdir()) == ["manifest.json", "shard-000000.npy"]
