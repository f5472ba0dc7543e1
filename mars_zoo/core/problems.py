"""A problem of a file, named by its field path: what the result checks (`results_schema`,
`result_consistency`) and the registration checks report, and how a path is written."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Sequence

ROOT = "(root)"  # the field path of the top-level JSON value

FieldPath = Sequence["str | int"]


@dataclass(frozen=True, order=True)
class Problem:
    """One reason a result is invalid: where (a field path) and what to do."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_@-]+$")


def format_path(parts: FieldPath) -> str:
    """`tasks.landform.per_class[3].ap`; odd keys are quoted: `timings["a b"]`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or ROOT
