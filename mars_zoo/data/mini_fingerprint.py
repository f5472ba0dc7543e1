"""The item-id hashes of the generated mini benchmark.

A result file records, per dataset, the sha256 of the item ids it scored (`items_sha256`). The
mini benchmark's ids are fixed by `mars_zoo.data.mini`, so a result scored on it is recognised by
these hashes whatever its `synthetic` markers say: generated data is never publishable.

Append-only: when `mini.py` changes what it generates, add the new hashes here (a test
recomputes them from a fresh mini run and names any that are missing) and keep the old ones,
so that results of earlier mini versions stay recognised. Only the standard library is used:
`mars-zoo validate` imports this.
"""

from __future__ import annotations

MINI_ITEMS_SHA256: dict[str, str] = {
    "6b5c97e6a2f82ac3d5172b5349e1944293413b122f8d289fbdbc388c5ca43bbe": "mini-v1 task 1 pairs (48)",
    "55045cd710435ab3713dfb2c9d3778fe7b63065dff291637fd7de68fb97fd451": "mini-v1 task 2 images (96)",
    "5a3d6bdbdc81a4a4eb8c8c9c112a9c0c9f794b37073b69f76270f121eed95d19": "mini-v1 task 3 query images (15)",
    "e63ab85b7b12853bff88939ec39e3df79c8617952e67c6d5285c94e159e319fd": "mini-v1 task 3 tiles (400)",
}

MINI_DATASET_PREFIX = "mars-zoo/mini-"  # the dataset ids the mini benchmark records


def mini_items(items_sha256: str) -> str | None:
    """Which mini benchmark data these item ids are, or None when they are not mini data."""
    return MINI_ITEMS_SHA256.get(items_sha256)
