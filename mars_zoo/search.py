"""Exact inner-product search over a gallery scored one block at a time.

The real task-3 gallery is about 1.4 million tiles of up to 1024 floats, too large
to score in one matrix product on every machine, so the gallery (a numpy array, a
np.memmap of a cache file, a lazy view of cache shards, or a torch tensor) is read
at most `chunk_size` rows at a time. A view of cache shards is read shard by shard,
straight from each memory-mapped file: copying shards into one contiguous chunk
first would double the memory traffic that bounds the speed of search.

`scores_all` keeps every score ([Q, N] float32); `top_k` keeps only each query's best
k (plus everything tied with the k-th), merged block by block, so its memory is one
block's scores whatever the gallery size. Both keep ties as ties: ranking needs the
protocol's tie rule, which the metrics apply. Scores are float32 inner products;
with L2-normalised embeddings they are cosine similarities.

On `device="cpu"` the products run in numpy; on any other device (e.g. "cuda")
each chunk is copied there with a non-blocking transfer and multiplied by torch,
imported only then. Either way the returned arrays are numpy, on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from mars_zoo.metrics import as_numpy

DEFAULT_CHUNK_SIZE = 262_144


def scores_all(
    queries: Any, gallery: Any, chunk_size: int = DEFAULT_CHUNK_SIZE, device: str = "cpu"
) -> np.ndarray:
    """Every score: [Q, N] float32, row q holding queries[q] · gallery[n]."""
    query_matrix = _query_matrix(queries, gallery)
    scores = np.empty((query_matrix.shape[0], len(gallery)), dtype=np.float32)
    for start, block in _scored_chunks(query_matrix, gallery, chunk_size, device):
        scores[:, start : start + block.shape[1]] = block
    return scores


@dataclass(frozen=True)
class TopK:
    """The best-scoring gallery rows of one query: every row scoring at least the
    k-th best score (so more than k rows where rows tie with the k-th), in gallery
    order, with their float32 scores."""

    indices: np.ndarray
    scores: np.ndarray

    def as_scores(self, rows: int) -> np.ndarray:
        """A full [rows] score vector that ranks exactly like the gallery's: the kept
        scores in place, every other row a value below all of them. Any ranking of
        its top k, ties included, is the ranking of the real scores' top k."""
        below = np.nextafter(self.scores.min(), np.float32(-np.inf)) if self.scores.size else 0
        full = np.full(rows, below, dtype=np.float32)
        full[self.indices] = self.scores
        return full


def top_k(
    queries: Any, gallery: Any, k: int, chunk_size: int = DEFAULT_CHUNK_SIZE, device: str = "cpu"
) -> list[TopK]:
    """For each query, the gallery rows scoring at least its k-th best score.

    The gallery is scored block by block. Each query keeps the rows scoring at least
    its threshold, the k-th best score among the rows kept so far (-inf until it has
    k): a row below it is beaten by k others, so it cannot be among the final top k,
    nor tie with the k-th. Kept rows pile up to 2k before they are cut back to the
    threshold, so each block costs one comparison per score plus a little bookkeeping
    and the result is exact, ties at the boundary included.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    query_matrix = _query_matrix(queries, gallery)
    kept = [_Kept(k) for _ in range(query_matrix.shape[0])]
    thresholds = np.full((len(kept), 1), -np.inf, dtype=np.float32)
    for start, block in _scored_chunks(query_matrix, gallery, chunk_size, device):
        passing = block >= thresholds
        for query, rows in enumerate(passing):
            local = np.flatnonzero(rows)
            if local.size:
                thresholds[query, 0] = kept[query].add(local + start, block[query, local])
    return [entry.result() for entry in kept]


class _Kept:
    """One query's candidate rows, cut back to its top k (with ties) when they pile up."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.indices: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []
        self.size = 0
        self.threshold = -np.inf

    def add(self, indices: np.ndarray, scores: np.ndarray) -> float:
        """Adds rows that pass the threshold; returns the (possibly raised) threshold."""
        self.indices.append(indices)
        self.scores.append(scores)
        self.size += indices.size
        if self.size >= 2 * self.k:
            self._cut()
        return self.threshold

    def _cut(self) -> None:
        indices, scores = np.concatenate(self.indices), np.concatenate(self.scores)
        if scores.size > self.k:
            self.threshold = np.partition(scores, scores.size - self.k)[scores.size - self.k]
            keep = scores >= self.threshold
            indices, scores = indices[keep], scores[keep]
        self.indices, self.scores, self.size = [indices], [scores], indices.size

    def result(self) -> TopK:
        if not self.indices:
            return TopK(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        self._cut()
        return TopK(self.indices[0].astype(np.int64, copy=False), self.scores[0])


def _query_matrix(queries: Any, gallery: Any) -> np.ndarray:
    """The queries as float32 [Q, D] numpy, checked against the gallery's shape."""
    matrix = as_numpy(queries).astype(np.float32, copy=False)
    if matrix.ndim != 2 or len(gallery.shape) != 2:
        raise ValueError(
            f"queries {tuple(matrix.shape)} and gallery {tuple(gallery.shape)} "
            "must both be matrices."
        )
    if matrix.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"queries have dimension {matrix.shape[1]} but the gallery has {gallery.shape[1]}: "
            "they come from different models or a stale cache."
        )
    return matrix


def _scored_chunks(
    queries: np.ndarray, gallery: Any, chunk_size: int, device: str
) -> Iterator[tuple[int, np.ndarray]]:
    """Yields (first gallery row, [Q, rows] float32 scores) per chunk of the gallery."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}.")
    if device != "cpu":
        yield from _torch_scored_chunks(queries, gallery, chunk_size, device)
        return
    transposed = np.ascontiguousarray(queries.T)
    for start, block in gallery_blocks(gallery, chunk_size):
        # gallery rows @ queries, not queries @ gallery rows: with few queries BLAS
        # splits the long gallery side across threads only this way round (3x faster
        # on a shard of 4096 rows).
        yield start, (as_numpy(block).astype(np.float32, copy=False) @ transposed).T


def gallery_blocks(gallery: Any, chunk_size: int) -> Iterator[tuple[int, Any]]:
    """(first row, rows) blocks of at most `chunk_size` rows, each a view where the
    gallery allows one: shards of a cache view one by one, slices of anything else."""
    if hasattr(gallery, "blocks"):
        yield from gallery.blocks(chunk_size)
        return
    for start in range(0, len(gallery), chunk_size):
        yield start, gallery[start : start + chunk_size]


def _torch_scored_chunks(
    queries: np.ndarray, gallery: Any, chunk_size: int, device: str
) -> Iterator[tuple[int, np.ndarray]]:
    """`_scored_chunks` on a torch device. For CUDA, numpy chunks go through one
    pinned host buffer, so that their copies to the GPU are truly asynchronous."""
    import torch

    target = torch.device(device)
    query_tensor = torch.tensor(queries, device=target)
    staging = None
    for start, block in gallery_blocks(gallery, chunk_size):
        if not isinstance(block, torch.Tensor):
            block = np.asarray(block)
            if target.type != "cuda":
                block = torch.from_numpy(np.array(block))
            else:
                if staging is None:
                    staging = torch.empty(
                        (min(chunk_size, len(gallery)), block.shape[1]),
                        dtype=torch.from_numpy(np.empty(0, dtype=block.dtype)).dtype,
                        pin_memory=True,
                    )
                np.copyto(staging[: len(block)].numpy(), block)
                block = staging[: len(block)]
        with torch.inference_mode():
            block = block.to(target, non_blocking=True).float()
            # .cpu() waits for the product, so the staging buffer is free again.
            scores = (query_tensor @ block.T).cpu().numpy()
        yield start, scores
