"""`mars-zoo validate [PATH ...]`: check result files before they are submitted or published."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mars_zoo.reporting import console_err

DEFAULT_PATH = Path("submissions")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check result files against the result schema",
        description="Check result files: the JSON Schema (version 1), finite numbers, "
        "consistency between fields, duplicates, and that a reproduced result names a "
        "registered model. A folder is read as a submissions folder (files at "
        "<family>/<file>.json, no synthetic results). Prints each problem as "
        "'FILE: field.path: message' and exits 1 if there is any.",
    )
    parser.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH",
        help=f"result files or folders (default: {DEFAULT_PATH}/)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    parser.set_defaults(handler=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    from mars_zoo.submissions import validate_paths

    validation = validate_paths(args.paths or [DEFAULT_PATH])
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
