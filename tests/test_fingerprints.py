"""The revision of a local copy follows every byte of every file, and is cheap to
recompute because each file's digest is remembered with its stat values."""

import hashlib
import json
import os
import shutil

import pytest

from mars_zoo.data import fingerprints
from mars_zoo.data.fingerprints import local_revision


@pytest.fixture
def copy(mini_dir, tmp_path):
    return shutil.copytree(mini_dir / "Mars-Global-Geolocalization", tmp_path / "geo")


def _independent_revision(root):
    """The documented rule, computed here without the module: SHA-256 over each visible
    file's relative path, size and SHA-256 of its bytes, sorted by relative path."""
    rows = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        for name in files:
            if not name.startswith("."):
                path = os.path.join(directory, name)
                data = open(path, "rb").read()
                rows.append((os.path.relpath(path, root).replace(os.sep, "/"), len(data), hashlib.sha256(data).hexdigest()))
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


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"root": "/elsewhere", "files": {}}', b"[1, 2]",
                                     b'{"root": null, "files": {"x": [1]}}'])
def test_a_damaged_sidecar_only_costs_a_rehash(copy, tmp_path, content):
    cache = tmp_path / "cache"
    expected = local_revision(copy, cache)
    sidecar = next((cache / "fingerprints").glob("*.json"))
    sidecar.write_bytes(content)
    assert local_revision(copy, cache) == expected
    assert json.loads(sidecar.read_text())["root"] == str(copy.resolve())
