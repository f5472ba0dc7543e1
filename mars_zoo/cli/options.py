"""Command-line options shared by several commands, parsed the same way everywhere.

The options of the shared `Settings` (mars_zoo.pipeline.settings) are declared here, each once, with
their dest the field they set, so that `settings_values` reads whichever a command declares.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from pathlib import Path
from typing import Sequence

from mars_zoo.data.specs import find_dataset
from mars_zoo.core.errors import MarsZooError


def absolute_path(value: str) -> Path:
    """A path option, made absolute while the arguments are parsed: before any plugin loads,
    so a plugin that changes the working directory cannot move what a command reads or writes."""
    if not value.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    if "\0" in value:
        raise argparse.ArgumentTypeError(f"{value!r} contains a NUL character")
    return Path(os.path.abspath(os.path.expanduser(value)))


MAX_SEED = 2**32 - 1  # numpy's seeds are 32-bit
MAX_COUNT = 2**31 - 1  # batch and shard sizes: far beyond any memory, within every index type
MAX_WORKERS = 256  # worker processes
MAX_TILE_PX = 16384


def int_between(low: int, high: int | None = None):
    """An argparse type: an integer in [low, high], refused at parse time with the range."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < low or (high is not None and number > high):
            bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"expected an integer {bounds}, got {value!r}")
        return number

    parse.__name__ = "integer"  # argparse names the type in some messages
    return parse


def number_between(low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False):
    """An argparse type: a finite number from `low` to `high` (an open end excluded), refused
    at parse time with the range."""
    above = f"above {low:g}" if low_open else f"of {low:g} or more"
    below = "" if high == math.inf else f" and {'below' if high_open else 'at most'} {high:g}"

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        inside = (math.isfinite(number) and (number > low if low_open else number >= low)
                  and (number < high if high_open else number <= high))
        if not inside:
            raise argparse.ArgumentTypeError(f"expected a number {above}{below}, got {value!r}")
        return number

    parse.__name__ = "number"  # argparse names the type in some messages
    return parse


def task_names(known: Sequence[str] | None = None):
    """An argparse type: 'paired,landform' -> ('paired', 'landform'), refused at parse time when
    empty or, given the `known` names, naming another. A run knows its tasks only once the
    plugins that register them are loaded, so it checks the names then."""

    def parse(value: str) -> tuple[str, ...]:
        tasks = tuple(task.strip() for task in value.split(",") if task.strip())
        unknown = [task for task in tasks if known is not None and task not in known]
        if unknown or not tasks:
            choose = f"; choose from {', '.join(known)}" if known is not None else ": name one or more, comma-separated"
            raise argparse.ArgumentTypeError(f"unknown task(s) {', '.join(unknown) or '(none given)'}{choose}")
        return tasks

    parse.__name__ = "tasks"  # argparse names the type in some messages
    return parse


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
        type=absolute_path,
        metavar="DIR",
        help="also load every *.py file of DIR as a plugin (after built-ins and installed ones), except "
        "helper modules: files whose name starts with '_' and sub-folders, which its plugins import "
        "relatively (from ._helpers import x)",
    )


def add_weights_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights", type=absolute_path, default=None, metavar="PATH",
        help="your own weights of MODEL's architecture: an open_clip checkpoint file (a state_dict, or a "
        "dict holding one under 'state_dict'), or a save_pretrained folder for transformers models; "
        "results record their sha256 as the revision",
    )


def add_data_options(parser: argparse.ArgumentParser, default: str | None = "marsretrieval",
                     default_words: str = "%(default)s") -> None:
    """Where the benchmark's data comes from: the Hub, a local copy, or the mini benchmark
    (`default`, said in the help as `default_words`)."""
    from mars_zoo.data.specs import BENCHMARK_NAMES

    parser.add_argument(
        "--benchmark",
        choices=BENCHMARK_NAMES,
        default=default,
        help="'marsretrieval' is the real benchmark (Hugging Face Hub or --data-dir); 'mini' is the "
        "embedded synthetic test benchmark (offline, seconds on a CPU; its numbers mean nothing about Mars); "
        f"default: {default_words}",
    )
    parser.add_argument("--data-dir", type=absolute_path, metavar="DIR",
                        help="read the benchmark from DIR (the Hub's formats, one folder per dataset)")
    parser.add_argument("--tiles", dest="tiles_dir", type=absolute_path, metavar="DIR",
                        help="the geo-localization tile gallery (tar shards or PNGs named by the tile rule)")
    add_revision_option(parser)


def add_training_data_options(parser: argparse.ArgumentParser) -> None:
    """How training pairs are read (mars_zoo.adapt.training_data): their columns, and a Hub dataset's revision."""
    parser.add_argument("--image-column", default="image", help="the image column (parquet) or file extension "
                        "(tar shards); default: %(default)s")
    parser.add_argument("--caption-column", default="caption", help="the caption column (parquet) or file "
                        "extension (tar shards); default: %(default)s")
    parser.add_argument("--train-revision", default=None, metavar="REV",
                        help="the commit, branch or tag of a Hub dataset DATA to read")


def add_cache_dir_option(parser: argparse.ArgumentParser, holds: str) -> None:
    """--cache-dir: the mars-zoo cache, which `holds` what the command keeps there. Its default
    is resolved when the parser is built, before any plugin loads."""
    from mars_zoo.core.folders import CACHE_ENV, default_cache_dir

    parser.add_argument("--cache-dir", type=absolute_path, default=default_cache_dir(), metavar="DIR",
                        help=f"mars-zoo cache: {holds} (default: ${CACHE_ENV}, else ~/.cache/mars-zoo; "
                        f"now %(default)s)")


def add_embedding_options(parser: argparse.ArgumentParser) -> None:
    """How embeddings are computed and where they are cached."""
    from mars_zoo.models.model import PRECISIONS

    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N; default: %(default)s")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="embedding precision (default: the model's recommendation, "
                             "but fp32 on the CPU for a model that recommends fp16)")
    parser.add_argument("--batch-size", type=int_between(1, MAX_COUNT), default=None,
                        help="batch size (default: the model's recommendation)")
    parser.add_argument("--workers", type=int_between(0, MAX_WORKERS), default=None,
                        help="DataLoader workers for image decoding, per rank (default: 0 on CPU; on CUDA up "
                        "to 8, the node's cores shared among its ranks)")
    add_cache_dir_option(parser, "embeddings, recorded dataset and model revisions, fetched images and "
                         "weights, tiny models, the mini benchmark")


def add_seed_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int_between(0, MAX_SEED), default=0,
                        help="random seed, recorded in the result; default: %(default)s")


def add_cache_use_options(parser: argparse.ArgumentParser) -> None:
    """Whether the embedding cache is used, and the shards of its new entries."""
    from mars_zoo.embedding.cache import DEFAULT_SHARD_SIZE

    parser.add_argument("--no-cache", action="store_true", help="compute every embedding afresh")
    parser.add_argument("--cache-shard-size", dest="shard_size", type=int_between(1, MAX_COUNT),
                        default=DEFAULT_SHARD_SIZE,
                        help="items per shard of new cache entries (what a killed run can lose); an existing "
                        "entry keeps the size it was written with; default: %(default)s")


def settings_values(args: argparse.Namespace) -> dict:
    """The shared `Settings` the command's options set, by field name; a setting the command
    has no option for is left out (its default applies)."""
    from mars_zoo.pipeline.settings import Settings

    values = {field.name: getattr(args, field.name) for field in dataclasses.fields(Settings)
              if hasattr(args, field.name)}
    if "revisions" in values:
        values["revisions"] = dict(values["revisions"])  # DATASET=REV pairs, in the order given
    return values
