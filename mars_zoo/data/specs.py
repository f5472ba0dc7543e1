"""The one definition of the MarsRetrieval benchmark data.

Every dataset id, pinned revision, split and required column lives here, once
(leaderboard/PROTOCOL.md). It only describes the data: `benchmark.open_benchmark` opens it, and
the writers, the Hub client and the mini benchmark read these definitions without
depending on the opening code.

Local layout of a data directory (each folder is exactly the Hub repository's files):

    DIR/Mars-VL-Pairs-MTEB/           task 1 frozen copy (parquet with image bytes)
    DIR/Mars-VL-Pairs/                task 1 original (parquet of image URLs)
    DIR/Mars-Landforms/               task 2 (parquet, Image + ClassLabel)
    DIR/Mars-Global-Geolocalization/  task 3 (ground_truth/, image_queries/, mars_map/)
    DIR/tiles/                        task 3 gallery (tar shards or PNG files)
"""

from __future__ import annotations

from dataclasses import dataclass

from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.protocol import PAIRED_CAPTION_COLUMNS

BENCHMARK_NAMES = ("marsretrieval", "mini")
PAIRED_SOURCES = ("frozen", "urls")


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the benchmark.

    `revision` is a pinned commit, or None for datasets the paper did not pin: those
    are resolved to a commit at first use and recorded, so later runs (and offline
    ones) keep scoring the same data.
    """

    name: str  # folder name in a local data directory
    repo_id: str
    revision: str | None
    split: str | None
    required: tuple[str, ...]  # columns (parquet) or folders (geo) a copy must have
    allow_patterns: tuple[str, ...]  # the repository files the benchmark uses
    task: str
    rows: int | None = None  # expected row count of the real dataset


PAIRS_FROZEN = DatasetSpec(
    name="Mars-VL-Pairs-MTEB",
    repo_id="Cerru02/Mars-VL-Pairs-MTEB",
    revision="f0084ab0ba2f584b15dc72a82502b38ee490f58d",
    split="test",
    required=("key", "image", *PAIRED_CAPTION_COLUMNS),
    allow_patterns=("data/*", "README.md"),
    task="paired",
    rows=2247,
)
PAIRS_URLS = DatasetSpec(
    name="Mars-VL-Pairs",
    repo_id="SUSTech/Mars-VL-Pairs",
    revision="1cac8885e481256d3752ad0d3a0f8f9681c5f206",
    split="train",
    required=("key", "image_url", *PAIRED_CAPTION_COLUMNS),
    allow_patterns=("data/*", "README.md"),
    task="paired",
    rows=2287,
)
LANDFORMS = DatasetSpec(
    name="Mars-Landforms",
    repo_id="SUSTech/Mars-Landforms",
    revision=None,
    split="train",
    required=("image", "label"),
    allow_patterns=("data/*", "README.md"),
    task="landform",
)
GEOLOCALIZATION = DatasetSpec(
    name="Mars-Global-Geolocalization",
    repo_id="SUSTech/Mars-Global-Geolocalization",
    revision=None,
    split=None,
    required=("ground_truth", "image_queries", "mars_map"),
    allow_patterns=("ground_truth/*", "image_queries/*", "mars_map/*"),
    task="geolocalization",
)
DATASETS = (PAIRS_FROZEN, PAIRS_URLS, LANDFORMS, GEOLOCALIZATION)
BENCHMARK_TASKS = tuple(dict.fromkeys(spec.task for spec in DATASETS))  # the tasks whose data these are

# The task 3 gallery is not on the Hub: it is cut from the CTX mosaic by `mars-zoo tiles build`.
TILES_DIRNAME = "tiles"
TILE_GALLERY_ID = "MurrayLab/CTX-Mosaic-V01/tiles-0.2deg-512px"
TILE_SHARD_SIZE = 1000  # tiles per tar shard of a built gallery

MINI_ID_PREFIX = "mars-zoo/mini-"


def datasets_for_tasks(tasks: list[str] | tuple[str, ...]) -> list[DatasetSpec]:
    """The datasets the given tasks read (task 1 reads both the frozen copy and the URL rows)."""
    unknown = [task for task in tasks if task not in BENCHMARK_TASKS]
    if unknown:
        raise MarsZooError(
            f"Unknown task(s) {', '.join(unknown)}: the benchmark's tasks are {', '.join(BENCHMARK_TASKS)}."
        )
    return [spec for spec in DATASETS if spec.task in tasks]


def find_dataset(name: str) -> DatasetSpec:
    """A dataset by repository id (`SUSTech/Mars-Landforms`) or folder name (`Mars-Landforms`)."""
    for spec in DATASETS:
        if name in (spec.repo_id, spec.name):
            return spec
    known = ", ".join(spec.repo_id for spec in DATASETS)
    raise MarsZooError(f"Unknown dataset {name!r}: the benchmark's datasets are {known}.")
