"""The revision of a local copy follows every byte of every file, and is cheap to
recompute because each file's digest is remembered with its stat values."""

import hashlib
import io
import os
import shutil

import numpy as np
import pytest

from mars_zoo.data import fingerprints
from mars_zoo.data.fingerprints import local_revision
from listing_support import visible_files


@pytest.fixture
def copy(mini_dir, tmp_path):
    return shutil.copytree(mini_dir / "Mars-Global-Geolocalization", tmp_path / "geo")


def _independent_revision(root):
    """The documented rule, computed here without the module: SHA-256 over each visible
    file's relative path, size and SHA-256 of its bytes, sorted by relative path."""
    rows = []
    for relative, path in visible_files(root):
        data = open(path, "rb").read()
        rows.append((relative, len(data), hashlib.sha256(data).hexdigest()))
    digest = hashlib.sha256()
    for relative, size, sha in sorted(rows):
        digest.update(f"{relative}\0{size}\0{sha}\n".encode())
    return "content-sha256:" + digest.hexdigest()


def test_revision_is_the_documented_hash_and_independent_of_location(copy, tmp_path):
    revision = local_revision(copy, tmp_path / "cache")
    assert revision == _independent_revision(copy)
    elsewhere = shutil.copytree(copy, tmp_path / "elsewhere")
    assert local_revision(elsewhere, tmp_path / "cache") == revision


def test_an_image_edited_in_place_changes_the_revision_even_with_its_mtime_restored(copy, tmp_path):
    cache = tmp_path / "cache"
    before = local_revision(copy, cache)
    image = sorted((copy / "image_queries" / "yardangs").iterdir())[0]
    stat = image.stat()
    data = bytearray(image.read_bytes())
    data[-20] ^= 0x01  # one bit, same size
    image.write_bytes(bytes(data))
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = local_revision(copy, cache)
    assert after != before and after == _independent_revision(copy)


def test_unchanged_files_are_not_read_again(copy, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = local_revision(copy, cache)
    hashed = []
    real = fingerprints.file_sha256
    monkeypatch.setattr(fingerprints, "file_sha256", lambda path: hashed.append(path) or real(path))
    assert local_revision(copy, cache) == first and hashed == []
    (copy / "ground_truth" / "yardangs.csv").write_text("lon,lat\n1.0,2.0\n")
    local_revision(copy, cache)
    assert hashed == [str(copy / "ground_truth" / "yardangs.csv")]


def _other_record(sidecar, **changes):
    """The sidecar's record with some arrays replaced, as bytes of an .npz."""
    with np.load(sidecar) as stored:
        arrays = {**{name: stored[name] for name in stored.files}, **changes}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


DAMAGE = {
    "empty": lambda sidecar: b"",
    "not-a-zip": lambda sidecar: b"PK\x03\x04{not json",
    "truncated": lambda sidecar: sidecar.read_bytes()[: sidecar.stat().st_size // 2],
    "another-root": lambda sidecar: _other_record(sidecar, root=np.array("/elsewhere")),
    "columns-disagree": lambda sidecar: _other_record(sidecar, sha256=np.zeros((1, 32), np.uint8)),
    "stats-of-floats": lambda sidecar: _other_record(sidecar, stats=np.zeros((0, 4))),
    "no-revision": lambda sidecar: _other_record(sidecar, revision=np.array("")),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_sidecar_only_costs_a_rehash(copy, tmp_path, damage, monkeypatch):
    cache = tmp_path / "cache"
    expected = local_revision(copy, cache)
    (sidecar,) = (cache / "fingerprints").glob("*.npz")
    sidecar.write_bytes(DAMAGE[damage](sidecar))
    hashed = []
    real = fingerprints.file_sha256
    monkeypatch.setattr(fingerprints, "file_sha256", lambda path: hashed.append(path) or real(path))
    assert local_revision(copy, cache) == expected
    assert len(hashed) == sum(len(files) for _, _, files in os.walk(copy))  # every file read again
    with np.load(sidecar) as stored:
        assert str(stored["root"]) == str(copy.resolve())


def test_a_forged_record_of_other_digests_is_not_believed_once_a_stat_differs(copy, tmp_path):
    """The recorded revision stands only while every path and stat is the record's."""
    cache = tmp_path / "cache"
    local_revision(copy, cache)
    (sidecar,) = (cache / "fingerprints").glob("*.npz")
    with np.load(sidecar) as stored:
        stats = stored["stats"].copy()
    stats[0, 1] += 1  # one file's mtime as if it had changed since
    sidecar.write_bytes(_other_record(sidecar, revision=np.array("content-sha256:" + "0" * 64), stats=stats))
    assert local_revision(copy, cache) == _independent_revision(copy)


def _hashing(monkeypatch):
    """The paths `local_revision` reads from now on."""
    hashed = []
    real = fingerprints.file_sha256
    monkeypatch.setattr(fingerprints, "file_sha256", lambda path: hashed.append(path) or real(path))
    return hashed


def test_a_gallery_of_png_folders_reads_only_what_changed(tmp_path, monkeypatch):
    """Many files in folders (the record's arrays compared at once): a later open reads
    none, and each change reads only the files it touched and gives the revision the
    documented rule gives."""
    tiles, cache = tmp_path / "tiles", tmp_path / "cache"
    for i in range(300):
        folder = tiles / f"{i // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"t{i:03d}.png").write_bytes(bytes([i % 256]) * (i % 7 + 1))
    hashed = _hashing(monkeypatch)
    first = local_revision(tiles, cache)
    assert first == _independent_revision(tiles) and len(hashed) == 300
    hashed.clear()
    assert local_revision(tiles, cache) == first and hashed == []

    edited = tiles / "01" / "t150.png"
    stat = edited.stat()
    edited.write_bytes(b"\xff" * stat.st_size)  # same size, mtime put back: the change time and inode still tell
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = local_revision(tiles, cache)
    assert hashed == [str(edited)] and second != first and second == _independent_revision(tiles)

    hashed.clear()
    (tiles / "01" / "t150b.png").write_bytes(b"new")  # a file more, between two known ones
    (tiles / "02" / "t299.png").unlink()  # and one less
    (tiles / "00" / "t000.png").rename(tiles / "00" / "t000-moved.png")  # and one renamed
    third = local_revision(tiles, cache)
    assert sorted(hashed) == [str(tiles / "00" / "t000-moved.png"), str(tiles / "01" / "t150b.png")]
    assert third == _independent_revision(tiles)
