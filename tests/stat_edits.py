"""Edits that keep what a careful hand or a copy tool keeps: a file's size and its
modification time, put back with `os.utime`. Only the change time (and, for a file
replaced by rename, the inode) tells them; a record trusted by size and mtime alone
misses them."""

from __future__ import annotations

import os
from pathlib import Path


def rewrite_in_place(path: Path, content: bytes) -> None:
    """`content`, of the file's own size, written over `path` through its own inode, then
    its times put back: size, modification time and inode are as before."""
    stat = path.stat()
    assert len(content) == stat.st_size
    with open(path, "r+b") as handle:
        handle.write(content)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    now = path.stat()
    assert (now.st_size, now.st_mtime_ns, now.st_ino) == (stat.st_size, stat.st_mtime_ns, stat.st_ino)


def swap_files(first: Path, second: Path, scratch: Path) -> None:
    """Two files of one size trade places by renames (through `scratch`), each path given
    back the times it had."""
    stats = first.stat(), second.stat()
    assert stats[0].st_size == stats[1].st_size
    first.rename(scratch)
    second.rename(first)
    scratch.rename(second)
    for path, stat in zip((first, second), stats):
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
