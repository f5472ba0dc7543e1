"""Exact inner-product search over a gallery scored one block at a time.

The real task-3 gallery is about 1.4 million tiles of up to 1024 floats, too large
to score in one matrix product on every machine, so the gallery (a numpy array, a
np.memmap of a cache file, a lazy view of cache shards, or a torch tensor) is read
at most `chunk_size` rows at a time. A view of cache shards is read shard by shard,
straight from each memory-mapped file: copying shards into one contiguous chunk
first would double the memory traffic that bounds the speed of search.

`scores_all` keeps every score ([Q, N] float32); `top_k` keeps only each query's best
k (plus everything tied with the k-th), so its memory is bounded by the queries and k,
not by the gallery. Both keep ties as ties: ranking needs the protocol's tie rule,
which the metrics apply. Scores are float32 inner products; with L2-normalised
embeddings they are cosine similarities.

On `device="cpu"` the products run in numpy; on any other device (e.g. "cuda")
each chunk is copied there with a non-blocking transfer and multiplied by torch,
imported only then. Either way the returned arrays are numpy, on the CPU.

On the CPU, 15 queries against 1.4M x 1024 floats are 43 GFLOP over 5.7 GB of page
cache. Two choices keep that near what the cores can do (measured on two Zen 4 cores,
OpenBLAS 0.3.31; benchmarks/bench_search.py compares with faiss):

- one worker thread per core, each taking the next block of `CPU_BLOCK_ROWS` rows,
  multiplying it with single-threaded BLAS (numpy releases the GIL; the page faults of
  a memory map are taken in that thread too) and handing its scores to the selection.
  BLAS's own threads meet at the end of every product and spin while they wait: with
  other processes on the cores they took 2-7x the CPU time of one thread for the same
  products.
- each block multiplied as a stack of products small enough for OpenBLAS's unpacked
  kernel (`_cpu_product`): half the time of one product per block.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from mars_zoo.scoring.metrics import as_numpy

DEFAULT_CHUNK_SIZE = 262_144
CPU_BLOCK_ROWS = 2048  # its scores ([rows, Q] float32) stay in a core's cache
SMALL_PRODUCT = 1_000_000  # OpenBLAS's limit (rows x Q x D) for its small-product kernel
MIN_STACKED_ROWS = 8


def scores_all(
    queries: Any, gallery: Any, chunk_size: int = DEFAULT_CHUNK_SIZE, device: str = "cpu"
) -> np.ndarray:
    """Every score: [Q, N] float32, row q holding queries[q] · gallery[n]."""
    query_matrix = _query_matrix(queries, gallery)
    scores = np.empty((query_matrix.shape[0], len(gallery)), dtype=np.float32)

    def store(start: int, block: np.ndarray) -> None:
        scores[:, start : start + len(block)] = block.T

    _score_blocks(query_matrix, gallery, chunk_size, device, store)
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
    """For each query, the gallery rows scoring at least its k-th best score."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    query_matrix = _query_matrix(queries, gallery)
    selection = _Selection(len(query_matrix), k)
    _score_blocks(query_matrix, gallery, chunk_size, device, selection)
    return selection.result()


class _Selection:
    """Each query's candidates among the blocks scored so far, fed by every worker.

    A query's candidates are the rows scoring at least its threshold, the k-th best
    score among its candidates so far (-inf until it has k). A row below the threshold
    is beaten by k others, so it can be neither among the final top k nor tied with
    the k-th: the result stays exact, ties at the boundary included. A worker may
    compare with a threshold a moment old while another raises it: every threshold
    ever set is the k-th best of rows really scored, so an old one only lets more
    rows through.

    A block costs one comparison per score and one np.flatnonzero; the rows that pass
    wait until they number k per query, then are sorted out to their queries, each
    cut back to its top k, which raises its threshold. Once the thresholds have risen
    few rows pass, so selection costs a small fraction of the products."""

    def __init__(self, queries: int, k: int) -> None:
        self.k = k
        self.thresholds = np.full(queries, -np.inf, dtype=np.float32)
        self.rows = [np.zeros(0, dtype=np.int64)] * queries
        self.scores = [np.zeros(0, dtype=np.float32)] * queries
        self.query_type = np.min_scalar_type(queries)
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.pending_size = 0
        self.waiting = threading.Lock()  # guards pending
        self.settling = threading.Lock()  # one settle at a time: guards rows, scores, thresholds

    def __call__(self, start: int, scores: np.ndarray) -> None:
        """Takes the [rows, queries] scores of the block starting at gallery row `start`."""
        hits = np.flatnonzero(scores >= self.thresholds)
        if not hits.size:
            return
        rows, queries = np.divmod(hits, len(self.thresholds))
        # Stored as the smallest unsigned type: numpy sorts those by radix (_settle).
        passed = (rows + start, queries.astype(self.query_type), scores[rows, queries])
        with self.waiting:
            self.pending.append(passed)
            self.pending_size += hits.size
            if self.pending_size < self.k * len(self.thresholds):
                return
            waiting, self.pending, self.pending_size = self.pending, [], 0
        self._settle(waiting)

    def result(self) -> list[TopK]:
        """Each query's top k, ties included, in gallery order; once every block is in."""
        self._settle(self.pending)
        self.pending = []
        found = []
        for rows, scores in zip(self.rows, self.scores):
            order = np.argsort(rows)
            found.append(TopK(rows[order], scores[order]))
        return found

    def _settle(self, waiting: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Sorts waiting rows out to their queries, each cut back to its top k."""
        if not waiting:
            return
        rows, queries, scores = (np.concatenate(parts) for parts in zip(*waiting))
        by_query = np.argsort(queries, kind="stable")
        ends = np.cumsum(np.bincount(queries, minlength=len(self.thresholds)))[:-1]
        with self.settling:
            for query, (new_rows, new_scores) in enumerate(
                zip(np.split(rows[by_query], ends), np.split(scores[by_query], ends))
            ):
                self.rows[query], self.scores[query], self.thresholds[query] = _cut(
                    np.concatenate([self.rows[query], new_rows]),
                    np.concatenate([self.scores[query], new_scores]),
                    self.k,
                )


def _cut(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The rows scoring at least the k-th best score, and that score (-inf under k rows)."""
    if scores.size < k:
        return rows, scores, -np.inf
    kth = np.partition(scores, scores.size - k)[scores.size - k]
    keep = scores >= kth
    return rows[keep], scores[keep], kth


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


def _score_blocks(
    queries: np.ndarray, gallery: Any, chunk_size: int, device: str, consume: Callable[[int, np.ndarray], None]
) -> None:
    """Scores the gallery block by block, handing each block's first row and [rows, Q]
    float32 scores to `consume`, from as many threads at once as there are workers."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}.")
    if device != "cpu":
        for start, scores in _torch_scored_chunks(queries, gallery, chunk_size, device):
            consume(start, scores)
        return
    product = _cpu_product(queries)
    block_rows = min(chunk_size, CPU_BLOCK_ROWS)
    blocks = gallery_blocks(gallery, block_rows)
    next_block = threading.Lock()
    stop = threading.Event()  # set when a worker fails or the caller is interrupted

    def work() -> None:
        try:
            while not stop.is_set():
                with next_block:
                    start, block = next(blocks, (0, None))
                if block is None:
                    return
                consume(start, product(block))
        except BaseException:
            stop.set()  # the other workers stop after their current block
            raise

    workers = min(_cores(), -(-len(gallery) // block_rows))
    if workers <= 1:  # one core, or a gallery of one block: BLAS may use its own threads
        work()
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        running = [pool.submit(work) for _ in range(workers)]
        try:
            for worker in running:
                worker.result()
        finally:
            stop.set()


def _cpu_product(queries: np.ndarray) -> Callable[[Any], np.ndarray]:
    """block -> [rows, Q] float32 scores, as gallery rows @ queries with numpy's BLAS.

    OpenBLAS multiplies a product of at most SMALL_PRODUCT multiply-adds (rows x Q x D)
    with a kernel that reads both matrices where they lie; a larger product first copies
    ("packs") the gallery rows, which with few queries costs as much as the arithmetic.
    So a block is multiplied as a stack of products that small, in one np.matmul call:
    half the time of one product for 15 queries x 1024, and 0.6-1.0x from 1 to 96
    queries (measured with OpenBLAS 0.3.31 on Zen 4, where it uses its AVX-512 kernels).
    With many more queries the products would have too few rows (1.4-2.5x slower at 256
    and 600 queries), so below MIN_STACKED_ROWS a block is one product.
    """
    transposed = np.ascontiguousarray(queries.T)
    rows = SMALL_PRODUCT // max(1, queries.size)

    def product(block: Any) -> np.ndarray:
        block = as_numpy(block).astype(np.float32, copy=False)
        stacked = len(block) // rows * rows if rows >= MIN_STACKED_ROWS else 0
        scores = np.empty((len(block), len(queries)), dtype=np.float32)
        np.matmul(
            block[:stacked].reshape(-1, rows, block.shape[1]),
            transposed,
            out=scores[:stacked].reshape(-1, rows, len(queries)),
        )
        np.matmul(block[stacked:], transposed, out=scores[stacked:])
        return scores

    return product


def _cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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
    """(first row, [rows, Q] scores) per chunk on a torch device. For CUDA, numpy
    chunks go through one pinned host buffer, so that their copies to the GPU are
    truly asynchronous."""
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
            scores = (block @ query_tensor.T).cpu().numpy()
        yield start, scores
