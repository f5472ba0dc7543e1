"""`open_benchmark`: the benchmark's data opened from the Hub, a local directory, or
the embedded synthetic mini benchmark.

The datasets themselves are defined in `specs`. The same `Benchmark` reads the
Hugging Face Hub, a local directory holding copies in the Hub layout (`data_dir`,
laid out as `specs` describes), or the mini benchmark, which is generated into
exactly that local layout: one code path, so what the tests exercise offline is what
a GPU box runs against the Hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mars_zoo.data import hub, hub_format
from mars_zoo.data.files import require_dir
from mars_zoo.data.fingerprints import local_revision
from mars_zoo.data.geo_readers import read_geolocalization
from mars_zoo.data.mini import ensure_mini
from mars_zoo.data.images import PUBLISHED_PREPARATION
from mars_zoo.data.parquet_readers import fetch_pairs, read_landforms, read_pairs_frozen, read_pairs_urls
from mars_zoo.data.specs import (
    BENCHMARK_NAMES,
    GEOLOCALIZATION,
    LANDFORMS,
    MINI_ID_PREFIX,
    PAIRED_SOURCES,
    PAIRS_FROZEN,
    PAIRS_URLS,
    TILE_GALLERY_ID,
    TILES_DIRNAME,
    DatasetSpec,
    find_dataset,
)
from mars_zoo.data.tile_gallery import read_tile_gallery
from mars_zoo.data.types import DatasetRef, GeoData, LandformData, PairsData, TileGallery
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.folders import default_cache_dir, ensure_folder
from mars_zoo.core.protocol import PAIRED_CAPTION_COLUMNS, PAIRED_DEFAULT_CAPTION
from mars_zoo.core.reporting import Reporter


@dataclass
class _Located:
    """A dataset copy on disk, and how to name it in result files."""

    path: Path
    ref: DatasetRef


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
        if self.data_dir is None:
            revision = hub.resolve_revision(spec, self.revisions.get(spec.repo_id), self.cache_dir)
            path = hub.snapshot(spec, revision, self.reporter)
            ref = DatasetRef(spec.repo_id, revision, spec.split, f"hf://datasets/{spec.repo_id}@{revision}")
            return _Located(path, ref)
        path = self.data_dir / spec.name
        require_dir(path, f"The local copy of {spec.repo_id}", self._local_fix(spec))
        synthetic = self.synthetic or hub_format.is_synthetic(path)
        dataset_id = MINI_ID_PREFIX + spec.name if synthetic else spec.repo_id
        ref = DatasetRef(dataset_id, local_revision(path, self.cache_dir, self.reporter), spec.split, str(path), synthetic)
        return _Located(path, ref)

    def _local_fix(self, spec: DatasetSpec) -> str:
        if self.synthetic:
            return f"delete {self.data_dir} so the mini benchmark is generated again"
        return (
            f"put a copy of the Hub repository {spec.repo_id} (its files, same layout) in "
            f"{self.data_dir / spec.name}, or run without --data-dir to read the Hub"
        )

    def _check_rows(self, spec: DatasetSpec, dataset: DatasetRef, rows: int) -> None:
        """Warn when a copy of the real data has another row count than the benchmark's.
        Generated data (the mini benchmark, or a copy of it read through --data-dir) is
        known to differ and is recorded as synthetic, so it is not warned about."""
        if not dataset.synthetic and spec.rows is not None and rows != spec.rows:
            self.reporter.warn(
                f"{spec.repo_id} has {rows} rows where the benchmark defines {spec.rows}; results "
                f"will not be comparable with the leaderboard."
            )

    def _report_missing(self, data: PairsData) -> PairsData:
        if not data.keys:
            raise MarsZooError(
                f"None of the {data.source_rows} pairs of {data.dataset.id} ({data.dataset.location}) can be "
                f"evaluated: every row lacks a caption or an image that can be fetched and decoded. Fix: "
                f"check the copy (or, with --pairs-source urls, the network), or use --pairs-source frozen."
            )
        if data.missing:
            self.reporter.warn(
                f"{len(data.missing)} of {data.source_rows} pairs of {data.dataset.id} cannot be "
                f"evaluated (no caption, or an image that is missing, unreachable or does not "
                f"decode); they are reported as missing."
            )
        return data

    def paired(
        self, caption_column: str = PAIRED_DEFAULT_CAPTION, source: str = "frozen",
        preparation: str = PUBLISHED_PREPARATION,
    ) -> PairsData:
        """Task 1 pairs: from the frozen copy with image bytes (default, what the MTEB task
        uses), or from the original rows with images fetched from their URLs. `preparation` is
        how the frozen copy's images are prepared (the fetched ones always the published way)."""
        if caption_column not in PAIRED_CAPTION_COLUMNS:
            raise MarsZooError(
                f"Unknown caption column {caption_column!r}: use one of {', '.join(PAIRED_CAPTION_COLUMNS)}."
            )
        if source not in PAIRED_SOURCES:
            raise MarsZooError(f"Unknown pairs source {source!r}: use one of {', '.join(PAIRED_SOURCES)}.")
        if source == "frozen":
            located = self._locate(PAIRS_FROZEN)
            data = read_pairs_frozen(located.path, located.ref, caption_column, self.cache_dir, preparation)
            self._check_rows(PAIRS_FROZEN, located.ref, data.source_rows)
            return self._report_missing(data)
        located = self._locate(PAIRS_URLS)
        rows = read_pairs_urls(located.path, located.ref, self.cache_dir)
        self._check_rows(PAIRS_URLS, located.ref, len(rows.keys))
        # Fetched images are cached by URL, so every copy of the rows shares them.
        return self._report_missing(
            fetch_pairs(rows, caption_column, ensure_folder(self.cache_dir / "url-images", "the fetched-image cache"),
                        self.reporter)
        )

    def landforms(self) -> LandformData:
        """Task 2: every landform image with its class label."""
        located = self._locate(LANDFORMS)
        return read_landforms(located.path, located.ref, self.reporter, self.cache_dir)

    def geolocalization(self) -> GeoData:
        """Task 3: ground truth and query images per landform, and the tile gallery."""
        gallery = self.tile_gallery()
        located = self._locate(GEOLOCALIZATION)
        return read_geolocalization(located.path, located.ref, gallery)

    def tile_gallery(self) -> TileGallery:
        """Task 3's gallery alone: `tiles_dir`, else DIR/tiles of the local data."""
        tiles_dir = self.tiles_dir or (self.data_dir / TILES_DIRNAME if self.data_dir else None)
        if tiles_dir is None:
            raise MarsZooError(
                "The geo-localization gallery (CTX mosaic tiles) is not on the Hugging Face Hub: "
                "build it from the CTX mosaic with `mars-zoo tiles build` and pass --tiles DIR (tar "
                "shards or PNG files named E{lon}_N{lat}.png), or --data-dir DIR with the tiles in DIR/tiles."
            )
        synthetic = self.synthetic or hub_format.is_synthetic(Path(tiles_dir))
        gallery_id = MINI_ID_PREFIX + TILES_DIRNAME if synthetic else TILE_GALLERY_ID
        return read_tile_gallery(tiles_dir, gallery_id, synthetic, self.reporter, self.cache_dir)


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
    cache_dir = ensure_folder(Path(cache_dir) if cache_dir is not None else default_cache_dir(), "the mars-zoo cache")
    if name not in BENCHMARK_NAMES:
        raise MarsZooError(f"Unknown benchmark {name!r}: use one of {', '.join(BENCHMARK_NAMES)}.")
    overrides = {find_dataset(key).repo_id: value for key, value in (revisions or {}).items()}
    if name == "mini":
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
