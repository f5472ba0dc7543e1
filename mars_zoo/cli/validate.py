"""`mars-zoo validate [PATH ...]`: check result files before they are submitted or published."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mars_zoo.cli.commands import add_command
from mars_zoo.cli.options import add_plugins_dir_option
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import RichReporter, console_err, printable

DEFAULT_PATH = Path("submissions")


def register(subparsers) -> None:
    parser = add_command(subparsers, "validate", run_validate)
    parser.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH",
        help=f"result files or folders (default: {DEFAULT_PATH}/)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    add_plugins_dir_option(parser)


def run_validate(args: argparse.Namespace) -> int:
    """check result files against the result schema

    Check result files: the JSON Schema (version 1), finite numbers, consistency between fields
    (orderings, F1 from P and R, means of their rows, counts), no results on the generated mini data
    claiming to be real, duplicates, and that a reproduced result names a registered model (pass
    --plugins-dir for a plugin folder's models). A folder is read as a submissions folder (regular
    files at <family>/<file>.json, no links, no synthetic results). Prints each problem as 'FILE:
    field.path: message' and exits 1 if there is any.
    """
    from mars_zoo.models.registry import load_registry
    from mars_zoo.results.submissions import validate_paths

    if args.plugins_dir is not None and not args.plugins_dir.is_dir():
        raise MarsZooError(f"--plugins-dir {args.plugins_dir} is not a directory.")
    paths = args.paths or [DEFAULT_PATH]
    validation = validate_paths(paths, known_models=lambda: load_registry(args.plugins_dir, RichReporter()))
    if validation.files == 0:  # a mistyped folder must not pass as "all valid"
        raise MarsZooError(
            f"No result files (*.json) in {', '.join(printable(str(path)) for path in paths)}: nothing was "
            "checked. Pass result files, or a submissions folder holding <family>/<file>.json."
        )
    if args.json:
        report = {
            "files": validation.files,
            "valid": validation.ok,
            "problems": [problem.as_dict() for problem in validation.problems],
        }
        print(json.dumps(report, indent=2))
    else:
        for problem in validation.problems:
            print(problem)
        bad = len({problem.file for problem in validation.problems})
        summary = (f"{validation.files} file(s) checked: all valid" if validation.ok else
                   f"{validation.files} file(s) checked: {bad} invalid, "
                   f"{len(validation.problems)} problem(s)")
        console_err.print(summary, markup=False, highlight=False)
    return 0 if validation.ok else 1
