"""Chunked exact search against the full score matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mars_zoo.scoring import search


def small_integer_embeddings(rng, rows, dim=6):
    """Small integers: every dot product is exact in float32 whatever the summation
    order, so chunked and full products agree bit for bit, and ties abound."""
    return rng.integers(-2, 3, (rows, dim)).astype(np.float32)


@pytest.mark.parametrize("chunk_size", [1, 9, 100, 4096])
def test_scores_all_equals_the_product(chunk_size):
    rng = np.random.default_rng(chunk_size)
    queries, gallery = small_integer_embeddings(rng, 5), small_integer_embeddings(rng, 100)
    scores = search.scores_all(queries, gallery, chunk_size=chunk_size)
    assert scores.dtype == np.float32
    np.testing.assert_array_equal(scores, queries @ gallery.T)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_memmap_gallery(tmp_path, dtype):
    rng = np.random.default_rng(2)
    queries = small_integer_embeddings(rng, 3)
    gallery = small_integer_embeddings(rng, 250)
    path = tmp_path / "gallery.npy"
    stored = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=gallery.shape)
    stored[:] = gallery
    stored.flush()
    mapped = np.load(path, mmap_mode="r")
    assert isinstance(mapped, np.memmap)
    all_scores = search.scores_all(queries, mapped, chunk_size=64)
    np.testing.assert_array_equal(all_scores, queries @ gallery.T)


@pytest.mark.parametrize("device", ["cpu", "cpu:0"])
def test_torch_inputs_and_the_torch_path(device):
    # "cpu" multiplies with numpy; any other device string goes through torch.
    rng = np.random.default_rng(3)
    queries, gallery = small_integer_embeddings(rng, 2), small_integer_embeddings(rng, 90)
    half_gallery = torch.from_numpy(gallery).half()  # small integers: exact in float16
    np.testing.assert_array_equal(
        search.scores_all(torch.from_numpy(queries), half_gallery, chunk_size=16, device=device),
        queries @ gallery.T,
    )
    np.testing.assert_array_equal(
        search.scores_all(queries, gallery, chunk_size=16, device=device), queries @ gallery.T
    )


def test_bad_arguments_are_rejected():
    queries, gallery = np.zeros((2, 4), np.float32), np.zeros((10, 5), np.float32)
    with pytest.raises(ValueError, match="dimension 4"):
        search.scores_all(queries, gallery)
    with pytest.raises(ValueError, match="chunk_size"):
        search.scores_all(queries, np.zeros((10, 4), np.float32), chunk_size=0)


def expected_top(scores_row, k):
    """Independently: every row scoring at least the k-th highest score."""
    kth = np.sort(scores_row)[::-1][min(k, scores_row.size) - 1]
    return np.flatnonzero(scores_row >= kth)


@pytest.mark.parametrize("k", [1, 7, 40, 95, 500])
@pytest.mark.parametrize("chunk_size", [1, 13, 4096])
def test_top_k_keeps_every_row_tied_with_the_kth(k, chunk_size):
    rng = np.random.default_rng(k * chunk_size)
    queries, gallery = small_integer_embeddings(rng, 4), small_integer_embeddings(rng, 120)
    full = queries @ gallery.T
    found = search.top_k(queries, gallery, k, chunk_size=chunk_size)
    for row, top in zip(full, found):
        np.testing.assert_array_equal(top.indices, expected_top(row, k))
        np.testing.assert_array_equal(top.scores, row[top.indices])


def test_top_k_over_cache_shards_reads_views_not_copies(tmp_path):
    from mars_zoo.embedding.cache import CacheEntry

    rng = np.random.default_rng(5)
    queries, gallery = small_integer_embeddings(rng, 3), small_integer_embeddings(rng, 250)
    entry = CacheEntry(tmp_path, {"test": 1}, len(gallery), shard_size=64)
    for shard in range(entry.shards):
        start, stop = entry.shard_range(shard)
        entry.write(shard, gallery[start:stop])
    rows = entry.rows()
    blocks = list(rows.blocks(50))
    assert [start for start, _ in blocks] == [0, 50, 64, 114, 128, 178, 192, 242]
    for start, block in blocks:
        assert any(np.shares_memory(block, part) for part in rows.parts)
        np.testing.assert_array_equal(block, gallery[start : start + len(block)])
    for row, top in zip(queries @ gallery.T, search.top_k(queries, rows, 30, chunk_size=50)):
        np.testing.assert_array_equal(top.indices, expected_top(row, 30))


def test_top_k_on_the_torch_path():
    rng = np.random.default_rng(6)
    queries, gallery = small_integer_embeddings(rng, 2), small_integer_embeddings(rng, 90)
    for row, top in zip(queries @ gallery.T, search.top_k(queries, gallery, 10, chunk_size=16, device="cpu:0")):
        np.testing.assert_array_equal(top.indices, expected_top(row, 10))


def test_top_k_scores_give_the_metrics_of_the_full_scores():
    from mars_zoo.scoring import metrics

    rng = np.random.default_rng(7)
    queries, gallery = small_integer_embeddings(rng, 5), small_integer_embeddings(rng, 400)
    lonlat = rng.uniform(0, 4, (400, 2))
    truth = rng.uniform(0, 4, (12, 2))
    for row, top in zip(queries @ gallery.T, search.top_k(queries, gallery, 60, chunk_size=37)):
        assert metrics.geolocalization(top.as_scores(400), lonlat, truth, k_max=60, radius=0.3, points=20) == (
            metrics.geolocalization(row, lonlat, truth, k_max=60, radius=0.3, points=20)
        )


def test_top_k_refuses_k_below_one():
    with pytest.raises(ValueError, match="k must be"):
        search.top_k(np.zeros((1, 4), np.float32), np.zeros((3, 4), np.float32), 0)


def task_3_shaped(rng, rows):
    """15 queries x 1024 floats, as task 3 searches, in small integers (so every score
    is exact and many tie): at this size each block is multiplied as a stack of small
    products plus a remainder, which the tiny dimensions above never reach."""
    return small_integer_embeddings(rng, 15, dim=1024), small_integer_embeddings(rng, rows, dim=1024)


def gallery_as(form, gallery, tmp_path):
    """The same gallery as an array, a memory-mapped .npy file or a view of cache shards."""
    if form == "array":
        return gallery
    if form == "memmap":
        np.save(tmp_path / "gallery.npy", gallery)
        return np.load(tmp_path / "gallery.npy", mmap_mode="r")
    from mars_zoo.embedding.cache import CacheEntry

    entry = CacheEntry(tmp_path, {"test": 1}, len(gallery), shard_size=1000)
    for shard in range(entry.shards):
        start, stop = entry.shard_range(shard)
        entry.write(shard, gallery[start:stop])
    return entry.rows()


@pytest.fixture(scope="module")
def task_3_problem():
    rng = np.random.default_rng(11)
    queries, gallery = task_3_shaped(rng, 2_600)
    # Independently: exact integer products, no float32 and no blocks.
    exact = queries.astype(np.int64) @ gallery.astype(np.int64).T
    return queries, gallery, exact


@pytest.mark.parametrize("form", ["array", "memmap", "shards"])
@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize(("k", "chunk_size"), [(1, 300), (40, 300), (700, 4096), (5_000, 4096)])
def test_top_k_at_task_3_shape_equals_brute_force(monkeypatch, tmp_path, task_3_problem, form, workers, k, chunk_size):
    # However many workers feed the selection, and in whatever order their blocks come.
    monkeypatch.setattr(search, "_cores", lambda: workers)
    queries, gallery, exact = task_3_problem
    found = search.top_k(queries, gallery_as(form, gallery, tmp_path), k, chunk_size=chunk_size)
    assert len(found) == len(queries)
    for row, top in zip(exact, found):
        np.testing.assert_array_equal(top.indices, expected_top(row, k))
        np.testing.assert_array_equal(top.scores, row[top.indices])
    if 1 < k < len(gallery):  # the data do tie at the k-th score, so the rule is exercised
        assert any(len(top.indices) > k for top in found)


@pytest.mark.parametrize("workers", [1, 2])
def test_scores_all_at_task_3_shape_equals_the_exact_product(monkeypatch, task_3_problem, workers):
    monkeypatch.setattr(search, "_cores", lambda: workers)
    queries, gallery, exact = task_3_problem
    np.testing.assert_array_equal(search.scores_all(queries, gallery, chunk_size=999), exact)


class FailingGallery:
    """A gallery whose fifth block has the wrong width, counting the blocks handed out."""

    shape = (400 * 64, 8)
    handed_out = 0

    def __len__(self):
        return self.shape[0]

    def blocks(self, rows):
        for start in range(0, len(self), rows):
            self.handed_out += 1
            yield start, np.ones((rows, 9 if start == 4 * rows else 8), dtype=np.float32)


def test_a_failing_block_stops_every_worker_with_its_error(monkeypatch):
    monkeypatch.setattr(search, "_cores", lambda: 2)
    gallery = FailingGallery()
    with pytest.raises(ValueError, match="matmul"):
        search.top_k(np.ones((2, 8), np.float32), gallery, 5, chunk_size=64)
    assert gallery.handed_out < 100  # the other worker stopped instead of reading all 400
