"""The one rule for trusting what was learnt from a file without reading it again: its
size, modification time, change time and inode, all four, as one record (`stat_key`,
JSON) or one array row (`stat_rows`), compared by every use the same way."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from mars_zoo.core.stat_memo import StatMemo, stat_key, stat_rows, unchanged
from stat_edits import rewrite_in_place

# What a user cannot put back, as the rule is documented: the change time moves on every
# write (and on setting the times); a rename gives another inode.
FIELDS = {"size": "st_size", "mtime": "st_mtime_ns", "ctime": "st_ctime_ns", "inode": "st_ino"}
BASE = {"st_size": 4096, "st_mtime_ns": 1_700_000_000_123_456_789, "st_ctime_ns": 1_700_000_001_000_000_000,
        "st_ino": 2**64 - 5}  # an inode number above 2**63, as some file systems give


def _stat(**changes):
    return SimpleNamespace(**{**BASE, **changes})


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_a_file_differing_in_any_one_of_the_four_is_changed(field, tmp_path):
    then, now = _stat(), _stat(**{FIELDS[field]: BASE[FIELDS[field]] - 1})
    assert unchanged(stat_rows([then, then]), stat_rows([then, now])).tolist() == [True, False]
    assert stat_key(now) != stat_key(then)
    memo = StatMemo(tmp_path / "memo.json", scope="here")
    memo.remember("a", stat_key(then), "digest")
    memo.save("a test record")
    again = StatMemo(tmp_path / "memo.json", scope="here")
    assert again.recall("a", stat_key(then)) == "digest" and again.recall("a", stat_key(now)) is None


def test_rows_hold_the_values_the_stat_gives_an_inode_above_2_63_by_its_bits():
    stats = [_stat(), _stat(st_size=0, st_mtime_ns=-1_500_000_000_123, st_ino=7)]  # a time before 1970
    assert stat_rows(stats).tolist() == [
        [4096, 1_700_000_000_123_456_789, 1_700_000_001_000_000_000, 2**64 - 5 - 2**64],
        [0, -1_500_000_000_123, 1_700_000_001_000_000_000, 7],
    ]
    assert stat_key(stats[0]) == [4096, 1_700_000_000_123_456_789, 1_700_000_001_000_000_000, 2**64 - 5]
    assert stat_rows([]).shape == (0, 4)


def test_rows_recorded_under_another_rule_stand_for_nothing():
    rows = stat_rows([_stat(), _stat(st_ino=3)])
    for recorded in (rows[:, :3], rows.astype(np.float64), rows[:1]):
        assert not unchanged(recorded, rows).any()


def test_a_file_edited_in_place_with_its_mtime_put_back_or_replaced_by_rename_is_changed(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"a" * 100)
    before = os.stat(path)
    rewrite_in_place(path, b"b" * 100)
    edited = os.stat(path)
    assert stat_key(edited) != stat_key(before)

    (tmp_path / "other.bin").write_bytes(b"c" * 100)
    os.replace(tmp_path / "other.bin", path)
    os.utime(path, ns=(edited.st_atime_ns, edited.st_mtime_ns))
    replaced = os.stat(path)
    assert (replaced.st_size, replaced.st_mtime_ns) == (edited.st_size, edited.st_mtime_ns)
    assert replaced.st_ino != edited.st_ino
    assert not unchanged(stat_rows([before, edited]), stat_rows([edited, replaced])).any()
