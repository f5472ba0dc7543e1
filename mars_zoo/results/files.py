"""Assembling, checking and writing result files.

The result file is the product of a run: it must validate against the shipped
JSON Schema before it is written, and it is written atomically so a crash never
leaves a half-written file where a good one was.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Mapping

from mars_zoo import __version__
from mars_zoo.core.atomic import atomic_write_bytes
from mars_zoo.core.errors import MarsZooError, PluginError

SCHEMA_VERSION = 1


def dumps(result: dict[str, Any]) -> str:
    """Canonical JSON (sorted keys, NaN refused) so equal results are equal files."""
    return json.dumps(result, indent=2, sort_keys=True, allow_nan=False) + "\n"


def check_writable(path: Path) -> None:
    """Fail before hours of embedding, not after, when the output cannot be written. Creates
    nothing: the folders of the result file are made when it is written, so that a run that
    fails early leaves no trace."""
    if path.is_dir():
        raise MarsZooError(f"--out {path} is a directory; give a file name such as {path / 'result.json'}.")
    existing = path.absolute().parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise MarsZooError(f"Cannot write the result file {path}: {existing} is a file where a folder "
                           f"belongs. Choose another --out path.")
    try:
        with tempfile.TemporaryFile(dir=existing):  # can we create files there?
            pass
    except OSError as exc:
        raise MarsZooError(
            f"Cannot write the result file {path}: {exc.strerror or exc} in {existing}. Choose another --out path."
        ) from exc


def write_result(result: dict[str, Any], path: Path, owners: Mapping[str, str] | None = None) -> None:
    """Validate and write `result`. `owners` names the plugin code behind task sections that do
    not come with mars-zoo (`{"acme": "Task 'acme' (plugin acme)"}`): a problem in one of those is
    that code's fault, reported as such; any other problem is a bug of mars-zoo itself."""
    from mars_zoo.results.validation import validate_result

    problems = validate_result(result)
    for task, owner in (owners or {}).items():
        theirs = [problem for problem in problems if problem.startswith((f"tasks.{task}.", f"tasks.{task}:"))]
        if theirs:
            raise PluginError(f"{owner} scored a section the result schema refuses, so no result was written: "
                              f"{'; '.join(theirs)}. Fix its score function (see the README's 'Writing a task').")
    if problems:
        raise RuntimeError(
            "mars-zoo produced a result that does not match its own schema (a bug):\n"
            + "\n".join(problems)
        )
    atomic_write_bytes(path, dumps(result).encode("utf-8"))


def harness() -> dict[str, str]:
    return {"name": "mars-zoo", "version": __version__}

