"""`mars-zoo data download|info`: fetch the benchmark data ahead of a run, and show what
is cached."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.markup import escape

from mars_zoo.cli.commands import add_command, add_group
from mars_zoo.data.specs import BENCHMARK_TASKS, DATASETS, GEOLOCALIZATION, datasets_for_tasks
from mars_zoo.cli.options import add_cache_dir_option, add_revision_option, task_names
from mars_zoo.cli.terminal_table import Column, print_table
from mars_zoo.core.reporting import RichReporter, console, print_paragraph


CACHE_HOLDS = "the mini benchmark, recorded revisions"


def register(subparsers) -> None:
    commands = add_group(subparsers, "data", "download the benchmark data, show what is cached",
                         "Manage the MarsRetrieval datasets in the Hugging Face cache.")

    download = add_command(commands, "download", run_download)
    download.add_argument(
        "--tasks",
        type=task_names(BENCHMARK_TASKS),
        default=BENCHMARK_TASKS,
        metavar="TASKS",
        help=f"comma-separated tasks whose data to fetch (default: {','.join(BENCHMARK_TASKS)})",
    )
    add_revision_option(download)
    add_cache_dir_option(download, CACHE_HOLDS)

    info = add_command(commands, "info", run_info)
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_cache_dir_option(info, CACHE_HOLDS)


def run_download(args: argparse.Namespace) -> int:
    """pre-fetch datasets into the Hugging Face cache

    Download the benchmark's datasets (at their pinned or recorded revisions) into the Hugging Face
    cache, so later runs work offline (HF_HUB_OFFLINE=1). Copy that cache (HF_HUB_CACHE) to a
    machine without internet to run there. The geo-localization gallery (CTX tiles) is not on the
    Hub and is not downloaded.
    """
    from mars_zoo.data import hub

    reporter = RichReporter()
    overrides = dict(args.revisions)
    specs = datasets_for_tasks(args.tasks)
    with reporter.progress("Benchmark datasets", len(specs)) as advance:
        for spec in specs:
            revision = hub.resolve_revision(spec, overrides.get(spec.repo_id), args.cache_dir)
            path = hub.snapshot(spec, revision, reporter)
            reporter.info(f"{spec.repo_id} @ {revision} -> {path}")
            advance(1)
    if GEOLOCALIZATION in specs:
        reporter.info(
            "The geo-localization gallery (CTX mosaic tiles) is not on the Hub: build it with "
            "`mars-zoo tiles build` and pass --tiles DIR to the run."
        )
    return 0


def _size(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file()) if path.is_dir() else 0


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def collect_info(cache_dir: Path) -> dict:
    """What `data info` shows, as plain data."""
    from mars_zoo.data import hub
    from mars_zoo.data.mini import MINI_VERSION

    recorded = hub.recorded_revisions(cache_dir)
    cached = hub.cached_snapshots()
    mini_dir = cache_dir / MINI_VERSION
    return {
        "hf_hub_cache": str(hub.hub_cache_dir()),
        "offline": hub.is_offline(),
        "cache_dir": str(cache_dir),
        "datasets": [
            {
                "dataset": spec.repo_id,
                "folder": spec.name,
                "task": spec.task,
                "split": spec.split,
                "revision": spec.revision or recorded.get(spec.repo_id),
                "revision_source": (
                    "pinned" if spec.revision else "recorded" if spec.repo_id in recorded else None
                ),
                "cached": cached.get(spec.repo_id, []),
            }
            for spec in DATASETS
        ],
        "mini": {"path": str(mini_dir), "exists": mini_dir.is_dir(), "size_on_disk": _size(mini_dir)},
    }


def run_info(args: argparse.Namespace) -> int:
    """show cached datasets, revisions and sizes

    Show, for each benchmark dataset, its revision (pinned or recorded at first use), the revisions
    in the Hugging Face cache with their size and folder, and where the mini benchmark lives.
    """
    info = collect_info(args.cache_dir)
    if args.json:
        console.print_json(json.dumps(info))
        return 0
    rows, folders = [], []
    for row in info["datasets"]:
        revision = f"{row['revision'][:12]} ({row['revision_source']})" if row["revision"] else "at first use"
        cached = [f"{entry['revision'][:12]} {_human(entry['size_on_disk'])}" for entry in row["cached"]]
        rows.append([escape(row["dataset"]), escape(row["task"]), escape(revision),
                     escape("\n".join(cached)) or "[yellow]not cached[/]"])
        for entry in row["cached"]:
            folders.append(f"  {row['dataset']}@{entry['revision'][:12]}: {entry['path']}")
    columns = (Column("dataset"), Column("task", priority=3), Column("revision", priority=2),
               Column("HF cache", priority=1))
    print_table(console, "MarsRetrieval datasets", columns, rows, wide_hint="--json shows everything")
    print_paragraph(console, f"Hugging Face cache: {escape(info['hf_hub_cache'])}")
    for line in folders:
        print_paragraph(console, escape(line))
    mini = info["mini"]
    state = f"{_human(mini['size_on_disk'])}" if mini["exists"] else "not generated yet (made on first use)"
    print_paragraph(console, f"Mini benchmark (SYNTHETIC): {escape(mini['path'])} - {state}")
    if info["offline"]:
        console.print("HF_HUB_OFFLINE is set: only cached revisions can be read.", highlight=False)
    return 0
