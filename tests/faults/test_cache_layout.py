"""Fault corpus, cache layout and identity: an entry is read in the layout its manifest
records whatever shard size is asked for now; a shard trusted by its stat still shows the
rows its layout gives it; embeddings of another dimension never reach scoring.

Each case changes a private copy of the clean run's cache (shards of 64 rows), then runs
`mars-zoo run` or `mars-zoo search` and checks the exit code, the message, the model calls
and that the numbers equal the clean run's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from boundary_helpers import assert_clean_error, cli
from data_faults import BATCH, MODEL, assert_one_paragraph_error, entry_dir, metrics, run_cli, shard_file
from mars_zoo.embedding.cache import VERIFIED_NAME
from mars_zoo.core.stat_memo import stat_key


def trusted(path: Path, array: np.ndarray | None = None, data: bytes | None = None) -> None:
    """Replace the shard at `path` (with `array`, or raw `data`) and make its checksum file
    and its entry's record of verified shards match the new file: damage that neither the
    checksum nor the stat would reveal."""
    if array is not None:
        np.save(path, array, allow_pickle=False)
    else:
        path.write_bytes(data)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    record_path = path.parent / VERIFIED_NAME
    record = json.loads(record_path.read_text())
    record["files"][path.name] = [*stat_key(path.stat()), digest]
    record_path.write_text(json.dumps(record))


def tiles(cache: Path) -> Path:
    return entry_dir(cache, "image", "mini-tiles")


def landforms(cache: Path) -> Path:
    return entry_dir(cache, "image", "Mars-Landforms")


def search(capsys, cache: Path, plugins: Path, out: Path):
    """`mars-zoo search` for pitted cones on the mini gallery, its page written to `out`."""
    return cli(capsys, "search", MODEL, "pitted cones", "--benchmark", "mini", "--plugins-dir", plugins,
               "--cache-dir", cache, "--json", "--out", out)


def test_search_reads_an_entry_of_64_row_shards_whole_and_a_default_size_run_reuses_it(clean, cache_copy, tmp_path,
                                                                                       capsys):
    """The clean run wrote its gallery in shards of 64 (--cache-shard-size 64); search asks
    for no shard size and must still see all 400 tiles, from the cache."""
    outcome = search(capsys, cache_copy, clean.plugins, tmp_path / "search")
    assert outcome.code == 0, outcome.err
    found = json.loads(outcome.out)
    assert found["gallery_tiles"] == 400 and found["model_calls"]["image"] == 0
    outcome = cli(capsys, "run", MODEL, "--plugins-dir", clean.plugins, "--out", tmp_path / "r.json",
                  "--cache-dir", cache_copy, "--benchmark", "mini", "--tasks", "geolocalization")
    assert outcome.code == 0, outcome.err
    assert "model calls: 0 image batches, 0 text batches" in " ".join(outcome.out.split())
    result = json.loads((tmp_path / "r.json").read_text())
    assert metrics(result) == {"geolocalization": metrics(clean.result)["geolocalization"]}


@pytest.mark.parametrize("size", ["16", "100", "4096"])
def test_a_run_asking_for_another_shard_size_reads_the_entry_in_its_own(size, clean, cache_copy, tmp_path, capsys):
    outcome = run_cli(capsys, cache_copy, tmp_path / "r.json", clean.plugins, "--cache-shard-size", size)
    assert outcome.code == 0 and outcome.calls == (0, 0), outcome.err
    assert metrics(outcome.result) == metrics(clean.result)


def _rows(count: int) -> Callable[[Path], None]:
    return lambda path: trusted(path, np.load(path)[:count])


def _header_says(rows: int) -> Callable[[Path], None]:
    """The .npy header edited to claim `rows` rows, the data left as it was."""
    def damage(path: Path) -> None:
        data = path.read_bytes()
        header_end = data.index(b"\n") + 1
        header = data[:header_end].replace(b"(64, ", f"({rows}, ".encode()).replace(b"(64,", f"({rows},".encode())
        trusted(path, data=header[: header_end - 1].ljust(header_end - 1) + b"\n" + data[header_end:])
    return damage


def _garbled_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0:6] = b"\x00NUMPY"  # the magic string
    trusted(path, data=bytes(data))


def _missing_tail(path: Path) -> None:
    trusted(path, data=path.read_bytes()[:-64])  # the header still promises 64 rows


# case: (damage to shard 3 of the gallery, made to pass its checksum and stat record; the warning)
TRUSTED_DAMAGE = {
    "too-few-rows": (_rows(48), "not 64 float32 rows"),
    "too-many-rows": (lambda path: trusted(path, np.concatenate([np.load(path)] * 2)), "not 64 float32 rows"),
    "float64": (lambda path: trusted(path, np.load(path).astype(np.float64)), "not 64 float32 rows"),
    "one-dimensional": (lambda path: trusted(path, np.load(path).ravel()), "not 64 float32 rows"),
    "no-columns": (lambda path: trusted(path, np.zeros((64, 0), dtype=np.float32)), "not 64 float32 rows"),
    "header-claims-other-rows": (_header_says(32), "not 64 float32 rows"),
    "header-garbled": (_garbled_header, "header is not readable"),
    "data-cut-short": (_missing_tail, "does not match the (64, 16) array its header describes"),
}


@pytest.mark.parametrize("case", sorted(TRUSTED_DAMAGE))
def test_a_shard_trusted_by_its_stat_still_shows_its_rows(case, clean, cache_copy, tmp_path, capsys):
    damage, reason = TRUSTED_DAMAGE[case]
    path = shard_file(tiles(cache_copy), 3)
    damage(path)
    outcome = run_cli(capsys, cache_copy, tmp_path / "r.json", clean.plugins, "--tasks", "geolocalization")
    assert outcome.code == 0, outcome.err
    assert outcome.calls == (64 // BATCH, 0)
    warning = " ".join(outcome.err.split())
    assert f"Cache shard {path} is damaged" in warning and reason in warning, warning
    assert metrics(outcome.result) == {"geolocalization": metrics(clean.result)["geolocalization"]}


def _manifest(cache: Path) -> Path:
    return landforms(cache) / "manifest.json"


def _edit_manifest(**changes) -> Callable[[Path], None]:
    def edit(cache: Path) -> None:
        record = json.loads(_manifest(cache).read_text())
        record.update(changes)
        _manifest(cache).write_text(json.dumps(record))
    return edit


def _foreign_fields(cache: Path) -> None:
    record = json.loads(_manifest(cache).read_text())
    record["fields"]["model"] = "fake/other"
    _manifest(cache).write_text(json.dumps(record))


# case: (change to the landform entry's manifest, the --cache-shard-size of the rerun, the
#        layout then used, the rows of each shard recomputed). The clean entry holds its 96
#        images in the files of rows 0-64 and 64-96: a shard of the layout used with the same
#        rows is one of them. A manifest that records a layout is believed, whatever it says.
MANIFEST = {
    "lost": (lambda cache: _manifest(cache).unlink(), "64", 64, []),
    "lost-other-size": (lambda cache: _manifest(cache).unlink(), "128", 128, [96]),
    "garbage-other-size": (lambda cache: _manifest(cache).write_bytes(b"\xff{"), "32", 32, [32, 32]),
    "records-another-size": (_edit_manifest(shard_size=32), "64", 32, [32, 32]),
    "records-no-size": (_edit_manifest(shard_size=None), "48", 48, [48, 48]),
    "of-another-entry": (_foreign_fields, "96", 96, [96]),
}


@pytest.mark.parametrize("case", sorted(MANIFEST))
def test_a_manifest_that_cannot_tell_the_layout_costs_only_the_shards_of_the_layout_used(
        case, clean, cache_copy, tmp_path, capsys):
    change, size, layout, recomputed = MANIFEST[case]
    change(cache_copy)
    outcome = cli(capsys, "run", MODEL, "--plugins-dir", clean.plugins, "--out", tmp_path / "r.json",
                  "--cache-dir", cache_copy, "--benchmark", "mini", "--tasks", "landform",
                  "--batch-size", str(BATCH), "--cache-shard-size", size)
    assert outcome.code == 0, outcome.err
    result = json.loads((tmp_path / "r.json").read_text())
    assert metrics(result) == {"landform": metrics(clean.result)["landform"]}
    calls = sum(-(-rows // BATCH) for rows in recomputed)
    assert f"model calls: {calls} image batches, 0 text batches" in " ".join(outcome.out.split())
    record = json.loads(_manifest(cache_copy).read_text())  # repaired: the next run reads this layout
    assert (record["shard_size"], record["items"]) == (layout, 96)


def test_a_shard_of_another_dimension_inside_an_entry_is_one_error_naming_the_entry(clean, cache_copy, tmp_path,
                                                                                   capsys):
    folder = tiles(cache_copy)
    path = shard_file(folder, 2)
    wider = np.load(path)
    trusted(path, np.concatenate([wider, wider], axis=1))  # sound on its own: 64 finite float32 rows
    outcome = run_cli(capsys, cache_copy, tmp_path / "r.json", clean.plugins, "--tasks", "geolocalization")
    assert_one_paragraph_error(outcome, 2, str(folder), "mixes embedding dimensions", "16, 32", "delete",
                               "--no-cache")


def test_cached_text_embeddings_of_another_dimension_never_meet_the_images(clean, cache_copy, tmp_path, capsys):
    """A text entry of 32 dimensions (as another version of the plugin wrote it) next to the
    model's 16-dimensional images: one error naming the entry, not a failed matrix product."""
    folder = entry_dir(cache_copy, "text", items=48)
    for path in sorted(folder.glob("shard-*.npy")):
        shard = np.load(path)
        trusted(path, np.concatenate([shard, shard], axis=1))
    outcome = run_cli(capsys, cache_copy, tmp_path / "r.json", clean.plugins, "--tasks", "paired")
    assert_one_paragraph_error(outcome, 2, str(folder), "32-dimensional text embeddings", "embedding_dim 16",
                               "delete", "--no-cache")


def test_search_with_cached_query_texts_of_another_dimension_is_one_error(clean, cache_copy, tmp_path, capsys):
    first = search(capsys, cache_copy, clean.plugins, tmp_path / "search")
    assert first.code == 0, first.err
    folder = entry_dir(cache_copy, "text", items=3)  # the query's three prompts
    for path in sorted(folder.glob("shard-*.npy")):
        trusted(path, np.load(path)[:, :8])
    outcome = search(capsys, cache_copy, clean.plugins, tmp_path / "search-again")
    assert_clean_error(outcome, 2, str(folder), "8-dimensional text embeddings", "delete", "--cache-dir")
