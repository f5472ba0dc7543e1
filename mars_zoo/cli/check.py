"""`mars-zoo check MODEL`: the plugin contract check."""

from __future__ import annotations

import argparse
import dataclasses
import json

from rich.markup import escape

from mars_zoo.cli.commands import add_command
from mars_zoo.cli.options import add_plugins_dir_option, add_weights_option, settings_values
from mars_zoo.cli.terminal_table import Column, print_table
from mars_zoo.core.reporting import RichReporter, console


def register(subparsers) -> None:
    parser = add_command(subparsers, "check", run_check)
    parser.add_argument("model", help="model name, e.g. openclip/tiny-random")
    parser.add_argument("--json", action="store_true",
                        help="print the checks as JSON (name, passed, detail) instead of a table")
    add_weights_option(parser)
    add_plugins_dir_option(parser)


def run_check(args: argparse.Namespace) -> int:
    """check that a model honours the plugin contract

    Run the plugin contract check on MODEL: on the embedded mini benchmark, on the CPU, check output
    shapes, dtype and finite values, that an item's embedding does not depend on its batch mates or
    the batch size, that two runs agree, that the declared metadata matches the model, and for a
    model that declares task instructions, that one reaches the model through a new encoder. Run it
    before submitting a plugin.
    """
    from mars_zoo.models.contract import check_model
    from mars_zoo.models.registry import load_registry
    from mars_zoo.pipeline.settings import Settings, prepare_spec

    settings = Settings(**settings_values(args))
    reporter = RichReporter()
    spec = prepare_spec(settings, load_registry(args.plugins_dir, reporter).get(args.model), reporter)
    checks = check_model(spec, reporter, settings.cache_dir)
    failed = [check for check in checks if not check.passed]
    if args.json:
        console.print_json(json.dumps([dataclasses.asdict(check) for check in checks]))
        return 1 if failed else 0
    rows = [[escape(check.name), "[green]pass[/]" if check.passed else "[red]FAIL[/]", escape(check.detail)]
            for check in checks]
    columns = (Column("check", prose=True), Column("result"), Column("detail", priority=1, prose=True))
    print_table(console, escape(f"contract check of {spec.name} (plugin {spec.plugin})"), columns, rows,
                wide_hint="--json shows every detail")
    if failed:
        console.print(f"[red]{len(failed)} of {len(checks)} checks failed[/]")
        return 1
    console.print(f"[green]all {len(checks)} checks passed[/]")
    return 0
