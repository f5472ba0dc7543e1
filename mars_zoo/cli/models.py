"""`mars-zoo plugins` and `mars-zoo list`: what is installed, without loading models."""

from __future__ import annotations

import argparse
import json

from rich.markup import escape

from mars_zoo.cli.commands import add_command
from mars_zoo.cli.options import add_plugins_dir_option
from mars_zoo.cli.terminal_table import Column, print_table
from mars_zoo.leaderboard.tables import format_parameters
from mars_zoo.core.folders import default_cache_dir
from mars_zoo.models.model import RESOLVE_AT_FIRST_USE
from mars_zoo.models.model_revisions import recorded_model_revision
from mars_zoo.models.model_table import readme_block
from mars_zoo.models.registry import load_registry
from mars_zoo.core.reporting import RichReporter, console


def register(subparsers) -> None:
    plugins = add_command(subparsers, "plugins", run_plugins)
    plugins.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_plugins_dir_option(plugins)

    listing = add_command(subparsers, "list", run_list)
    output = listing.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON (every field, revision and "
                        "recipe notes included) instead of a table")
    output.add_argument("--markdown", action="store_true", help="print the README's model table (the built-in plugins' models)")
    listing.add_argument("--wide", action="store_true", help="show every column (family, checkpoint, licence, "
                         "install hints) even where the terminal is too narrow for them to fit on one line a model")
    add_plugins_dir_option(listing)


def run_plugins(args: argparse.Namespace) -> int:
    """list loaded plugins

    List the loaded plugins in load order: built-ins, installed entry points (group 'mars_zoo',
    filtered by MARS_ZOO_LOAD_PLUGINS if set), then --plugins-dir files, with the hooks each
    implements (a plugin with none is listed, with a warning that it registers nothing).
    """
    registry = load_registry(args.plugins_dir, RichReporter())
    pm = registry.pm
    rows = []
    for info in pm.loaded:
        plugin = pm.get_plugin(info.name)
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
        rows.append(
            {"name": info.name, "origin": info.origin, "package": info.package,
             "version": info.version, "hooks": hooks}
        )
    if args.json:
        console.print_json(json.dumps(rows))
        return 0
    cells = [[escape(str(cell)) for cell in (row["name"], row["origin"], row["package"], row["version"],
                                             ", ".join(row["hooks"]))] for row in rows]
    print_table(console, "mars-zoo plugins (in load order)", PLUGIN_COLUMNS, cells, wide_hint="--json shows everything")
    return 0


PLUGIN_COLUMNS = (Column("name"), Column("origin", priority=3), Column("package", priority=2),
                  Column("version", priority=1), Column("hooks", priority=4, prose=True))

# The columns of `mars-zoo list`, dropped least needed first (priority) where the terminal
# is too narrow: the family is the model name's prefix, the checkpoint and licence are on the
# model's page; whether it can run comes last (a model that cannot is also named under the
# table, with its install hint); only the name is never dropped. "random init": seeded
# random weights, for tests and demos.
LIST_COLUMNS = (
    Column("family", priority=0), Column("model"), Column("modalities", priority=6),
    Column("dim", priority=5, justify="right"), Column("params", priority=4, justify="right"),
    Column("revision", priority=3), Column("licence", priority=2), Column("checkpoint", priority=1),
    Column("status", priority=7),
)


def _revision_cell(spec, recorded: dict[str, str | None]) -> str:
    if spec.revision == RESOLVE_AT_FIRST_USE:
        commit = recorded[spec.name]
        return f"{commit[:12]} (recorded)" if commit else "at first use"
    revision = spec.evaluated_revision  # a Hub commit, or the sha256 of weights at a URL
    return revision[:12] if revision else "-"


def run_list(args: argparse.Namespace) -> int:
    """list registered models

    List every registered model with its metadata and whether the packages it needs are installed.
    Loads no model and imports no model library.
    """
    registry = load_registry(args.plugins_dir, RichReporter())
    if args.markdown:
        console.print(readme_block(registry), markup=False, highlight=False, soft_wrap=True)
        return 0
    recorded = {spec.name: recorded_model_revision(spec, default_cache_dir())
                for spec in registry if spec.revision == RESOLVE_AT_FIRST_USE}
    rows = []
    for spec in registry:
        missing = spec.missing_requirements()
        rows.append({**spec.metadata(), "recorded_revision": recorded.get(spec.name),
                     "available": not missing, "missing": missing,
                     "install_hint": spec.hint() if missing else None})
    if args.json:
        console.print_json(json.dumps(rows))
        return 0
    cells, sections, family = [], [], None
    for index, (spec, row) in enumerate(zip(registry, rows)):  # by name, so by family: '<family>/<name>'
        if family is not None and spec.family != family:
            sections.append(index)
        family = spec.family
        if not row["available"]:
            status = f"[red]needs[/] {escape(row['install_hint'])}" if args.wide else "[red]needs extra[/]"
        else:
            status = "[yellow]random init[/]" if spec.random_weights else "[green]ready[/]"
        cells.append([escape(cell) for cell in (
            spec.family, spec.name, "+".join(spec.modalities), str(spec.embedding_dim),
            format_parameters(spec.parameters), _revision_cell(spec, recorded), spec.license or "?", spec.checkpoint,
        )] + [status])
    title = f"{len(rows)} registered models in {len({spec.family for spec in registry})} families"
    print_table(console, title, LIST_COLUMNS, cells, sections=sections, wide=args.wide,
                wide_hint="--wide shows every column")
    if not args.wide:
        for row in rows:
            if not row["available"]:
                console.print(f"{escape(row['name'])} needs {escape(row['install_hint'])}", highlight=False)
    return 0
