"""Is this a valid result file? The one entry point: the schema's checks (`results_schema`),
then, for a result the schema accepts, the cross-field rules (`result_consistency`).

It sits above both so that neither imports the other, and so that modules the consistency
rules build on (the training record's checks, say) may use the schema without a circle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mars_zoo.core.problems import Problem
from mars_zoo.results.consistency import consistency_problems
from mars_zoo.schema.results_schema import FILE, MAX_FILE_BYTES, parse_json, schema_problems


def result_problems(result: Any) -> list[Problem]:
    """Every problem of one parsed result, sorted by field path."""
    problems = schema_problems(result)
    if not problems:
        problems.update(consistency_problems(result))
    return sorted(problems)


def validate_result(result: Any) -> list[str]:
    """Messages `field.path: message` for every problem of one parsed result; [] if valid."""
    return [str(problem) for problem in result_problems(result)]


def read_result(path: Path) -> tuple[Any, list[Problem]]:
    """Read, parse and check one result file; returns the parsed value (None if it could not
    be parsed) and every problem found."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [Problem(FILE, f"is {size} bytes; result files are capped at "
                                        f"{MAX_FILE_BYTES} bytes ({MAX_FILE_BYTES // 2**20} MiB)")]
        data = path.read_bytes()
    except OSError as exc:
        return None, [Problem(FILE, f"cannot be read: {exc.strerror or exc}")]
    value, problems = parse_json(data)
    if problems:
        return None, problems
    return value, result_problems(value)


def validate_file(path: str | Path) -> list[str]:
    """Messages `field.path: message` for every problem of one result file; [] if valid."""
    return [str(problem) for problem in read_result(Path(path))[1]]
