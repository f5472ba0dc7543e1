"""Exact inner-product search over a gallery scored one chunk at a time.

The real task-3 gallery is about 1.4 million tiles of up to 1024 floats, too large
to score in one matrix product on every machine, so the gallery (a numpy array, a
np.memmap of a cache file, a lazy view of cache shards, or a torch tensor) is read
`chunk_size` rows at a time: memory stays bounded by one chunk plus the [Q, N]
float32 scores. The metrics rank those scores themselves, since ranking needs the
protocol's tie rule, which plain top-k does not know. Scores are float32
inner products; with L2-normalised embeddings they are cosine similarities.

On `device="cpu"` the products run in numpy; on any other device (e.g. "cuda")
each chunk is copied there with a non-blocking transfer and multiplied by torch,
imported only then. Either way the returned arrays are numpy, on the CPU.
"""

from __future__ import annotations

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
    for start in range(0, len(gallery), chunk_size):
        block = as_numpy(gallery[start : start + chunk_size]).astype(np.float32, copy=False)
        yield start, queries @ block.T


def _torch_scored_chunks(
    queries: np.ndarray, gallery: Any, chunk_size: int, device: str
) -> Iterator[tuple[int, np.ndarray]]:
    """`_scored_chunks` on a torch device. For CUDA, numpy chunks go through one
    pinned host buffer, so that their copies to the GPU are truly asynchronous."""
    import torch

    target = torch.device(device)
    query_tensor = torch.tensor(queries, device=target)
    staging = None
    for start in range(0, len(gallery), chunk_size):
        block = gallery[start : start + chunk_size]
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
