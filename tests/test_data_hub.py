"""The Hugging Face Hub branch: revisions, the HF cache, offline errors, `mars-zoo data`.

Nothing here reaches the network: the Hub's cache is built in a temporary folder in
the layout huggingface_hub itself writes (blobs, snapshot symlinks, refs), and the
real `snapshot_download` finds it there in offline mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from mars_zoo.cli import build_parser, main
from mars_zoo.data import hub
from mars_zoo.data.benchmark import open_benchmark
from mars_zoo.data.specs import GEOLOCALIZATION, LANDFORMS, PAIRS_FROZEN, PAIRS_URLS, TILES_DIRNAME
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.revision_record import RevisionRecord

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40
COMMIT_C = "c" * 40


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    path = tmp_path / "hf-hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return path


def cache_snapshot(
    hub_cache: Path, repo_id: str, commit: str, source: Path, ref: str | None = "main"
) -> Path:
    """Put `source`'s files into the HF cache as snapshot `commit` of dataset `repo_id`."""
    repo = hub_cache / f"datasets--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    for path in sorted(source.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
            blob.parent.mkdir(parents=True, exist_ok=True)
            blob.write_bytes(data)
            link = snapshot / path.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(blob, link.parent))
    if ref:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture
def cached_benchmark(hub_cache, mini_dir):
    """Every benchmark dataset in the HF cache: pinned ones at their pins, the others
    behind `main`."""
    for spec in (PAIRS_FROZEN, PAIRS_URLS):
        cache_snapshot(hub_cache, spec.repo_id, spec.revision, mini_dir / spec.name, ref=None)
    cache_snapshot(hub_cache, LANDFORMS.repo_id, COMMIT_A, mini_dir / LANDFORMS.name)
    cache_snapshot(hub_cache, GEOLOCALIZATION.repo_id, COMMIT_B, mini_dir / GEOLOCALIZATION.name)
    return hub_cache


def test_offline_without_cache_says_what_to_download(hub_cache, tmp_path):
    benchmark = open_benchmark(cache_dir=tmp_path / "cache")
    with pytest.raises(MarsZooError) as error:
        benchmark.landforms()
    message = str(error.value)
    fix = "mars-zoo data download --tasks landform"
    for expected in (LANDFORMS.repo_id, "HF_HUB_OFFLINE", fix, "--data-dir"):
        assert expected in message
    with pytest.raises(MarsZooError) as error:
        benchmark.paired()
    message = str(error.value)
    assert PAIRS_FROZEN.repo_id in message and PAIRS_FROZEN.revision in message
    assert "--tasks paired" in message and str(hub_cache) in message


def test_hub_branch_reads_cached_snapshots(cached_benchmark, mini_dir, tmp_path):
    cache_dir = tmp_path / "cache"
    benchmark = open_benchmark(tiles_dir=mini_dir / TILES_DIRNAME, cache_dir=cache_dir)

    pairs = benchmark.paired()
    assert pairs.dataset.id == PAIRS_FROZEN.repo_id and pairs.dataset.revision == PAIRS_FROZEN.revision
    assert pairs.dataset.location == f"hf://datasets/{PAIRS_FROZEN.repo_id}@{PAIRS_FROZEN.revision}"
    assert not pairs.dataset.synthetic and len(pairs.keys) == 48 and pairs.images[0].size == (512, 512)

    landforms = benchmark.landforms()
    assert landforms.dataset.revision == COMMIT_A and landforms.class_names[1] == "dune-field"
    geo = benchmark.geolocalization()
    assert geo.dataset.revision == COMMIT_B and len(geo.gallery.images) == 400
    recorded = json.loads((cache_dir / hub.REVISIONS_FILE).read_text())
    assert recorded == {LANDFORMS.repo_id: COMMIT_A, GEOLOCALIZATION.repo_id: COMMIT_B}

    # The recorded commit keeps being used after the branch moves (or its ref is gone).
    (cached_benchmark / f"datasets--{LANDFORMS.repo_id.replace('/', '--')}" / "refs" / "main").unlink()
    assert open_benchmark(cache_dir=cache_dir).landforms().dataset.revision == COMMIT_A


def test_revision_overrides(cached_benchmark, mini_dir, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(mini_dir / LANDFORMS.name, other)
    (other / "data" / "train-00001-of-00002.parquet").unlink()
    (other / "data" / "train-00000-of-00002.parquet").rename(other / "data" / "train-00000-of-00001.parquet")
    cache_snapshot(cached_benchmark, LANDFORMS.repo_id, COMMIT_C, other, ref="v2")

    cache_dir = tmp_path / "cache"
    by_commit = open_benchmark(revisions={"Mars-Landforms": COMMIT_C}, cache_dir=cache_dir).landforms()
    assert by_commit.dataset.revision == COMMIT_C and len(by_commit.labels) == 48
    by_tag = open_benchmark(revisions={LANDFORMS.repo_id: "v2"}, cache_dir=cache_dir).landforms()
    assert by_tag.dataset.revision == COMMIT_C
    assert not (cache_dir / hub.REVISIONS_FILE).exists()  # overrides are not recorded
    with pytest.raises(MarsZooError, match="revision nope"):
        open_benchmark(revisions={"Mars-Landforms": "nope"}, cache_dir=cache_dir).landforms()


def test_bad_revision_options(tmp_path):
    with pytest.raises(MarsZooError, match="Unknown dataset 'Mars-Rovers'"):
        open_benchmark(revisions={"Mars-Rovers": "main"}, cache_dir=tmp_path)
    with pytest.raises(MarsZooError, match="--data-dir"):
        open_benchmark(data_dir=tmp_path, revisions={"Mars-Landforms": "main"}, cache_dir=tmp_path)


def test_online_resolution_records_the_main_commit(hub_cache, tmp_path, monkeypatch):
    from huggingface_hub import HfApi, constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    asked = []

    def dataset_info(self, repo_id, revision=None):
        asked.append((repo_id, revision))
        return SimpleNamespace(sha=COMMIT_C)

    monkeypatch.setattr(HfApi, "dataset_info", dataset_info)
    assert hub.resolve_revision(LANDFORMS, None, tmp_path) == COMMIT_C
    assert hub.resolve_revision(LANDFORMS, None, tmp_path) == COMMIT_C
    assert asked == [(LANDFORMS.repo_id, "main")]  # resolved once, then read from the record
    assert hub.recorded_revisions(tmp_path) == {LANDFORMS.repo_id: COMMIT_C}
    assert hub.resolve_revision(PAIRS_FROZEN, None, tmp_path) == PAIRS_FROZEN.revision

    def unreachable(self, repo_id, revision=None):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(HfApi, "dataset_info", unreachable)
    with pytest.raises(MarsZooError, match="no route to host"):
        hub.resolve_revision(GEOLOCALIZATION, None, tmp_path)
    cache_snapshot(hub_cache, GEOLOCALIZATION.repo_id, COMMIT_B, tmp_path)  # just a ref, no files
    assert hub.resolve_revision(GEOLOCALIZATION, None, tmp_path) == COMMIT_B


def test_cli_info_lists_cached_revisions(cached_benchmark, mini_dir, tmp_path, capsys):
    assert main(["data", "info", "--json", "--cache-dir", str(tmp_path / "cache")]) == 0
    info = json.loads(capsys.readouterr().out)
    rows = {row["dataset"]: row for row in info["datasets"]}
    assert set(rows) == {PAIRS_FROZEN.repo_id, PAIRS_URLS.repo_id, LANDFORMS.repo_id, GEOLOCALIZATION.repo_id}
    assert rows[PAIRS_FROZEN.repo_id]["revision_source"] == "pinned"
    assert rows[LANDFORMS.repo_id]["revision"] is None  # not resolved yet
    (cached,) = rows[LANDFORMS.repo_id]["cached"]
    assert cached["revision"] == COMMIT_A and cached["refs"] == ["main"] and cached["size_on_disk"] > 0
    assert info["hf_hub_cache"] == str(cached_benchmark) and info["offline"] is True
    assert info["mini"] == {"path": str(tmp_path / "cache" / "mini-v1"), "exists": False, "size_on_disk": 0}

    assert main(["data", "info", "--cache-dir", str(mini_dir.parent)]) == 0
    table = capsys.readouterr().out
    assert f"Mini benchmark (SYNTHETIC): {mini_dir}" in table and f"{LANDFORMS.repo_id}@aaaaaaaaaaaa" in table


def test_cli_download(cached_benchmark, tmp_path, capsys):
    cache_dir = str(tmp_path / "cache")
    assert main(["data", "download", "--tasks", "landform,paired", "--cache-dir", cache_dir]) == 0
    assert hub.recorded_revisions(Path(cache_dir)) == {LANDFORMS.repo_id: COMMIT_A}
    shutil.rmtree(cached_benchmark / f"datasets--{GEOLOCALIZATION.repo_id.replace('/', '--')}")
    assert main(["data", "download", "--tasks", "geolocalization", "--cache-dir", cache_dir]) == 2
    assert "mars-zoo data download --tasks geolocalization" in capsys.readouterr().err
    for bad in (["--tasks", "pairs"], ["--revision", "Mars-Rovers=main"], ["--revision", "Mars-Landforms"]):
        with pytest.raises(SystemExit):
            main(["data", "download", *bad])


def test_run_and_download_parse_revisions_alike():
    parser = build_parser()
    for command in (["run", "openclip/tiny-random"], ["data", "download"]):
        args = parser.parse_args([*command, "--revision", "Mars-Landforms=v2"])
        assert args.revisions == [(LANDFORMS.repo_id, "v2")]
        for bad in ("Mars-Rovers=main", "Mars-Landforms", "=main"):
            with pytest.raises(SystemExit):
                parser.parse_args([*command, "--revision", bad])


def _record(cache_dir: Path, repo_id: str, commit: str) -> str:
    return RevisionRecord(cache_dir / hub.REVISIONS_FILE).record(repo_id, commit)


def _record_many(cache_dir: str, worker: int, count: int) -> None:
    for index in range(count):
        _record(Path(cache_dir), f"test/w{worker}-{index}", f"{worker:02d}{index:038d}")


def test_concurrent_runs_keep_every_recorded_revision(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_record_many, args=(str(tmp_path), w, 30)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    recorded = hub.recorded_revisions(tmp_path)
    assert len(recorded) == 4 * 30  # a read-modify-write without the lock loses some
    assert recorded["test/w3-29"] == f"03{29:038d}"


def test_a_revision_recorded_meanwhile_is_adopted(tmp_path):
    assert _record(tmp_path, LANDFORMS.repo_id, COMMIT_A) == COMMIT_A
    assert _record(tmp_path, LANDFORMS.repo_id, COMMIT_B) == COMMIT_A  # a second run, later
    assert hub.recorded_revisions(tmp_path) == {LANDFORMS.repo_id: COMMIT_A}


def test_a_recorded_dataset_revision_that_is_not_a_commit_is_refused(tmp_path):
    (tmp_path / hub.REVISIONS_FILE).write_text(json.dumps({LANDFORMS.repo_id: "main"}))
    with pytest.raises(MarsZooError) as error:
        hub.resolve_revision(LANDFORMS, None, tmp_path)
    message = " ".join(str(error.value).split())
    assert (f'Dataset {LANDFORMS.name} of task {LANDFORMS.task}: {tmp_path / hub.REVISIONS_FILE} records "main" '
            f"as the commit of repository {LANDFORMS.repo_id}") in message
    assert f'delete the entry "{LANDFORMS.repo_id}"' in message
