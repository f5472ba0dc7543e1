"""What the benchmark loaders hand to the tasks.

Loaders turn a dataset (Hub or local directory, same format) into these records;
tasks never see file formats. Image collections are map-style sequences of PIL
images that are decoded lazily and pickle cheaply, so DataLoader workers can
decode them in parallel.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image


class ImageSource(Protocol):
    """A lazily decoded, picklable sequence of RGB PIL images with stable ids."""

    ids: Sequence[str]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> "Image.Image": ...


@dataclass(frozen=True)
class DatasetRef:
    """Which data a task was evaluated on, recorded in every result file.

    `revision` is the resolved commit for Hub data, or a content fingerprint for
    local and generated data. `location` is where it was read from.
    """

    id: str
    revision: str
    split: str | None
    location: str
    synthetic: bool = False

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "revision": self.revision,
            "split": self.split,
            "location": self.location,
            "synthetic": self.synthetic,
        }


def ids_sha256(ids: Sequence[str]) -> str:
    """A hash of the evaluated item ids, in order: two results agree on the items
    they scored exactly when these agree."""
    digest = hashlib.sha256()
    for item_id in ids:
        encoded = item_id.encode("utf-8")
        # length-prefixed, so ids containing newlines (captions) cannot collide
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


@dataclass
class PairsData:
    """Task 1: `images[i]` is paired with `captions[i]`; `keys[i]` names the pair.

    `missing` lists keys of the source that could not be evaluated (dead or
    undecodable images); they are reported, never silently dropped.
    """

    dataset: DatasetRef
    keys: list[str]
    images: ImageSource
    captions: list[str]
    caption_column: str
    missing: list[str] = field(default_factory=list)
    source_rows: int | None = None


@dataclass
class LandformData:
    """Task 2: every image with its integer label into `class_names`."""

    dataset: DatasetRef
    images: ImageSource
    labels: np.ndarray
    class_names: list[str]


@dataclass
class TileGallery:
    """Task 3 gallery: `images[i]` is the tile whose lower-left corner is `lonlat[i]`."""

    source: DatasetRef
    images: ImageSource
    lonlat: np.ndarray  # [N, 2] float64, degrees


@dataclass
class GeoData:
    """Task 3: per landform, its ground-truth positions and its query images."""

    dataset: DatasetRef
    ground_truth: dict[str, np.ndarray]  # landform -> [G, 2] (lon, lat)
    query_images: dict[str, ImageSource]  # landform -> example images
    gallery: TileGallery
    mars_map: Path | None = None  # the dataset's global basemap image, for drawing results
