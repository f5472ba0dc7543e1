"""Is a training set clean of the benchmark? `contamination_report` compares every
training pair with every benchmark item a score depends on (`benchmark_index`):

- **exact**: the training image has the pixels of a benchmark image (the same file, or a
  lossless re-encode of it);
- **near**: the training image is a benchmark image re-encoded, resized or cropped a
  little: a perceptual hash of it lies within `near_radius` bits of one of the benchmark
  image's crop windows, and aligning that window to it correlates at `near_similarity` or
  more (`image_fingerprints`);
- **caption**: the training caption, normalised (case, punctuation, spacing, Unicode
  forms), is one of task 1's captions.

The report counts, per part of the benchmark, the items hit and the training pairs that
hit them, by kind, with examples; `as_dict()` is all of it (`mars-zoo contamination
--json`), `record()` the part a weights folder's training record keeps, in the shape of
mars_zoo/schema/training-v1.schema.json (per task, the benchmark images and captions found).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from mars_zoo.adapt import image_fingerprints as fingerprints
from mars_zoo.adapt.benchmark_index import CAPTION_PART, PARTS, BenchmarkIndex, benchmark_index, normalise_caption
from mars_zoo.data.decoding import decode
from mars_zoo.data.specs import BENCHMARK_TASKS
from mars_zoo.core.reporting import Reporter

if TYPE_CHECKING:  # pragma: no cover
    from mars_zoo.adapt.training_data import TrainingPair
    from mars_zoo.data.benchmark import Benchmark

KINDS = ("exact", "near", "caption")
NEAR_RADIUS = 14  # bits of 64: a crop of up to 10% a side reached 14 on the mini images (bench_contamination.py)
NEAR_SIMILARITY = 0.55  # aligned correlation: copies reach 0.6 to 1, different scenes stay below 0.4
EXAMPLES_PER_PART = 5
_HINTS = 4  # windows of one benchmark image an alignment starts from: its nearest hashes
_HINT_SLACK = 4  # bits: ... those at most this much further than its nearest
_BATCH = 256  # training pairs fingerprinted before one lookup


@dataclass(frozen=True)
class Match:
    """A training pair found to duplicate a benchmark item."""

    kind: str
    part: str
    item: str
    training_key: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "part": self.part, "item": self.item, "training_key": self.training_key,
                **self.detail}


@dataclass
class PartCount:
    """For one part of the benchmark: how many items were checked, how many were hit by a
    training pair (by kind, and by any kind), and how many training pairs hit one (the same)."""

    part: str
    checked: int
    items: dict[str, int]
    pairs: dict[str, int]
    items_hit: int
    pairs_hit: int

    @property
    def task(self) -> str:
        return PARTS[self.part][0]

    def as_dict(self) -> dict[str, Any]:
        return {"part": self.part, "task": self.task, "what": PARTS[self.part][1], "checked": self.checked,
                "items_hit": self.items_hit, "items": dict(self.items), "pairs_hit": self.pairs_hit,
                "pairs": dict(self.pairs)}


@dataclass
class ContaminationReport:
    """What `contamination_report` found; `contaminated` when any item was hit."""

    training: dict[str, Any]
    benchmark: dict[str, Any]
    method: dict[str, Any]
    parts: list[PartCount]
    examples: list[Match]
    pairs_hit: int

    @property
    def contaminated(self) -> bool:
        return any(part.items_hit for part in self.parts)

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Per task: items checked and hit, and the hits by kind (items of its parts)."""
        summary: dict[str, dict[str, Any]] = {}
        for part in self.parts:
            task = summary.setdefault(part.task, {"checked": 0, "items_hit": 0, "items": dict.fromkeys(KINDS, 0)})
            task["checked"] += part.checked
            task["items_hit"] += part.items_hit
            for kind, count in part.items.items():
                task["items"][kind] += count
        return summary

    def record(self) -> dict[str, Any]:
        """The report as a training record keeps it (its `contamination`): per task, how many
        of its benchmark images (exact or near copies) and captions the training data holds."""
        tasks: dict[str, dict[str, int]] = {}
        for part in self.parts:
            counts = tasks.setdefault(part.task, {"images": 0, "captions": 0})
            counts["captions" if part.part == CAPTION_PART else "images"] += part.items_hit
        return {"contaminated": self.contaminated, "tasks": tasks,
                "examples": [match.as_dict() for match in self.examples]}

    def as_dict(self) -> dict[str, Any]:
        return {
            "contaminated": self.contaminated,
            "training": dict(self.training),
            "benchmark": dict(self.benchmark),
            "method": dict(self.method),
            "pairs_hit": self.pairs_hit,
            "tasks": self.tasks(),
            "parts": [part.as_dict() for part in self.parts],
            "examples": [match.as_dict() for match in self.examples],
        }


class _Scan:
    """Training pairs compared with the index, batch by batch; what was found so far."""

    def __init__(self, index: BenchmarkIndex, near_radius: int, near_similarity: float) -> None:
        self.index = index
        self.near_radius = near_radius
        self.near_similarity = near_similarity
        self.matches: list[Match] = []
        self.pairs = 0

    def add(self, batch: Sequence["TrainingPair"]) -> None:
        thumbs, digests = [], []
        for pair in batch:
            image = decode(pair.image_bytes, pair.key, "the training data",
                           "replace that pair's image with a readable one, or remove the pair")
            digests.append(fingerprints.pixel_digest(image))
            thumbs.append(fingerprints.thumbnail(image))
            self._caption(pair)
        exact = [set(self.index.digest_items.get(digest, ())) for digest in digests]
        for pair, items in zip(batch, exact):
            for item in sorted(items):
                self._found("exact", item, pair.key)
        hashes = np.concatenate([fingerprints.window_hashes(thumb, [fingerprints.FULL_WINDOW]) for thumb in thumbs])
        query, stored, distance = self.index.hashes.within(hashes, self.near_radius)
        for number in np.unique(query):
            rows = query == number
            self._near(batch[number], thumbs[number], exact[number], stored[rows], distance[rows])
        self.pairs += len(batch)

    def _caption(self, pair: "TrainingPair") -> None:
        for key, column in self.index.caption_items.get(normalise_caption(pair.caption), ()):
            self.matches.append(Match("caption", CAPTION_PART, key, pair.key, {"column": column}))

    def _near(self, pair: "TrainingPair", thumb: np.ndarray, exact: set[int], stored: np.ndarray,
              distance: np.ndarray) -> None:
        """Confirm (or not) each benchmark image with a window hash near the pair's hash."""
        owners = self.index.prints.owner[stored]
        band = fingerprints.band_view(thumb)
        for item in np.unique(owners):
            if int(item) in exact:
                continue
            mine = np.flatnonzero(owners == item)
            mine = mine[np.argsort(distance[mine], kind="stable")]
            closest = int(distance[mine[0]])
            hints = [self.index.window(int(stored[row])) for row in mine[:_HINTS]
                     if distance[row] <= closest + _HINT_SLACK]
            similarity, window = fingerprints.aligned_similarity(band, self.index.thumbnail(int(item)), hints,
                                                                 enough=self.near_similarity)
            if similarity >= self.near_similarity:
                self._found("near", int(item), pair.key, {"hamming": closest, "similarity": round(similarity, 4),
                                                          "window": [round(side, 4) for side in window]})

    def _found(self, kind: str, item: int, key: str, detail: dict[str, Any] | None = None) -> None:
        self.matches.append(Match(kind, self.index.part(item), self.index.item_id(item), key, detail or {}))


def _batches(pairs: Iterable["TrainingPair"], size: int) -> Iterable[list["TrainingPair"]]:
    iterator = iter(pairs)
    while batch := list(islice(iterator, size)):
        yield batch


def _count(index: BenchmarkIndex, matches: list[Match]) -> list[PartCount]:
    counted = []
    for part, checked in index.counts().items():
        mine = [match for match in matches if match.part == part]
        counted.append(PartCount(
            part, checked,
            items={kind: len({m.item for m in mine if m.kind == kind}) for kind in KINDS},
            pairs={kind: len({m.training_key for m in mine if m.kind == kind}) for kind in KINDS},
            items_hit=len({m.item for m in mine}),
            pairs_hit=len({m.training_key for m in mine}),
        ))
    return counted


def _examples(matches: list[Match], per_part: int) -> list[Match]:
    """Up to `per_part` matches of each part and kind, in the order they were found."""
    kept: dict[tuple[str, str], int] = {}
    examples = []
    for match in matches:
        key = (match.part, match.kind)
        if kept.get(key, 0) < per_part:
            kept[key] = kept.get(key, 0) + 1
            examples.append(match)
    return examples


def contamination_report(
    training_data: Iterable["TrainingPair"],
    benchmark: "Benchmark",
    *,
    tasks: Sequence[str] = BENCHMARK_TASKS,
    near_radius: int = NEAR_RADIUS,
    near_similarity: float = NEAR_SIMILARITY,
    examples: int = EXAMPLES_PER_PART,
    reporter: Reporter | None = None,
) -> ContaminationReport:
    """Compare every pair of `training_data` (any iterable of `TrainingPair`; a
    `TrainingData` also names itself in the report) with the items of `tasks` that
    `benchmark`'s scores depend on."""
    from threadpoolctl import threadpool_limits

    reporter = reporter or Reporter()
    index = benchmark_index(benchmark, tasks, reporter)
    scan = _Scan(index, near_radius, near_similarity)
    # The alignments are many small matrix products: one BLAS thread each is fastest.
    with threadpool_limits(limits=1, user_api="blas"), reporter.progress("Checking training pairs", None) as advance:
        for batch in _batches(training_data, _BATCH):
            scan.add(batch)
            advance(len(batch))
    return ContaminationReport(
        training={"name": getattr(training_data, "name", None), "revision": getattr(training_data, "revision", None),
                  "fingerprint": getattr(training_data, "fingerprint", None), "pairs": scan.pairs},
        benchmark={"name": benchmark.name, "datasets": [ref.as_dict() for ref in index.items.datasets]},
        method={"near_radius": near_radius, "near_similarity": near_similarity,
                "crop_trims": list(fingerprints.TRIMS), "caption_normalisation": "nfkc-casefold-alphanumeric"},
        parts=_count(index, scan.matches),
        examples=_examples(scan.matches, examples),
        pairs_hit=len({match.training_key for match in scan.matches}),
    )
