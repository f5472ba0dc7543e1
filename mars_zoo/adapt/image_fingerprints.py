"""What an image is compared by when a training set is checked against the benchmark.

Three things, each from the decoded 8-bit RGB image (`mars_zoo.data.decoding`, the same
conversion on both sides):

- `pixel_digest`: the SHA-256 of the size and pixels. Equal digests are the same picture,
  whatever the container: a byte-identical file and a lossless re-encode (PNG saved again,
  metadata stripped) alike.
- `window_hashes`: a 64-bit DCT perceptual hash (the pHash construction: a 32 x 32
  greyscale reduction, the 8 x 8 lowest frequencies of its DCT, each bit "above the
  median") of each of a grid of crop windows of the image. A hash shrugs off re-encoding
  and resizing, but not a crop: measured on the mini benchmark's images, trimming up to 4%
  of each side moves a hash by up to 16 of 64 bits while two different images come as close
  as 10. So the benchmark side hashes every window of `crop_windows` (its full frame, and
  for an oblong image its centre square, as the published task 1 preparation crops it,
  each trimmed by 0, 4 or 8% on every side: 81 windows a frame), and a training image's
  one full-frame hash lands near the window it was cut as.
- `aligned_similarity`: the check that decides. A hash is coarse and similar scenes (two
  plains, two fields of dunes) hash alike, so a near hash is only a candidate. The
  candidate is confirmed by aligning the benchmark image's window to the training image
  (a local search over the four sides around the hinted window) and taking the normalised
  cross-correlation of their band-passed thumbnails: fine texture that two different
  scenes do not share. Copies score about 0.8 to 1, different scenes below 0.5 (figures
  in benchmarks/bench_contamination.py).

Every step is linear in the pixels of one 64 x 64 thumbnail (`thumbnail`): a window's
crop-and-reduce is a pair of area-resampling matrices, the DCT another pair, so the 81
hashes of an image cost a few small matrix products.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Sequence

import numpy as np
from PIL import Image

THUMBNAIL_PX = 64  # every image is first reduced to this square (its aspect lives in the windows)
HASH_PX = 32  # the pHash reduction
HASH_FREQUENCIES = 8  # 8 x 8 lowest DCT frequencies: 64 bits
VIEW_PX = 48  # the resolution windows are compared at
BLUR_PX = 7  # band-pass: a view minus its 7-pixel box blur
TRIMS = (0.0, 0.04, 0.08)  # trimmed from each side of a frame, as fractions of it
SQUARE_ASPECT = 1.05  # an image wider or taller than this also gets its centre square as a frame
MIN_WINDOW = 0.5  # no window is searched below half the frame on a side
SEARCH_STEPS = (0.04, 0.02, 0.01, 0.005)  # the alignment search: each side moved by +-step, finer and finer
MAX_MOVES = 8  # hill-climbing moves at one step
CLIMBS = 2  # hinted windows climbed from, best first

Window = tuple[float, float, float, float]  # (top, bottom, left, right), fractions of the image
FULL_WINDOW: Window = (0.0, 1.0, 0.0, 1.0)


def pixel_digest(image: Image.Image) -> bytes:
    """SHA-256 of an RGB image's size and pixels (32 bytes)."""
    digest = hashlib.sha256(f"{image.width}x{image.height}:".encode("ascii"))
    digest.update(image.tobytes())
    return digest.digest()


def thumbnail(image: Image.Image) -> np.ndarray:
    """The image as a THUMBNAIL_PX-square greyscale array (float32, 0..255), each pixel the
    mean of the area it covers."""
    small = image.convert("L").resize((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32)


def crop_windows(width: int, height: int) -> list[Window]:
    """The windows the benchmark side hashes (see the module docstring): each frame of the
    image trimmed by every combination of TRIMS on its four sides."""
    frames = [FULL_WINDOW]
    aspect = width / height
    if aspect > SQUARE_ASPECT:
        side = height / width
        frames.append((0.0, 1.0, (1 - side) / 2, (1 + side) / 2))
    elif aspect < 1 / SQUARE_ASPECT:
        side = width / height
        frames.append(((1 - side) / 2, (1 + side) / 2, 0.0, 1.0))
    windows = []
    for top, bottom, left, right in frames:
        tall, wide = bottom - top, right - left
        for a in TRIMS:
            for b in TRIMS:
                for c in TRIMS:
                    for d in TRIMS:
                        windows.append((top + a * tall, bottom - b * tall, left + c * wide, right - d * wide))
    return windows


@lru_cache(maxsize=4096)
def _resampling(size: int, low: float, high: float) -> np.ndarray:
    """[size, THUMBNAIL_PX]: the interval [low, high) of a thumbnail axis (fractions) reduced
    to `size` pixels, each the mean of the thumbnail pixels (or parts of them) it covers."""
    edges = (low + (high - low) * np.arange(size + 1) / size) * THUMBNAIL_PX
    pixel = np.arange(THUMBNAIL_PX)
    overlap = np.minimum(edges[1:, None], pixel + 1) - np.maximum(edges[:-1, None], pixel)
    weights = np.clip(overlap, 0, None)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


@lru_cache(maxsize=1)
def _dct_rows() -> np.ndarray:
    """The first HASH_FREQUENCIES rows of the (unnormalised) DCT-II of HASH_PX samples."""
    k = np.arange(HASH_FREQUENCIES)[:, None]
    x = np.arange(HASH_PX)[None, :]
    return np.cos(np.pi * (2 * x + 1) * k / (2 * HASH_PX)).astype(np.float32)


@lru_cache(maxsize=4096)
def _hash_axis(low: float, high: float) -> np.ndarray:
    """[HASH_FREQUENCIES, THUMBNAIL_PX]: an axis' window reduced to HASH_PX, then its DCT."""
    return _dct_rows() @ _resampling(HASH_PX, low, high)


def _pack(bits: np.ndarray) -> np.ndarray:
    """[n, 64] booleans -> [n] uint64, bit i of a hash = column i."""
    return np.packbits(bits, axis=1, bitorder="little").view("<u8").ravel().astype(np.uint64)


def window_hashes(thumb: np.ndarray, windows: Sequence[Window]) -> np.ndarray:
    """[len(windows)] uint64: the perceptual hash of each window of a thumbnail."""
    rows = sorted({(top, bottom) for top, bottom, _, _ in windows})
    columns = sorted({(left, right) for _, _, left, right in windows})
    down = np.stack([_hash_axis(*row) @ thumb for row in rows])  # [rows, F, PX]
    across = np.stack([_hash_axis(*column) for column in columns])  # [columns, F, PX]
    row_of = {row: i for i, row in enumerate(rows)}
    column_of = {column: i for i, column in enumerate(columns)}
    pick_rows = [row_of[(top, bottom)] for top, bottom, _, _ in windows]
    pick_columns = [column_of[(left, right)] for _, _, left, right in windows]
    coefficients = np.einsum("wfp,wgp->wfg", down[pick_rows], across[pick_columns]).reshape(len(windows), -1)
    return _pack(coefficients > np.median(coefficients, axis=1, keepdims=True))


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between uint64 hashes (broadcast)."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)


@lru_cache(maxsize=1)
def _blur() -> np.ndarray:
    """[VIEW_PX, VIEW_PX]: a BLUR_PX box blur along one axis, edges mirrored."""
    half = BLUR_PX // 2
    rows = np.repeat(np.arange(VIEW_PX), BLUR_PX)
    columns = rows + np.tile(np.arange(-half, half + 1), VIEW_PX)
    columns = np.where(columns < 0, -columns - 1, np.where(columns >= VIEW_PX, 2 * VIEW_PX - columns - 1, columns))
    matrix = np.zeros((VIEW_PX, VIEW_PX), dtype=np.float32)
    np.add.at(matrix, (rows, columns), 1.0 / BLUR_PX)
    return matrix


@lru_cache(maxsize=8192)
def _view_axis(low: float, high: float) -> np.ndarray:
    """[2, VIEW_PX, THUMBNAIL_PX]: an axis' window at VIEW_PX, and the same blurred."""
    plain = _resampling(VIEW_PX, low, high)
    return np.stack([plain, _blur() @ plain])


def _band_views(thumb: np.ndarray, rows: list[tuple[float, float]], columns: list[tuple[float, float]]) -> np.ndarray:
    """[rows x columns, V * V]: each (row interval, column interval) window of the thumbnail
    at VIEW_PX, band-passed (minus its blur), zero-mean and unit-norm. Two matrix products
    for all of them: the window's resampling and the blur are linear."""
    down = np.stack([_view_axis(*row) for row in rows], axis=1) @ thumb  # [2, R, V, P]
    across = np.stack([_view_axis(*column) for column in columns], axis=1)  # [2, C, V, P]
    r, c, v = len(rows), len(columns), VIEW_PX
    plain, blurred = (
        (down[k].reshape(r * v, -1) @ across[k].reshape(c * v, -1).T).reshape(r, v, c, v) for k in (0, 1)
    )
    band = (plain - blurred).transpose(0, 2, 1, 3).reshape(r * c, v * v)
    band -= band.mean(axis=1, keepdims=True)
    return band / np.maximum(np.linalg.norm(band, axis=1, keepdims=True), 1e-6)


def band_view(thumb: np.ndarray) -> np.ndarray:
    """The whole thumbnail as the training side of `aligned_similarity` takes it."""
    return _band_views(thumb, [(0.0, 1.0)], [(0.0, 1.0)])[0]


def _moves(low: float, high: float, step: float) -> list[tuple[float, float]]:
    """An axis interval with each end moved by -step, 0 or +step, kept on the image and at
    least MIN_WINDOW long (or, for a shorter one, at least as long as it is)."""
    moved = {(round(min(max(low + a, 0.0), 1.0), 6), round(min(max(high + b, 0.0), 1.0), 6))
             for a in (-step, 0.0, step) for b in (-step, 0.0, step)}
    shortest = min(MIN_WINDOW, round(high - low, 6))
    return sorted(pair for pair in moved if round(pair[1] - pair[0], 6) >= shortest)


def aligned_similarity(
    training_band: np.ndarray, bench_thumb: np.ndarray, hints: Sequence[Window], enough: float = 1.0
) -> tuple[float, Window]:
    """The best normalised cross-correlation of the training image's band view
    (`band_view`) with a window of the benchmark thumbnail, and the window reaching it.
    The search climbs from the best of the hinted windows, then from the next best (up to
    CLIMBS of them): each move tries every side at -step, 0 and +step at once (81 windows)
    and takes the best while that improves, for each step of SEARCH_STEPS in turn. It stops
    as soon as a score reaches `enough`."""
    rows = sorted({(top, bottom) for top, bottom, _, _ in hints})
    columns = sorted({(left, right) for _, _, left, right in hints})
    scores = (_band_views(bench_thumb, rows, columns) @ training_band).reshape(len(rows), len(columns))
    start = sorted(((float(scores[rows.index(hint[:2]), columns.index(hint[2:])]), tuple(hint)) for hint in set(hints)),
                   reverse=True)[:CLIMBS]
    best, best_window = start[0]
    for score, window in start:
        for step in SEARCH_STEPS:
            for _ in range(MAX_MOVES):
                if score >= enough:
                    return score, window
                rows, columns = _moves(window[0], window[1], step), _moves(window[2], window[3], step)
                scores = _band_views(bench_thumb, rows, columns) @ training_band
                pick = int(np.argmax(scores))
                if float(scores[pick]) <= score:
                    break
                score = float(scores[pick])
                window = (*rows[pick // len(columns)], *columns[pick % len(columns)])
        if score > best:
            best, best_window = score, window
    return best, best_window
