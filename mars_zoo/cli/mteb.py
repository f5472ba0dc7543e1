"""`mars-zoo import mteb` and `mars-zoo export mteb`: task 1 results to and from MTEB's layout."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mars_zoo.cli.commands import add_command, add_group
from mars_zoo.cli.options import absolute_path, add_plugins_dir_option
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import RichReporter, console_err

DEFAULT_SUBMISSIONS = Path("submissions")
# `mars-zoo import FORMAT` and `mars-zoo export FORMAT`: each verb takes the other benchmark's
# name, so more formats fit later.
IMPORT_SUMMARY = "turn results of another benchmark into reported result files"
EXPORT_SUMMARY = "write a reproduced result in another benchmark's layout"
PULL_REQUEST = "https://github.com/embeddings-benchmark/mteb/pull/5148"
CITATION = ("MTEB pull request #5148 (embeddings-benchmark/mteb), tasks MarsVLPairsT2IRetrieval and "
            "MarsVLPairsI2TRetrieval")


def register(subparsers) -> None:
    importer = add_command(add_group(subparsers, "import", IMPORT_SUMMARY, metavar="FORMAT"), "mteb", run_import)
    importer.add_argument("paths", nargs="+", type=absolute_path, metavar="PATH", help="MTEB result files or folders")
    importer.add_argument("--model", metavar="FAMILY/NAME",
                          help="the row's model name (default: the registered model whose checkpoint is "
                          "model_meta.json's name); needs one model folder")
    importer.add_argument("--url", default=PULL_REQUEST, help=f"where the numbers are published (default: {PULL_REQUEST})")
    importer.add_argument("--citation", default=CITATION, help="how to cite them (default: the MTEB pull request)")
    importer.add_argument("--medr", action="append", default=[], metavar="DIRECTION=RANK",
                          help="a median rank the cited text states (MTEB's files hold none), once per direction: "
                          "--medr t2i=78 --medr i2t=53; recorded in source.notes as coming from the cited text; "
                          "needs one model folder")
    importer.add_argument("--notes", metavar="TEXT", help="what a reader needs to know about the source, added to source.notes")
    importer.add_argument("--out", type=absolute_path, default=DEFAULT_SUBMISSIONS, metavar="DIR",
                          help=f"submissions folder to write into (default: {DEFAULT_SUBMISSIONS})")
    importer.add_argument("--force", action="store_true", help="replace a reported file that exists")
    add_plugins_dir_option(importer)

    exporter = add_command(add_group(subparsers, "export", EXPORT_SUMMARY, metavar="FORMAT"), "mteb", run_export)
    exporter.add_argument("result", type=absolute_path, metavar="RESULT", help="a reproduced result file")
    exporter.add_argument("--out", type=absolute_path, default=Path("mteb-results"), metavar="DIR",
                          help="folder to write into (default: mteb-results)")


def _write_json(path: Path, document: dict) -> None:
    from mars_zoo.core.atomic import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode())


def run_import(args: argparse.Namespace) -> int:
    """MTEB result files of MarsVLPairsT2IRetrieval / MarsVLPairsI2TRetrieval

    Read MTEB result files of the task 1 retrieval tasks (MarsVLPairsT2IRetrieval.json,
    MarsVLPairsI2TRetrieval.json and the model_meta.json beside them; a folder is searched) and
    write one reported result per model folder at DIR/<family>/<name>__reported.json. R@1 =
    recall_at_1, R@10 = recall_at_10, MRR = mrr_at_2247 (the whole gallery). MTEB writes no median
    rank: MedR is null unless the cited text states it and --medr gives it. The source (files, MTEB
    version, model revision, where MedR comes from) is recorded in source.notes.
    """
    from mars_zoo.results.mteb_format import find_runs, medr_from_flags, model_block, reported_result
    from mars_zoo.models.registry import load_registry
    from mars_zoo.results.validation import validate_result
    from mars_zoo.core.safe_paths import path_under
    from mars_zoo.schema.training import declared_section

    runs = find_runs(args.paths)
    for flag, given in (("--model", args.model), ("--medr", args.medr)):
        if given and len(runs) > 1:
            raise MarsZooError(f"{flag} is about one model, but the paths hold {len(runs)} model folders "
                               f"({', '.join(str(run.folder) for run in runs)}); import them one at a time.")
    specs = {spec.name: spec for spec in load_registry(args.plugins_dir, RichReporter())}
    registered = {name: spec.metadata() for name, spec in specs.items()}
    planned = []
    for run in runs:
        model = model_block(run, args.model, registered)
        training = declared_section(specs[model["name"]]) if model["name"] in specs else None
        result = reported_result(run, model, args.url, args.citation, medr_from_flags(args.medr, run), args.notes,
                                 training)
        problems = validate_result(result)
        if problems:
            raise MarsZooError(f"{run.folder}: the imported row would not be a valid result: {'; '.join(problems)}.")
        family, name = result["model"]["name"].split("/", 1)
        target = path_under(args.out, family, f"{name}__reported.json", field=f"model {result['model']['name']!r}",
                            fix="name the row --model FAMILY/NAME with plain names (letters, digits, '.', '_', '-')")
        if target.exists() and not args.force:
            raise MarsZooError(f"{target} exists; pass --force to replace it with the imported row.")
        planned.append((target, result))
    for target, result in planned:  # every row checked before any is written
        _write_json(target, result)
        console_err.print(f"wrote {target}", markup=False, highlight=False)
    return 0


def run_export(args: argparse.Namespace) -> int:
    """task 1 as MTEB result files

    Write the task 1 numbers of a reproduced result (frozen copy, refined captions) as MTEB result
    files: OUT/<org>__<model>/<revision>/MarsVLPairsT2IRetrieval.json,
    MarsVLPairsI2TRetrieval.json and model_meta.json, with recall_at_1, recall_at_10 and
    mrr_at_<pairs> (the main score). mteb_version is null: MTEB did not write them.
    """
    from mars_zoo.results.mteb_format import mteb_layout
    from mars_zoo.results.validation import read_result

    result, problems = read_result(args.result)
    if problems:
        raise MarsZooError(f"{args.result} is not a valid result file: "
                           f"{'; '.join(str(problem) for problem in problems[:5])}. Check it with 'mars-zoo validate'.")
    for path, document in mteb_layout(result, args.result, args.out).items():
        _write_json(path, document)
        console_err.print(f"wrote {path}", markup=False, highlight=False)
    return 0
