"""`mars-zoo contamination DATA`: is a training set clean of the benchmark's scored items?"""

from __future__ import annotations

import argparse
import json

from rich.markup import escape

from mars_zoo.cli.commands import add_command
from mars_zoo.cli.options import (
    absolute_path, add_cache_dir_option, add_data_options, add_training_data_options, int_between, task_names,
)
from mars_zoo.cli.terminal_table import Column, print_table
from mars_zoo.data.specs import BENCHMARK_TASKS
from mars_zoo.core.reporting import console

CONTAMINATED_EXIT = 1


def register(subparsers) -> None:
    parser = add_command(subparsers, "contamination", run_contamination)
    parser.add_argument("data", metavar="DATA", help="training pairs: 'mini' (the mini benchmark's training "
                        "split), a Hub dataset id, or a local parquet dataset, parquet file or WebDataset tar shards")
    add_training_data_options(parser)
    add_data_options(parser)
    parser.add_argument("--tasks", type=task_names(BENCHMARK_TASKS), default=BENCHMARK_TASKS,
                        help=f"comma-separated tasks whose items are checked; default: {','.join(BENCHMARK_TASKS)}")
    parser.add_argument("--examples", type=int_between(0, 1000), default=5,
                        help="examples shown per part of the benchmark and kind of match; default: %(default)s")
    parser.add_argument("--json", dest="json_out", type=absolute_path, default=None, metavar="OUT",
                        help="also write the report as JSON to OUT")
    add_cache_dir_option(parser, "the benchmark's fingerprints, the mini benchmark and its training split")


def run_contamination(args: argparse.Namespace) -> int:
    """check a training set against every benchmark item a score depends on

    Compare every image-caption pair of DATA with the benchmark items the scores depend on (task 1
    images and captions, task 2 images, task 3 query images and the gallery tiles within the
    catalogue radius of a ground-truth point): the same pixels, a re-encoded, resized or slightly
    cropped copy (perceptual hashes of crop windows, confirmed by aligning the images), or the same
    caption up to case, punctuation and spacing. Prints the counts per task with examples; exits 0
    when nothing was found, 1 when the data is contaminated, 2 on a usage or input error.
    """
    from mars_zoo.adapt.contamination import contamination_report
    from mars_zoo.adapt.training_data import open_training_data
    from mars_zoo.core.atomic import atomic_write_bytes
    from mars_zoo.data.benchmark import open_benchmark
    from mars_zoo.core.folders import write_error
    from mars_zoo.core.reporting import RichReporter

    reporter = RichReporter()
    benchmark = open_benchmark(args.benchmark, args.data_dir, args.tiles_dir, dict(args.revisions), args.cache_dir,
                               reporter)
    training = open_training_data(args.data, image_column=args.image_column, caption_column=args.caption_column,
                                  revision=args.train_revision, cache_dir=benchmark.cache_dir, reporter=reporter)
    report = contamination_report(training, benchmark, tasks=args.tasks, examples=args.examples, reporter=reporter)
    if args.json_out is not None:
        try:
            atomic_write_bytes(args.json_out, (json.dumps(report.as_dict(), indent=2) + "\n").encode("utf-8"))
        except OSError as exc:
            raise write_error(args.json_out, "the contamination report", exc) from None
    print_report(report)
    return CONTAMINATED_EXIT if report.contaminated else 0


COUNT_COLUMNS = (Column("task"), Column("part"), Column("checked", 1, justify="right"),
                 Column("exact", 2, justify="right"), Column("near", 2, justify="right"),
                 Column("caption", 2, justify="right"), Column("hit"), Column("pairs", 3, justify="right"))
EXAMPLE_COLUMNS = (Column("part", 2), Column("kind"), Column("benchmark item"), Column("training pair"),
                   Column("detail", 1, prose=True))


def print_report(report) -> None:
    """The counts per part (items checked; items hit by each kind and by any; training pairs
    hitting them) and the examples, as tables."""
    training = report.training
    rows = [[part.task, part.part, str(part.checked), *(str(part.items[kind]) for kind in ("exact", "near", "caption")),
             f"[bold red]{part.items_hit}[/]" if part.items_hit else "0", str(part.pairs_hit)] for part in report.parts]
    title = escape(f"{training['name']}: {training['pairs']} training pairs against the {report.benchmark['name']} "
                   f"benchmark (items hit, by kind)")
    print_table(console, title, COUNT_COLUMNS, rows, wide_hint="--json OUT writes everything")
    if report.examples:
        rows = [[escape(cell) for cell in (match.part, match.kind, match.item, match.training_key,
                                           ", ".join(f"{key} {value}" for key, value in match.detail.items()))]
                for match in report.examples]
        print_table(console, "examples", EXAMPLE_COLUMNS, rows, wide_hint="--json OUT writes everything")
    verdict = (f"[bold red]contaminated[/]: {report.pairs_hit} training pair(s) duplicate scored benchmark items"
               if report.contaminated else "[green]clean[/]: no training pair duplicates a scored benchmark item")
    console.print(verdict, highlight=False)
