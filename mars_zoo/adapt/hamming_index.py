"""Every stored 64-bit hash within a Hamming radius of a query, without comparing the
query with them all: multi-index hashing (Norouzi, Punjani and Fleet, 2012).

A hash is cut into three chunks (22, 21 and 21 bits). If two hashes differ in at most
`radius` bits, one of their chunks differs in at most radius // 3 bits (were every chunk
off by more, the whole would be off by more than `radius`). So each chunk of the stored
hashes is bucketed by its value (a counting sort: one permutation and the bucket starts),
and a query reads, for each chunk, the buckets of every value within radius // 3 bits of
its own; only the hashes found there are compared in full, and nothing is missed. For
radius 14 that is 24,000 buckets a query, holding about 1% of the stored hashes when
they are spread evenly: at 4 million hashes a lookup is about ten times faster than
comparing with all of them (benchmarks/bench_contamination.py). (Four 16-bit chunks read
fewer buckets but, at radius 14, four times the hashes: slower than the full comparison.)
Below FULL_COMPARISON_MAX stored hashes, reading the 24,000 buckets costs more than
comparing with every hash, so a small index does that instead.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations

import numpy as np

CHUNK_BITS = (22, 21, 21)
_SHIFTS = (0, 22, 43)
_QUERY_BATCH = 32  # queries looked up at once: bounds the candidate arrays
FULL_COMPARISON_MAX = 1_000_000  # stored hashes up to which comparing with all of them is faster
_FULL_BATCH_CELLS = 4_000_000  # query x stored comparisons made at once by the full comparison


@lru_cache(maxsize=16)
def _probe_masks(width: int, bits: int) -> np.ndarray:
    """Every `width`-bit mask with at most `bits` bits set."""
    masks = [0]
    for count in range(1, min(bits, width) + 1):
        masks += [sum(1 << bit for bit in chosen) for chosen in combinations(range(width), count)]
    return np.asarray(masks, dtype=np.int64)


class HammingIndex:
    """Stored uint64 hashes, searchable by Hamming radius (`within`)."""

    def __init__(self, hashes: np.ndarray) -> None:
        self.hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
        index_type = np.int32 if len(self.hashes) < 2**31 else np.int64
        self._order: list[np.ndarray] = []
        self._starts: list[np.ndarray] = []
        for chunk in range(len(CHUNK_BITS)):
            keys = self._chunk(self.hashes, chunk)
            self._order.append(np.argsort(keys, kind="stable").astype(index_type))
            counts = np.bincount(keys, minlength=1 << CHUNK_BITS[chunk])
            self._starts.append(np.concatenate([[0], np.cumsum(counts)]).astype(index_type))

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def nbytes(self) -> int:
        """Memory held: the hashes and the tables."""
        return self.hashes.nbytes + sum(array.nbytes for array in self._order + self._starts)

    @staticmethod
    def _chunk(hashes: np.ndarray, chunk: int) -> np.ndarray:
        mask = np.uint64((1 << CHUNK_BITS[chunk]) - 1)
        return ((hashes >> np.uint64(_SHIFTS[chunk])) & mask).astype(np.int64)

    def within(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query, stored hash) pair at most `radius` bits apart: three arrays (query
        index, stored index, distance), sorted by query, then stored index."""
        if radius < 0:
            raise ValueError("the radius must be 0 or more")
        queries = np.ascontiguousarray(queries, dtype=np.uint64)
        found = [self._batch(queries[start:start + _QUERY_BATCH], start, radius)
                 for start in range(0, len(queries), _QUERY_BATCH)]
        if not found:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        query, stored, distance = (np.concatenate(column) for column in zip(*found))
        return query, stored, distance

    def _batch(self, queries: np.ndarray, offset: int, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(self.hashes) <= FULL_COMPARISON_MAX:
            return self._compare_all(queries, offset, radius)
        found = []
        for chunk, width in enumerate(CHUNK_BITS):
            masks = _probe_masks(width, radius // len(CHUNK_BITS))
            keys = (self._chunk(queries, chunk)[:, None] ^ masks[None, :]).ravel()
            starts = self._starts[chunk][keys].astype(np.int64)
            counts = self._starts[chunk][keys + 1] - starts
            total = int(counts.sum())
            if not total:
                continue
            steps = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            stored = self._order[chunk][np.repeat(starts, counts) + steps].astype(np.int64)
            query = np.repeat(np.repeat(np.arange(len(queries)), len(masks)), counts)
            near = np.bitwise_count(queries[query] ^ self.hashes[stored]) <= radius
            found.append(query[near] * len(self.hashes) + stored[near])
        # A pair can turn up in several chunks: only the few within the radius are sorted.
        unique = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
        query, stored = np.divmod(unique, len(self.hashes))
        distance = np.bitwise_count(queries[query] ^ self.hashes[stored]).astype(np.int64)
        return query + offset, stored, distance

    def _compare_all(self, queries: np.ndarray, offset: int, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        step = max(1, _FULL_BATCH_CELLS // max(len(self.hashes), 1))
        parts = []
        for start in range(0, len(queries), step):
            distance = np.bitwise_count(queries[start:start + step, None] ^ self.hashes[None, :])
            query, stored = np.nonzero(distance <= radius)
            parts.append((query + start + offset, stored, distance[query, stored].astype(np.int64)))
        query, stored, distance = (np.concatenate(column) for column in zip(*parts))
        return query, stored.astype(np.int64), distance
