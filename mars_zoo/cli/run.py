"""`mars-zoo run MODEL`: evaluate one model and write its result file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from mars_zoo.cli.commands import add_command
from mars_zoo.cli.terminal_table import Column, print_table
from mars_zoo.cli.options import (
    absolute_path, add_cache_use_options, add_data_options, add_embedding_options, add_plugins_dir_option,
    add_seed_option, add_weights_option, int_between, settings_values, task_names,
)
from mars_zoo.core.errors import MarsZooError
from mars_zoo.data.specs import PAIRED_SOURCES
from mars_zoo.core.protocol import PAIRED_CAPTION_COLUMNS, PAIRED_DEFAULT_CAPTION, PAIRED_PROTOCOLS
from mars_zoo.core.reporting import Reporter, RichReporter, console

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mars_zoo.tasks.registry import TaskRegistry


def default_out(model: str, benchmark: str, weights: Path | None = None) -> Path:
    from mars_zoo.core.safe_paths import path_under
    from mars_zoo.models.weights import weights_name

    own = f"__{weights_name(weights)}" if weights is not None else ""  # never overwrite the base model's result
    return path_under(Path("mars-zoo-results"), f"{model.replace('/', '__')}__{benchmark}{own}.json",
                      field=f"model {model!r}",
                      fix="run a model 'mars-zoo list' shows, or name the result file with --out")


def register(subparsers) -> None:
    parser = add_command(subparsers, "run", run_command)
    parser.add_argument("model", help="model name as shown by 'mars-zoo list', e.g. openclip/tiny-random")
    parser.add_argument(
        "--tasks",
        type=task_names(),
        default=None,
        help="comma-separated tasks, e.g. paired,landform (default: every task the model's modalities allow; the "
        "MarsRetrieval tasks paired, landform and geolocalization, and those of loaded plugins)",
    )
    add_data_options(parser)
    add_embedding_options(parser)
    add_seed_option(parser)
    parser.add_argument("--caption", choices=PAIRED_CAPTION_COLUMNS, default=PAIRED_DEFAULT_CAPTION,
                        help="task 1 caption column; default: %(default)s")
    parser.add_argument("--pairs-source", choices=PAIRED_SOURCES, default=PAIRED_SOURCES[0],
                        help="task 1 data: the frozen copy with image bytes, or the original rows with "
                        "image URLs fetched into a local cache; default: %(default)s")
    parser.add_argument("--paired-protocol", choices=PAIRED_PROTOCOLS, default=PAIRED_PROTOCOLS[0],
                        help="task 1 protocol. marsretrieval: the paper's (images resized to 512 px on the "
                        "shorter side, centre-cropped, JPEG at quality 95; ties count against the model). mteb: "
                        "as mteb 2.26.24's MarsVLPairsT2IRetrieval / MarsVLPairsI2TRetrieval measure it (the "
                        "frozen copy's original image bytes in their stored mode, tied scores ordered by pair id, "
                        "R@1 and R@10 rounded to 5 decimals, MRR = mrr_at_2247), to reproduce MTEB's numbers; "
                        "needs --tasks paired; a model whose MTEB wrapper adds the tasks' instructions (qwen3-vl, "
                        "gme, ops-mm) gets them as that wrapper does (recorded as tasks.paired.instructions), or "
                        "is refused where its plugin takes none; recorded as image_preparation "
                        "mteb-original-bytes, which the leaderboard ranks apart; "
                        "default: %(default)s")
    add_weights_option(parser)
    parser.add_argument("--out", type=absolute_path, default=None,
                        help="result file (default: mars-zoo-results/<family>__<name>__<benchmark>.json)")
    add_cache_use_options(parser)
    parser.add_argument("--nproc", type=int_between(1), default=None, metavar="N",
                        help="embed with N processes on this machine (torchrun; one GPU each on CUDA); for "
                        "several machines start `torchrun ... -m mars_zoo run ...` on each")
    add_plugins_dir_option(parser)


def run_command(args: argparse.Namespace) -> int:
    """evaluate a model and write a result file

    Evaluate MODEL on the MarsRetrieval tasks and write a result file validated against the result
    schema. Embeddings are cached, so a rerun (or a run killed and restarted) only computes what is
    missing. Defaults follow the published protocol.
    """
    from mars_zoo.embedding.distributed import environment_ranks, launch, process_group
    from mars_zoo.models.registry import load_registry
    from mars_zoo.pipeline.runner import RunConfig, run
    from mars_zoo.tasks.registry import registered_tasks

    ranks = environment_ranks()
    if args.nproc is not None:
        if ranks.distributed:
            raise MarsZooError("--nproc starts torchrun itself; under torchrun, drop --nproc.")
        return launch(args.nproc, rank_command(args.argv), args.cache_dir)
    if ranks.distributed and args.no_cache:
        raise MarsZooError(
            "--no-cache cannot be used with several ranks: they share their embeddings through the "
            "cache folder. Use a fresh --cache-dir DIR instead."
        )
    config = RunConfig(
        model=args.model,
        out=args.out or default_out(args.model, args.benchmark, args.weights).absolute(),
        tasks=args.tasks,
        caption=args.caption,
        pairs_source=args.pairs_source,
        paired_protocol=args.paired_protocol,
        **settings_values(args),
    )
    reporter = RichReporter() if ranks.leader else Reporter()  # one rank speaks for all
    registry = load_registry(args.plugins_dir, reporter)
    with process_group(ranks):
        result, embedder = run(config, registry, reporter, ranks)
    if result is None:
        return 0  # not rank 0: its share is in the cache, rank 0 reports
    print_summary(result, registered_tasks(registry.pm))
    calls = embedder.stats.calls
    console.print(
        f"model calls: {calls['image']} image batches, {calls['text']} text batches "
        f"(0 means every embedding came from the cache)"
    )
    console.print(f"[green]result written to[/] {escape(str(config.out))}")
    return 0


def rank_command(argv: list[str]) -> list[str]:
    """The command every rank of `mars-zoo run --nproc N ...` runs: the same, without --nproc."""
    return [arg for i, arg in enumerate(argv) if not arg.startswith("--nproc") and argv[i - 1 : i] != ["--nproc"]]


def print_summary(result: dict, tasks: "TaskRegistry | None" = None) -> None:
    """One table per task: what the task says of its section (`Task.table`), or its declared
    metrics. A narrow terminal leaves out the least needed columns rather than break a number.
    `tasks` are those of the run's plugins (default: the built-in ones)."""
    from mars_zoo.models.registry import load_registry
    from mars_zoo.tasks.registry import registered_tasks
    from mars_zoo.tasks.tables import declared_summary

    tasks = tasks if tasks is not None else registered_tasks(load_registry().pm)

    synthetic = " [yellow](SYNTHETIC mini benchmark: not Mars data)[/]" if result["benchmark"]["synthetic"] else ""
    console.print(f"[bold]{escape(result['model']['name'])}[/] on {result['benchmark']['name']}{synthetic}")
    for name, section in result["tasks"].items():
        task = tasks.get(name)
        summary = task.table(section) if task is not None and task.table is not None else declared_summary(section)
        columns = [Column(header, priority, justify=justify) for header, priority, justify in summary.columns]
        print_table(console, summary.title, columns, summary.rows, caption=summary.caption,
                    wide_hint="the result file has every figure")
