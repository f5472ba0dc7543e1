"""Chunked exact search against the full score matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mars_zoo import search


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
