"""The one definition of the MarsRetrieval benchmark data, and `open_benchmark`.

Every dataset id, pinned revision, split and required column lives here, once
(PROTOCOL.md). The same `Benchmark` reads the Hugging Face Hub, a local directory
holding copies in the Hub layout (`data_dir`), or the embedded synthetic mini
benchmark, which is generated into exactly that local layout: one code path, so
what the tests exercise offline is what a GPU box runs against the Hub.

Local layout of `data_dir` (each folder is exactly the Hub repository's files):

    DIR/Mars-VL-Pairs-MTEB/           task 1 frozen copy (parquet with image bytes)
    DIR/Mars-VL-Pairs/                task 1 original (parquet of image URLs)
    DIR/Mars-Landforms/               task 2 (parquet, Image + ClassLabel)
    DIR/Mars-Global-Geolocalization/  task 3 (ground_truth/, image_queries/, mars_map/)
    DIR/tiles/                        task 3 gallery (tar shards or PNG files)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mars_zoo.cache import default_cache_dir
from mars_zoo.errors import MarsZooError
from mars_zoo.protocol import PAIRED_CAPTION_COLUMNS, PAIRED_DEFAULT_CAPTION, TASK_NAMES
from mars_zoo.reporting import Reporter

if TYPE_CHECKING:  # pragma: no cover
    from mars_zoo.data.types import DatasetRef, GeoData, LandformData, PairsData, TileGallery

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

# The task 3 gallery is not on the Hub: it is cut from the CTX mosaic by `mars-zoo tiles build`.
TILES_DIRNAME = "tiles"
TILE_GALLERY_ID = "MurrayLab/CTX-Mosaic-V01/tiles-0.2deg-512px"
TILE_SHARD_SIZE = 1000  # tiles per tar shard of a built gallery

MINI_ID_PREFIX = "mars-zoo/mini-"


def datasets_for_tasks(tasks: list[str] | tuple[str, ...]) -> list[DatasetSpec]:
    """The datasets the given tasks read (task 1 reads both the frozen copy and the URL rows)."""
    unknown = [task for task in tasks if task not in TASK_NAMES]
    if unknown:
        raise MarsZooError(
            f"Unknown task(s) {', '.join(unknown)}: the benchmark's tasks are {', '.join(TASK_NAMES)}."
        )
    return [spec for spec in DATASETS if spec.task in tasks]


def find_dataset(name: str) -> DatasetSpec:
    """A dataset by repository id (`SUSTech/Mars-Landforms`) or folder name (`Mars-Landforms`)."""
    for spec in DATASETS:
        if name in (spec.repo_id, spec.name):
            return spec
    known = ", ".join(spec.repo_id for spec in DATASETS)
    raise MarsZooError(f"Unknown dataset {name!r}: the benchmark's datasets are {known}.")


@dataclass
class _Located:
    """A dataset copy on disk, and how to name it in result files."""

    path: Path
    ref: "DatasetRef"


class Benchmark:
    """The three tasks' data, from the Hub, a local directory, or the mini benchmark."""

    def __init__(
        self,
        name: str,
        data_dir: Path | None,
        tiles_dir: Path | None,
        revisions: dict[str, str],
        cache_dir: Path,
        reporter: Reporter,
    ) -> None:
        self.name = name
        self.synthetic = name == "mini"
        self.data_dir = data_dir
        self.tiles_dir = tiles_dir
        self.revisions = revisions
        self.cache_dir = cache_dir
        self.reporter = reporter

    def __repr__(self) -> str:
        where = self.data_dir or "the Hugging Face Hub"
        return f"Benchmark({self.name!r}, data from {where})"

    def _locate(self, spec: DatasetSpec) -> _Located:
        from mars_zoo.data import hub, hub_format, readers
        from mars_zoo.data.types import DatasetRef

        if self.data_dir is None:
            revision = hub.resolve_revision(spec, self.revisions.get(spec.repo_id), self.cache_dir)
            path = hub.snapshot(spec, revision, self.reporter)
            ref = DatasetRef(spec.repo_id, revision, spec.split, f"hf://datasets/{spec.repo_id}@{revision}")
            return _Located(path, ref)
        path = self.data_dir / spec.name
        readers.require_dir(path, f"The local copy of {spec.repo_id}", self._local_fix(spec))
        synthetic = self.synthetic or hub_format.is_synthetic(path)
        dataset_id = MINI_ID_PREFIX + spec.name if synthetic else spec.repo_id
        ref = DatasetRef(dataset_id, readers.content_fingerprint(path), spec.split, str(path), synthetic)
        return _Located(path, ref)

    def _local_fix(self, spec: DatasetSpec) -> str:
        if self.synthetic:
            return f"delete {self.data_dir} so the mini benchmark is generated again"
        return (
            f"put a copy of the Hub repository {spec.repo_id} (its files, same layout) in "
            f"{self.data_dir / spec.name}, or run without --data-dir to read the Hub"
        )

    def _check_rows(self, spec: DatasetSpec, dataset: "DatasetRef", rows: int) -> None:
        """Warn when a copy of the real data has another row count than the benchmark's.
        Generated data (the mini benchmark, or a copy of it read through --data-dir) is
        known to differ and is recorded as synthetic, so it is not warned about."""
        if not dataset.synthetic and spec.rows is not None and rows != spec.rows:
            self.reporter.warn(
                f"{spec.repo_id} has {rows} rows where the benchmark defines {spec.rows}; results "
                f"will not be comparable with the leaderboard."
            )

    def _report_missing(self, data: "PairsData") -> "PairsData":
        if data.missing:
            self.reporter.warn(
                f"{len(data.missing)} of {data.source_rows} pairs of {data.dataset.id} cannot be "
                f"evaluated (no caption, or an image that is missing, unreachable or does not "
                f"decode); they are reported as missing."
            )
        return data

    def paired(self, caption_column: str = PAIRED_DEFAULT_CAPTION, source: str = "frozen") -> "PairsData":
        """Task 1 pairs: from the frozen copy with image bytes (default, what the MTEB task
        uses), or from the original rows with images fetched from their URLs."""
        from mars_zoo.data import readers

        if caption_column not in PAIRED_CAPTION_COLUMNS:
            raise MarsZooError(
                f"Unknown caption column {caption_column!r}: use one of {', '.join(PAIRED_CAPTION_COLUMNS)}."
            )
        if source not in PAIRED_SOURCES:
            raise MarsZooError(f"Unknown pairs source {source!r}: use one of {', '.join(PAIRED_SOURCES)}.")
        if source == "frozen":
            located = self._locate(PAIRS_FROZEN)
            data = readers.read_pairs_frozen(located.path, located.ref, caption_column)
            self._check_rows(PAIRS_FROZEN, located.ref, data.source_rows)
            return self._report_missing(data)
        located = self._locate(PAIRS_URLS)
        rows = readers.read_pairs_urls(located.path, located.ref)
        self._check_rows(PAIRS_URLS, located.ref, len(rows.keys))
        # Fetched images are cached by URL, so every copy of the rows shares them.
        return self._report_missing(
            readers.fetch_pairs(rows, caption_column, self.cache_dir / "url-images", self.reporter)
        )

    def landforms(self) -> "LandformData":
        """Task 2: every landform image with its class label."""
        from mars_zoo.data import readers

        located = self._locate(LANDFORMS)
        return readers.read_landforms(located.path, located.ref, self.reporter)

    def geolocalization(self) -> "GeoData":
        """Task 3: ground truth and query images per landform, and the tile gallery."""
        from mars_zoo.data import readers

        gallery = self.tile_gallery()
        located = self._locate(GEOLOCALIZATION)
        return readers.read_geolocalization(located.path, located.ref, gallery)

    def tile_gallery(self) -> "TileGallery":
        """Task 3's gallery alone: `tiles_dir`, else DIR/tiles of the local data."""
        from mars_zoo.data import hub_format, readers

        tiles_dir = self.tiles_dir or (self.data_dir / TILES_DIRNAME if self.data_dir else None)
        if tiles_dir is None:
            raise MarsZooError(
                "The geo-localization gallery (CTX mosaic tiles) is not on the Hugging Face Hub: "
                "build it from the CTX mosaic with `mars-zoo tiles build` and pass --tiles DIR (tar "
                "shards or PNG files named E{lon}_N{lat}.png), or --data-dir DIR with the tiles in DIR/tiles."
            )
        synthetic = self.synthetic or hub_format.is_synthetic(Path(tiles_dir))
        gallery_id = MINI_ID_PREFIX + TILES_DIRNAME if synthetic else TILE_GALLERY_ID
        return readers.read_tile_gallery(tiles_dir, gallery_id, synthetic, self.reporter)


def open_benchmark(
    name: str = "marsretrieval",
    data_dir: Path | None = None,
    tiles_dir: Path | None = None,
    revisions: dict[str, str] | None = None,
    cache_dir: Path | None = None,
    reporter: Reporter | None = None,
) -> Benchmark:
    """Open the benchmark's data. Nothing is read until a task asks for it.

    `name="mini"` generates the synthetic mini benchmark into the cache on first use
    (a SYNTHETIC TEST BENCHMARK, not Mars data). `data_dir` reads local copies in the
    Hub layout instead of the Hub; `tiles_dir` overrides where the gallery is read
    from; `revisions` overrides Hub revisions (keys: repository id or folder name).
    """
    reporter = reporter or Reporter()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if name not in BENCHMARK_NAMES:
        raise MarsZooError(f"Unknown benchmark {name!r}: use one of {', '.join(BENCHMARK_NAMES)}.")
    overrides = {find_dataset(key).repo_id: value for key, value in (revisions or {}).items()}
    if name == "mini":
        from mars_zoo.data.mini import ensure_mini

        if data_dir is not None or tiles_dir is not None or overrides:
            raise MarsZooError(
                "The mini benchmark is generated by mars-zoo and takes no --data-dir, --tiles or "
                "--revision; drop them, or use --benchmark marsretrieval for your own data."
            )
        mini_dir = ensure_mini(cache_dir, reporter)
        return Benchmark(name, mini_dir, None, {}, cache_dir, reporter)
    if data_dir is not None and overrides:
        raise MarsZooError(
            "--revision selects Hub revisions and has no meaning with --data-dir (a local copy is "
            "identified by a fingerprint of its content); drop one of them."
        )
    return Benchmark(
        name,
        Path(data_dir) if data_dir is not None else None,
        Path(tiles_dir) if tiles_dir is not None else None,
        overrides,
        cache_dir,
        reporter,
    )
