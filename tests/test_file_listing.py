"""The listing every local-data reader uses: the files os.walk and os.stat give, hidden
entries skipped, in byte order of their relative paths, with the stat of each; and the
suffix test used on it."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from mars_zoo.data.files import has_suffix, list_files
from mars_zoo.core.errors import MarsZooError
from listing_support import visible_files

NAMES = ["a", "a.png", "a0", "ab", "A", "Z.png", "\u00e9t\u00e9.png", "\u65e5.png", "b-c", "b.c"]


def _independent_listing(root):
    rows = []
    for relative, path in visible_files(root):
        stat = os.stat(path)
        rows.append((relative, [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]))
    return sorted(rows)


def test_the_listing_is_what_os_walk_and_stat_give(tmp_path):
    root = tmp_path / "data"
    rng = random.Random(0)
    folders = ["", "a/", "a/b/", "a.d/", "b/", "b/c/", ".hidden/", "files-only/"]
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for folder in folders:
        for name in rng.sample(NAMES, 6) + [".tmp-file"]:
            if not (root / folder / name).exists():
                (root / folder / name).write_bytes(b"x" * rng.randrange(100))
    (root / "files-only" / "late.png").write_bytes(b"late")
    os.utime(root / "files-only" / "late.png", ns=(1, -1_500_000_000_123))  # before 1970
    os.symlink(root / "b", root / "link-to-folder")  # listed as os.walk lists it: not followed
    os.symlink(root / "a.d" / os.listdir(root / "a.d")[0], root / "link-to-file")  # the file it names
    listing = list_files(root)
    expected = _independent_listing(root)
    assert [listing.relative(i) for i in range(len(listing))] == [relative for relative, _ in expected]
    assert listing.stats.tolist() == [stat for _, stat in expected]
    assert len(listing) > 30


def test_an_empty_folder_lists_nothing(tmp_path):
    listing = list_files(tmp_path)
    assert len(listing) == 0 and listing.stats.shape == (0, 4)


def test_a_dangling_link_is_an_error_naming_it(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ok.png").write_bytes(b"x")
    os.symlink(tmp_path / "gone.png", tmp_path / "sub" / "dangling.png")
    with pytest.raises(MarsZooError) as error:
        list_files(tmp_path)
    assert f"Cannot list {tmp_path / 'sub' / 'dangling.png'} in {tmp_path}" in str(error.value)


def test_a_suffix_in_any_case_as_lower_and_endswith_say():
    rng = random.Random(2)
    pieces = [b"a", b".", b"p", b"P", b"n", b"N", b"g", b"G", b"/", b"\xc3", b".png", b".PNG", b".pNg"]
    names = [b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 5))) for _ in range(5000)]
    names += [b"", b"png", b".png", b"x.png\xc3"]
    found = has_suffix(np.array(names, dtype=bytes), b".png")
    expected = [name.lower().endswith(b".png") for name in names]
    assert found.tolist() == expected and 500 < sum(expected) < 4500
    assert not has_suffix(np.array([b"ab"]), b".png").any() and not len(has_suffix(np.zeros(0, "S1"), b".png"))
