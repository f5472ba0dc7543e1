"""Command-line options shared by several commands, parsed the same way everywhere."""

from __future__ import annotations

import argparse
from pathlib import Path

from mars_zoo.data.specs import find_dataset
from mars_zoo.errors import MarsZooError
from mars_zoo.protocol import TASK_NAMES


def parse_tasks(value: str) -> tuple[str, ...]:
    """'paired,landform' -> ('paired', 'landform'); an unknown name fails at parse time."""
    tasks = tuple(task.strip() for task in value.split(",") if task.strip())
    unknown = [task for task in tasks if task not in TASK_NAMES]
    if unknown or not tasks:
        raise argparse.ArgumentTypeError(
            f"unknown task(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(TASK_NAMES)}"
        )
    return tasks


def parse_revision(value: str) -> tuple[str, str]:
    """DATASET=REV -> (repository id, REV); the dataset may be named by repository id or
    folder name and is checked here, so a typo fails before anything is loaded."""
    name, sep, revision = value.partition("=")
    if not sep or not name or not revision:
        raise argparse.ArgumentTypeError(f"expected DATASET=REV (e.g. Mars-Landforms=main), got {value!r}")
    try:
        return find_dataset(name).repo_id, revision
    except MarsZooError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_revision_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--revision",
        dest="revisions",
        type=parse_revision,
        action="append",
        default=[],
        metavar="DATASET=REV",
        help="read DATASET (repository id or folder name, e.g. Mars-Landforms) at REV (commit, "
        "branch or tag) instead of the benchmark's pinned or recorded revision; repeatable",
    )


def add_plugins_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugins-dir",
        type=Path,
        metavar="DIR",
        help="also load every *.py file of DIR as a plugin (after built-ins and installed ones)",
    )
