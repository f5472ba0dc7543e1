"""`mars-zoo plugins` and `mars-zoo list`: what is installed, without loading models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from mars_zoo.cli.options import add_plugins_dir_option
from mars_zoo.registry import load_registry
from mars_zoo.reporting import console


def register(subparsers) -> None:
    plugins = subparsers.add_parser(
        "plugins",
        help="list loaded plugins",
        description="List the loaded plugins in load order: built-ins, installed entry points "
        "(group 'mars_zoo', filtered by MARS_ZOO_LOAD_PLUGINS if set), then --plugins-dir files.",
    )
    plugins.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_plugins_dir_option(plugins)
    plugins.set_defaults(handler=run_plugins)

    listing = subparsers.add_parser(
        "list",
        help="list registered models",
        description="List every registered model with its metadata and whether the packages it "
        "needs are installed. Loads no model and imports no model library.",
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_plugins_dir_option(listing)
    listing.set_defaults(handler=run_list)


def run_plugins(args: argparse.Namespace) -> int:
    registry = load_registry(args.plugins_dir)
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
    table = Table(title="mars-zoo plugins (in load order)")
    for column in ("name", "origin", "package", "version", "hooks"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(str(cell)) for cell in (row["name"], row["origin"], row["package"],
                                                        row["version"], ", ".join(row["hooks"]))))
    console.print(table)
    return 0


def run_list(args: argparse.Namespace) -> int:
    registry = load_registry(args.plugins_dir)
    rows = []
    for spec in registry:
        missing = spec.missing_requirements()
        rows.append({**spec.metadata(), "available": not missing, "missing": missing,
                     "install_hint": spec.hint() if missing else None})
    if args.json:
        console.print_json(json.dumps(rows))
        return 0
    table = Table(title=f"{len(rows)} registered models")
    for column in ("model", "checkpoint", "modalities", "dim", "params", "license", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = "[green]ready[/]" if row["available"] else f"[red]needs[/] {escape(row['install_hint'])}"
        if row["random_weights"]:
            status += " [yellow](random weights)[/]"
        params = f"{row['parameters'] / 1e6:.1f}M" if row["parameters"] else "?"
        cells = (row["name"], row["checkpoint"], "+".join(row["modalities"]), str(row["embedding_dim"] or "?"),
                 params, row["license"] or "?")
        table.add_row(*(escape(cell) for cell in cells), status)
    console.print(table)
    return 0
