"""Is this a valid result file? The versioned JSON Schema plus the rules it cannot state.

Every problem is reported as a field path (`tasks.paired.metrics.i2t.r1`, `model.modalities[0]`)
and a message that says what is expected, so a contributor can fix a file without reading the
schema. The schema ships in the package (`mars_zoo/schema/result-v1.schema.json`); this module
adds what JSON Schema cannot express: finite numbers only (NaN and Infinity are refused while
parsing, where Python's json would otherwise accept them) and no duplicate keys, and applies the
cross-field rules of `mars_zoo.results.consistency` (R@1 <= R@10, F1 from P and R, means of their
rows, ...) to a result that passes the schema. Both report a `mars_zoo.core.problems.Problem`.

Beyond the standard library only jsonschema (when first validating) and the constants of the
consistency rules are imported: `mars-zoo validate` must stay fast.
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from mars_zoo.core.problems import ROOT, Problem, format_path  # noqa: F401 (ROOT: a field path callers name)

SCHEMA_VERSION = 1
SCHEMA_RESOURCE = "result-v1.schema.json"
SCHEMA_SUFFIX = ".schema.json"  # a `$ref` ending so names a sibling schema file (the training record's)
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 32  # nesting levels of lists and objects; a valid result needs 7

FILE = "(file)"  # the field path of problems with the file itself (size, encoding, syntax)


@functools.cache
def load_schema(resource: str = SCHEMA_RESOURCE) -> dict:
    """A JSON Schema shipped with the package: the result file's (version 1) by default."""
    text = resources.files("mars_zoo").joinpath("schema", resource).read_text("utf-8")
    return json.loads(text)


@functools.cache
def _validator(resource: str = SCHEMA_RESOURCE):
    """A validator of the schema with its references inlined: the same rules, but
    jsonschema no longer resolves a `$ref` for each of the thousands of numbers in a
    result's curves, which made validating one result take a third of a second."""
    from jsonschema import Draft202012Validator

    schema = load_schema(resource)
    return Draft202012Validator(_inline_refs(schema, schema.get("$defs", {}), ()))


def _inline_refs(node: Any, defs: dict, expanding: tuple[str, ...]) -> Any:
    """`node` with each {"$ref": "#/$defs/NAME"} replaced by that definition (a
    definition that refers to itself, directly or not, is left as a reference), and each
    {"$ref": "<name>.schema.json"} by that sibling schema, inlined in turn."""
    if isinstance(node, list):
        return [_inline_refs(item, defs, expanding) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref", "")
    if len(node) == 1 and ref.endswith(SCHEMA_SUFFIX) and "/" not in ref:
        other = load_schema(ref)
        inlined = _inline_refs(other, other.get("$defs", {}), ())
        return {key: value for key, value in inlined.items() if key not in ("$schema", "$id", "$defs")}
    name = ref.removeprefix("#/$defs/")
    if len(node) == 1 and ref.startswith("#/$defs/") and name in defs and name not in expanding:
        return _inline_refs(defs[name], defs, (*expanding, name))
    return {key: _inline_refs(value, defs, expanding) for key, value in node.items()}


# ---------------------------------------------------------------------------------------------
# parsing


class NonFinite(str):
    """Stands in for a NaN / Infinity / overflowing literal found while parsing, so that the
    problem can be reported with its field path instead of a bare line and column."""


class DuplicateKeys(dict):
    """A parsed JSON object that repeated some key (json keeps the last value silently)."""

    duplicates: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    counts: dict[str, int] = {}
    for key, _ in pairs:
        counts[key] = counts.get(key, 0) + 1
    marked = DuplicateKeys(obj)
    marked.duplicates = tuple(sorted(key for key, count in counts.items() if count > 1))
    return marked


def _float(token: str) -> float | NonFinite:
    value = float(token)
    return value if math.isfinite(value) else NonFinite(token)


def parse_json(data: bytes) -> tuple[Any, list[Problem]]:
    """Parse a result file's bytes strictly: UTF-8, standard JSON, no NaN or Infinity.

    Returns the parsed value (None if unparseable) and the problems found at file level.
    NaN and duplicate keys are not file-level: `result_problems` reports them by path.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(FILE, f"is not UTF-8 text (byte {exc.start}); save the file as UTF-8")]
    try:
        value = json.loads(
            text, parse_constant=NonFinite, parse_float=_float, object_pairs_hook=_object
        )
    except json.JSONDecodeError as exc:
        return None, [
            Problem(FILE, f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
        ]
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        return None, [Problem(FILE, f"is not valid JSON: {exc}")]
    except RecursionError:
        return None, [Problem(FILE, f"nests lists or objects too deeply to parse; a result file nests "
                                    f"at most {MAX_DEPTH} levels")]
    if _too_deep(value):
        return None, [Problem(FILE, f"nests lists or objects more than {MAX_DEPTH} levels deep; a result "
                                    f"file needs far fewer")]
    return value, []


def _too_deep(value: Any) -> bool:
    """Deeper than MAX_DEPTH, checked without recursion (the checks that follow recurse)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                return True
            pending += [(child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)]
    return False


# ---------------------------------------------------------------------------------------------
# field paths and messages

def _show(value: Any, limit: int = 80) -> str:
    text = "NaN/Infinity" if isinstance(value, NonFinite) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_TYPE_WORDS = {
    "object": "an object", "array": "a list", "string": "a string", "number": "a number",
    "integer": "an integer", "boolean": "true or false", "null": "null",
}


def schema_error_problems(error, root: Any) -> Iterator[Problem]:
    """Turn one jsonschema error into problems that name the field and the fix."""
    path = list(error.absolute_path)
    if "propertyNames" in error.relative_schema_path:  # the offending key itself
        path.append(error.instance)
    where = format_path(path)
    kind, schema, value = error.validator, error.schema, error.instance
    described = schema.get("description") if isinstance(schema, dict) else None
    branch = list(error.schema_path)[:3]
    in_branch = branch[0::2] == ["allOf", "then"]  # the result's branch by provenance, not a nested if/then
    provenance = root.get("provenance") if isinstance(root, dict) else None
    for_provenance = f" in a {provenance} result" if in_branch and provenance else ""

    if kind == "required":
        for key in error.validator_value:
            if isinstance(value, dict) and key not in value:
                yield Problem(format_path([*path, key]), f"is required{for_provenance}")
    elif kind == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        for key in value:
            if key not in known:
                allowed = f" (allowed: {', '.join(known)})" if known else ""
                yield Problem(format_path([*path, key]), f"is not a known field{allowed}")
    elif kind == "type":
        wanted = error.validator_value
        wanted = [wanted] if isinstance(wanted, str) else wanted
        yield Problem(where, f"must be {' or '.join(_TYPE_WORDS[t] for t in wanted)}, got {_show(value)}")
    elif kind in ("enum", "const"):
        options = [json.dumps(option) for option in
                   (error.validator_value if kind == "enum" else [error.validator_value])]
        expected = described or (", ".join(options[:-1]) + " or " if len(options) > 1 else "") + options[-1]
        yield Problem(where, f"must be {expected}, got {_show(value)}")
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") and described:
        yield Problem(where, f"must be {described}, got {_show(value)}")
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        yield Problem(where, f"must be {sign[kind]} {error.validator_value}, got {_show(value)}")
    elif kind in ("pattern", "not") and described:
        yield Problem(where, f"must be {described}, got {_show(value)}")
    elif kind == "minItems" and error.validator_value == 1:
        yield Problem(where, "must not be empty")
    elif kind == "minProperties" and described:
        yield Problem(where, f"must contain {described}")
    elif kind == "minLength" and error.validator_value == 1:
        yield Problem(where, "must not be empty")
    elif kind == "maxLength":
        yield Problem(where, f"is too long (at most {error.validator_value} characters)")
    elif kind == "uniqueItems":
        yield Problem(where, "must not repeat an item")
    else:
        yield Problem(where, error.message)


# ---------------------------------------------------------------------------------------------
# rules beyond the schema


def _walk(value: Any, path: list) -> Iterator[Problem]:
    """Non-finite numbers and duplicate keys, wherever they are."""
    if isinstance(value, NonFinite) or (isinstance(value, float) and not math.isfinite(value)):
        yield Problem(format_path(path), f"must be a finite number, got {value} (NaN and Infinity are not allowed)")
    elif isinstance(value, dict):
        for key in getattr(value, "duplicates", ()):
            yield Problem(format_path([*path, key]), "appears more than once in its object; keep one")
        for key, item in value.items():
            yield from _walk(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, [*path, index])



# ---------------------------------------------------------------------------------------------
# public entry points


def schema_problems(value: Any, resource: str = SCHEMA_RESOURCE) -> set[Problem]:
    """The problems of one parsed value against a shipped schema (the result file's by
    default), non-finite numbers and duplicate keys included."""
    problems = set(_walk(value, []))
    flagged = {problem.field for problem in problems}
    return problems | {
        problem
        for error in _validator(resource).iter_errors(value)
        for problem in schema_error_problems(error, value)
        if problem.field not in flagged  # a NaN is reported once, not also as "not a number"
    }
