"""Fault corpus, cache damage: a damaged embedding cache is detected and recomputed
(with a warning naming the shard and exactly the model calls that shard needs), and a
cache folder the file system will not let us use is one clear error.

Each case damages a private copy of a clean run's cache, reruns one task, and checks
the exit code, the message, the model calls, and that the metrics equal the clean run's.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from data_faults import BATCH, assert_one_paragraph_error, entry_dir, metrics, run_cli, shard_file

# Which shard of which cache entry a case damages, and the task that reads it.
TARGETS = {
    "landform-0": ("landform", lambda cache: entry_dir(cache, "image", "Mars-Landforms"), 0, 64),
    "landform-1": ("landform", lambda cache: entry_dir(cache, "image", "Mars-Landforms"), 1, 32),
    "captions": ("paired", lambda cache: entry_dir(cache, "text", items=48), 0, 48),
    "tiles-3": ("geolocalization", lambda cache: entry_dir(cache, "image", "mini-tiles"), 3, 64),
    "query": ("geolocalization", lambda cache: entry_dir(cache, "image", "Geolocalization", "pitted_cones"), 0, 3),
}


def _calls(rows: int) -> int:
    return -(-rows // BATCH)


def flip_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10
    path.write_bytes(bytes(data))


def rewrite(path: Path, array: np.ndarray, fix_checksum: bool = False) -> None:
    np.save(path, array, allow_pickle=False)
    if fix_checksum:  # damage that a checksum alone would not catch
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")


def with_value(value: float) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        array = np.load(path)
        array[len(array) // 2, 0] = value
        rewrite(path, array)
    return damage


def swap_with_next(path: Path) -> None:
    """Shards 3 and 4 trade places, each with its own checksum file."""
    shards = sorted(path.parent.glob("shard-*.npy"))
    other = shards[shards.index(path) + 1]
    for suffix in ("", ".sha256"):
        a, b = Path(f"{path}{suffix}"), Path(f"{other}{suffix}")
        tmp = a.with_name("swap")
        a.rename(tmp), b.rename(a), tmp.rename(b)


@dataclass
class Recovered:
    """The run succeeds, warns about `reason` for the damaged shard(s), and recomputes
    exactly the damaged rows; `warned=False` where nothing was damaged (a missing file)."""

    reason: str
    shards: int = 1
    warned: bool = True


RECOVERIES = {
    "bit-flip-image": ("landform-0", flip_bit, Recovered("do not match its checksum")),
    "bit-flip-text": ("captions", flip_bit, Recovered("do not match its checksum")),
    "bit-flip-tiles": ("tiles-3", flip_bit, Recovered("do not match its checksum")),
    "truncated-half": ("landform-0", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
                       Recovered("do not match its checksum")),
    "truncated-header": ("landform-1", lambda p: p.write_bytes(p.read_bytes()[:20]), Recovered("checksum")),
    "empty": ("landform-0", lambda p: p.write_bytes(b""), Recovered("do not match its checksum")),
    "nan": ("query", with_value(np.nan), Recovered("do not match its checksum")),
    "inf": ("captions", with_value(np.inf), Recovered("do not match its checksum")),
    "zeroed": ("landform-1", lambda p: rewrite(p, np.zeros_like(np.load(p))), Recovered("checksum")),
    "swapped": ("tiles-3", swap_with_next, Recovered("belongs to shard-000000", shards=2)),
    "checksum-deleted": ("landform-0", lambda p: p.with_name(p.name + ".sha256").unlink(),
                         Recovered("no readable checksum")),
    "checksum-empty": ("landform-1", lambda p: p.with_name(p.name + ".sha256").write_bytes(b""),
                       Recovered("no readable checksum")),
    "checksum-garbage": ("landform-1", lambda p: p.with_name(p.name + ".sha256").write_bytes(b"\xff\xfe\x00"),
                         Recovered("no readable checksum")),
    "float64-checksummed": ("landform-1", lambda p: rewrite(p, np.load(p).astype(np.float64), True),
                            Recovered("not 32 float32 rows")),
    "short-checksummed": ("landform-1", lambda p: rewrite(p, np.load(p)[:-1], True), Recovered("not 32 float32 rows")),
    "nan-checksummed": ("query", lambda p: rewrite(p, np.full_like(np.load(p), np.nan), True),
                        Recovered("non-finite values")),
    "not-npy-checksummed": ("landform-1", lambda p: (p.write_bytes(b"not an array" * 10), rewrite_checksum(p)),
                            Recovered("not a readable .npy array")),
    "shard-deleted": ("landform-0", lambda p: p.unlink(), Recovered("", warned=False)),
}


def rewrite_checksum(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")


@pytest.mark.parametrize("case", sorted(RECOVERIES))
def test_a_damaged_shard_is_recomputed_with_a_warning(case, clean, cache_copy, tmp_path, capsys):
    target, damage, expected = RECOVERIES[case]
    task, find, shard, rows = TARGETS[target]
    path = shard_file(find(cache_copy), shard)
    damage(path)
    outcome = run_cli(capsys, cache_copy, tmp_path / "r.json", clean.plugins, "--tasks", task)
    assert outcome.code == 0, outcome.err
    assert metrics(outcome.result) == {task: metrics(clean.result)[task]}
    modality = 1 if target == "captions" else 0
    assert outcome.calls[modality] == expected.shards * _calls(rows) and outcome.calls[1 - modality] == 0
    warnings = " ".join(outcome.err.split())
    assert ("is damaged" in warnings) == expected.warned, warnings
    if expected.warned:
        for needle in (f"Cache shard {path} is damaged", expected.reason, "recomputed"):
            assert needle in warnings, needle
    assert "Traceback" not in outcome.err


def _leftovers(cache: Path) -> None:
    directory = entry_dir(cache, "image", "Mars-Landforms")
    (directory / f".{shard_file(directory, 0).name}.abc123.tmp").write_bytes(b"half a shard")
    (directory / f".{shard_file(directory, 1).name}.sha256.def456.tmp").write_bytes(b"")


NO_CALLS = {
    "manifest-deleted": lambda cache: (entry_dir(cache, "image", "Mars-Landforms") / "manifest.json").rename(
        cache / "moved-manifest.json"),
    "temporaries-left-behind": _leftovers,
    "fingerprints-garbage": lambda cache: [p.write_bytes(b"\x00{") for p in (cache / "fingerprints").glob("*.npz")],
    "fingerprints-deleted": lambda cache: shutil.rmtree(cache / "fingerprints"),
}


@pytest.mark.parametrize("case", sorted(NO_CALLS))
def test_damage_outside_the_shards_costs_no_model_call(case, clean, cache_copy, tmp_path, capsys):
    NO_CALLS[case](cache_copy)
    outcome = run_cli(capsys, cache_copy, tmp_path / "r.json", clean.plugins, "--tasks", "landform")
    assert outcome.code == 0 and outcome.calls == (0, 0), outcome.err
    assert metrics(outcome.result) == {"landform": metrics(clean.result)["landform"]}


def _replace_with_file(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    path.unlink(missing_ok=True)
    path.write_text("not a folder")


def _folder_for_shard(cache: Path) -> Path:
    shard = shard_file(entry_dir(cache, "image", "Mars-Landforms"), 0)
    shard.unlink()
    shard.mkdir()
    return shard


FILESYSTEM = {
    # case: (what to break (returns the path the message must name), the --cache-dir to pass, message)
    "cache-is-a-file": (lambda cache: _replace_with_file(cache) or cache, None, "is a file where a folder belongs"),
    "embeddings-is-a-file": (lambda cache: _replace_with_file(cache / "embeddings") or cache / "embeddings", None,
                             "is a file where a folder belongs"),
    "model-folder-is-a-file": (lambda cache: _replace_with_file(cache / "embeddings" / "fake__good")
                               or cache / "embeddings" / "fake__good", None, "is a file where a folder belongs"),
    "fingerprints-is-a-file": (lambda cache: _replace_with_file(cache / "fingerprints") or cache / "fingerprints",
                               None, "is a file where a folder belongs"),
    "mini-is-a-file": (lambda cache: _replace_with_file(cache / "mini-v1") or cache / "mini-v1", None,
                       "is a file where a folder belongs"),
    "shard-is-a-folder": (_folder_for_shard, None, "folder where a file belongs"),
    "cache-not-writable": (lambda cache: Path("/sys/mars-zoo-cache"), Path("/sys/mars-zoo-cache"),
                           "permission denied"),
    "cache-below-a-file": (lambda cache: _replace_with_file(cache / "blocker") or cache / "blocker",
                           Path("blocker/cache"), "is a file where a folder belongs"),
    "fetched-images-is-a-file": (lambda cache: _replace_with_file(cache / "url-images") or cache / "url-images",
                                 None, "is a file where a folder belongs"),
}
# The task each case runs (the fetched-image cache is read by task 1 from the image URLs).
FILESYSTEM_ARGS = {"fetched-images-is-a-file": ("--tasks", "paired", "--pairs-source", "urls")}


@pytest.mark.parametrize("case", sorted(FILESYSTEM))
def test_a_cache_folder_the_file_system_refuses_is_one_clear_error(case, clean, cache_copy, tmp_path, capsys):
    breaks, cache_arg, needle = FILESYSTEM[case]
    named = breaks(cache_copy)
    cache = cache_copy / cache_arg if cache_arg is not None and not cache_arg.is_absolute() else cache_arg
    args = FILESYSTEM_ARGS.get(case, ("--tasks", "landform"))
    outcome = run_cli(capsys, cache or cache_copy, tmp_path / "r.json", clean.plugins, *args)
    assert_one_paragraph_error(outcome, 2, str(named), needle, "--cache-dir")
    if named.is_file():
        assert named.read_text() == "not a folder"  # what was there is left alone


def _failing_write(code: int):
    def write(path, data):
        raise OSError(code, os.strerror(code), str(path))
    return write


DISK = {
    # case: (module whose atomic writes fail, errno, what the message names)
    "disk-full-writing-a-shard": ("mars_zoo.embedding.cache", errno.ENOSPC, "an embedding cache shard"),
    "read-only-writing-a-shard": ("mars_zoo.embedding.cache", errno.EROFS, "an embedding cache shard"),
    "disk-full-writing-fingerprints": ("mars_zoo.data.fingerprints", errno.ENOSPC, "the fingerprints"),
}


@pytest.mark.parametrize("case", sorted(DISK))
def test_a_disk_that_refuses_a_write_is_one_clear_error_and_loses_nothing(case, clean, cache_copy, tmp_path,
                                                                          capsys, monkeypatch):
    module, code, what = DISK[case]
    entry = entry_dir(cache_copy, "image", "Mars-Landforms")
    shard_file(entry, 1).unlink()  # so that a shard must be written
    kept = shard_file(entry, 0).read_bytes()
    shutil.rmtree(cache_copy / "fingerprints")  # so that the fingerprints must be written
    monkeypatch.setattr(f"{module}.atomic_write_bytes", _failing_write(code))
    outcome = run_cli(capsys, cache_copy, tmp_path / "r.json", clean.plugins, "--tasks", "landform")
    assert_one_paragraph_error(outcome, 2, f"Cannot write {what}", os.strerror(code), "--cache-dir")
    assert shard_file(entry, 0).read_bytes() == kept
