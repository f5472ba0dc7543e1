"""The benchmark items a score depends on, fingerprinted once and indexed for lookup.

Scored items, by part:

- `paired-images`, `paired-captions` (task 1): every evaluated pair's image (its stored
  bytes, decoded) and both of its captions (`refined_caption` is scored by default,
  `ori_caption` on request);
- `landform-images` (task 2): every image;
- `geo-queries` (task 3): every query image of every landform;
- `gallery-tiles` (task 3): the tiles within the catalogue radius of a ground-truth point,
  decided as the scoring decides it (`metrics.pairs_within_radius`). Only these can be a
  hit, so only they move a score: of the 1.4 million tiles of the real gallery, a few
  percent, and only those are read.

Each image gets its pixel digest and the perceptual hashes of its crop windows
(`image_fingerprints`); each caption its normalised text (`normalise_caption`). The
result is saved in the mars-zoo cache under a key made of the datasets' ids and revisions,
the radius and the fingerprint settings, so a second check of the same benchmark reads
arrays instead of images. Lookups: a dict for digests and captions, multi-index hashing
for hashes (`hamming_index`); an image's thumbnail, needed only to confirm a near hash,
is decoded again from the benchmark when asked for.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mars_zoo.adapt import image_fingerprints as fingerprints
from mars_zoo.adapt.hamming_index import HammingIndex
from mars_zoo.core.array_records import read_array_record
from mars_zoo.core.atomic import atomic_output
from mars_zoo.data.decoding import to_rgb
from mars_zoo.data.image_sources import many
from mars_zoo.data.images import MTEB_PREPARATION
from mars_zoo.data.specs import BENCHMARK_TASKS
from mars_zoo.core.protocol import GEO_LANDFORMS, GEO_RADIUS_DEG, PAIRED_CAPTION_COLUMNS
from mars_zoo.core.reporting import Reporter

if TYPE_CHECKING:  # pragma: no cover
    from mars_zoo.data.benchmark import Benchmark
    from mars_zoo.data.types import DatasetRef, ImageSource

INDEX_FORMAT = 1  # raise it whenever what a fingerprint is changes: it keys the cached ones
CAPTION_PART = "paired-captions"  # the one part whose items are captions; every other part's are images
PARTS = {  # part -> (task, what it holds)
    "paired-images": ("paired", "task 1 images"),
    CAPTION_PART: ("paired", "task 1 captions"),
    "landform-images": ("landform", "task 2 images"),
    "geo-queries": ("geolocalization", "task 3 query images"),
    "gallery-tiles": ("geolocalization", f"task 3 gallery tiles within {GEO_RADIUS_DEG} deg of a catalogue point"),
}
_READ_BATCH = 64
_THUMBNAILS_KEPT = 4096


def normalise_caption(text: str) -> str:
    """A caption as captions are compared: Unicode-normalised (NFKC), case-folded, every run
    of characters that are not letters or digits made one space, trimmed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", folded).split())


@dataclass
class ImageGroup:
    """Images of one part read from one source: `positions` into `source`, named `ids`."""

    part: str
    source: "ImageSource"
    positions: np.ndarray
    ids: list[str]
    stored_mode: bool = False  # decoded in their stored mode (task 1's frozen copy): convert to RGB


@dataclass
class ScoredItems:
    """What `benchmark_index` reads from an opened benchmark: its image groups, the task 1
    captions (key, column, text) and the datasets they came from."""

    groups: list[ImageGroup]
    captions: list[tuple[str, str, str]]
    datasets: list["DatasetRef"]
    tasks: tuple[str, ...]


def scored_items(benchmark: "Benchmark", tasks: Sequence[str] = BENCHMARK_TASKS) -> ScoredItems:
    """Every item of `tasks` that a score depends on (see the module docstring)."""
    from mars_zoo.scoring.metrics import pairs_within_radius

    groups: list[ImageGroup] = []
    captions: list[tuple[str, str, str]] = []
    datasets: list[DatasetRef] = []
    if "paired" in tasks:
        pairs = {column: benchmark.paired(column, preparation=MTEB_PREPARATION) for column in PAIRED_CAPTION_COLUMNS}
        first = pairs[PAIRED_CAPTION_COLUMNS[0]]
        datasets.append(first.dataset)
        groups.append(ImageGroup("paired-images", first.images, np.arange(len(first.keys)), list(first.keys), True))
        captions = [(key, column, text) for column, data in pairs.items() for key, text in zip(data.keys, data.captions)]
    if "landform" in tasks:
        landforms = benchmark.landforms()
        datasets.append(landforms.dataset)
        ids = list(landforms.images.ids)
        groups.append(ImageGroup("landform-images", landforms.images, np.arange(len(ids)), ids))
    if "geolocalization" in tasks:
        geo = benchmark.geolocalization()
        datasets += [geo.dataset, geo.gallery.source]
        for landform in GEO_LANDFORMS:
            queries = geo.query_images[landform]
            groups.append(ImageGroup("geo-queries", queries, np.arange(len(queries)), list(queries.ids)))
        points = np.concatenate([geo.ground_truth[landform] for landform in GEO_LANDFORMS])
        near, _ = pairs_within_radius(geo.gallery.lonlat, points, GEO_RADIUS_DEG)
        tiles = np.unique(near)
        groups.append(ImageGroup("gallery-tiles", geo.gallery.images, tiles,
                                 [geo.gallery.images.ids[int(tile)] for tile in tiles]))
    return ScoredItems(groups, captions, datasets, tuple(task for task in BENCHMARK_TASKS if task in tasks))


@dataclass
class Fingerprints:
    """The fingerprints of the scored images, item by item (`item` indexes `ids`), and of
    the hashed windows, window by window."""

    ids: np.ndarray  # str, per item
    group: np.ndarray  # int32, per item: its ImageGroup
    sizes: np.ndarray  # int32 [items, 2]: width, height
    digests: np.ndarray  # uint8 [items, 32]
    hashes: np.ndarray  # uint64, per window
    owner: np.ndarray  # int32, per window: its item
    variant: np.ndarray  # int16, per window: which of its item's `crop_windows`


def _fingerprint(items: ScoredItems, reporter: Reporter) -> Fingerprints:
    ids, group_of, sizes, digests, hashes, owner, variant = [], [], [], [], [], [], []
    total = sum(len(group.positions) for group in items.groups)
    with reporter.progress("Fingerprinting benchmark images", total) as advance:
        for number, group in enumerate(items.groups):
            for start in range(0, len(group.positions), _READ_BATCH):
                chunk = group.positions[start:start + _READ_BATCH]
                for image in many(group.source, [int(position) for position in chunk]):
                    image = to_rgb(image) if group.stored_mode else image
                    windows = fingerprints.crop_windows(image.width, image.height)
                    item = len(sizes)
                    sizes.append((image.width, image.height))
                    digests.append(np.frombuffer(fingerprints.pixel_digest(image), dtype=np.uint8))
                    hashes.append(fingerprints.window_hashes(fingerprints.thumbnail(image), windows))
                    owner.append(np.full(len(windows), item, dtype=np.int32))
                    variant.append(np.arange(len(windows), dtype=np.int16))
                advance(len(chunk))
            ids += group.ids
            group_of.append(np.full(len(group.positions), number, dtype=np.int32))

    def joined(parts: list, dtype, shape: tuple = ()) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros((0, *shape), dtype=dtype)

    return Fingerprints(
        ids=np.asarray(ids, dtype=str), group=joined(group_of, np.int32),
        sizes=np.asarray(sizes, dtype=np.int32).reshape(-1, 2), digests=np.stack(digests) if digests else
        np.zeros((0, 32), np.uint8), hashes=joined(hashes, np.uint64), owner=joined(owner, np.int32),
        variant=joined(variant, np.int16),
    )


def _cache_key(items: ScoredItems) -> str:
    """Names what the fingerprints were made of and how."""
    made_of = {
        "format": INDEX_FORMAT,
        "tasks": items.tasks,
        "datasets": [[ref.id, ref.revision, ref.split] for ref in items.datasets],
        "groups": [[group.part, len(group.positions)] for group in items.groups],
        "radius": GEO_RADIUS_DEG,
        "fingerprints": [fingerprints.THUMBNAIL_PX, fingerprints.HASH_PX, fingerprints.HASH_FREQUENCIES,
                         fingerprints.TRIMS, fingerprints.SQUARE_ASPECT],
    }
    return hashlib.sha256(json.dumps(made_of, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def _load(path: Path, items: ScoredItems) -> Fingerprints | None:
    """The cached fingerprints at `path`, if they are whole and of these items."""
    found = read_array_record(path, Fingerprints)
    if found is None:
        return None
    expected_ids = [item for group in items.groups for item in group.ids]
    whole = (len(found.ids) == len(expected_ids) == len(found.sizes) == len(found.digests) == len(found.group)
             and len(found.hashes) == len(found.owner) == len(found.variant) and found.ids.tolist() == expected_ids)
    return found if whole else None


def _fingerprints(items: ScoredItems, cache_dir: Path, reporter: Reporter) -> Fingerprints:
    path = cache_dir / "contamination" / f"{_cache_key(items)}.npz"
    found = _load(path, items)
    if found is not None:
        return found
    made = _fingerprint(items, reporter)
    try:
        with atomic_output(path) as handle:
            np.savez(handle, **made.__dict__)
    except OSError as exc:  # only the shortcut for the next check is lost
        reporter.warn(f"Could not save the benchmark's fingerprints in {path} ({exc}); the next check makes them again.")
    return made


@dataclass
class BenchmarkIndex:
    """The scored items' fingerprints, ready for lookups (see the module docstring)."""

    items: ScoredItems
    prints: Fingerprints
    hashes: HammingIndex = field(init=False)
    digest_items: dict[bytes, list[int]] = field(init=False)
    caption_items: dict[str, list[tuple[str, str]]] = field(init=False)
    _group_start: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.hashes = HammingIndex(self.prints.hashes)
        self.digest_items = {}
        for item, digest in enumerate(self.prints.digests):
            self.digest_items.setdefault(digest.tobytes(), []).append(item)
        self.caption_items = {}
        for key, column, text in self.items.captions:
            normal = normalise_caption(text)
            if normal:  # a caption of only spaces or punctuation matches nothing
                self.caption_items.setdefault(normal, []).append((key, column))
        self._group_start = np.searchsorted(self.prints.group, np.arange(len(self.items.groups)))
        self.thumbnail = lru_cache(maxsize=_THUMBNAILS_KEPT)(self._thumbnail)

    def part(self, item: int) -> str:
        return self.items.groups[int(self.prints.group[item])].part

    def item_id(self, item: int) -> str:
        return str(self.prints.ids[item])

    def window(self, window: int) -> fingerprints.Window:
        """The crop window (of its item) that stored hash `window` was made of."""
        width, height = self.prints.sizes[self.prints.owner[window]]
        return fingerprints.crop_windows(int(width), int(height))[int(self.prints.variant[window])]

    def _thumbnail(self, item: int) -> np.ndarray:
        number = int(self.prints.group[item])
        group = self.items.groups[number]
        image = many(group.source, [int(group.positions[item - int(self._group_start[number])])])[0]
        return fingerprints.thumbnail(to_rgb(image) if group.stored_mode else image)

    def counts(self) -> dict[str, int]:
        """How many items of each part are checked."""
        counted = {part: 0 for part in PARTS}
        for group in self.items.groups:
            counted[group.part] += len(group.positions)
        counted[CAPTION_PART] = len(self.items.captions)
        return {part: count for part, count in counted.items() if PARTS[part][0] in self.items.tasks}


def benchmark_index(benchmark: "Benchmark", tasks: Sequence[str] = BENCHMARK_TASKS, reporter: Reporter | None = None) -> BenchmarkIndex:
    """The index of `benchmark`'s scored items of `tasks`, from the cache when it was made
    from the same data."""
    reporter = reporter or Reporter()
    items = scored_items(benchmark, tasks)
    return BenchmarkIndex(items, _fingerprints(items, benchmark.cache_dir, reporter))
