"""Golden numbers: a full mini run of every task with `openclip/tiny-random`.

tests/golden/tiny-random-mini.json holds, for each task, the dataset identity (items and
their hash) and every metric of the result file except the task 3 curves, as computed when
the file was last regenerated. They pin the whole chain (data reading, image preparation,
prompts, query building, search, metrics): a change anywhere that moves a number fails here,
naming the field.

When a number moves on purpose (the mini data, the tiny model or a protocol rule changed),
regenerate the file, look at the diff, and commit it saying why the numbers moved:

    HF_HUB_OFFLINE=1 .venv/bin/python tests/test_golden_mini.py
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).with_name("golden") / "tiny-random-mini.json"
TOL = 1e-9  # float sums may round differently on another CPU; ranks may not move


def mini_run_numbers(cache_dir: Path, out: Path) -> dict[str, Any]:
    """The numbers of a fresh full mini run, in the golden file's layout."""
    from mars_zoo.models.registry import load_registry
    from mars_zoo.core.reporting import Reporter
    from mars_zoo.pipeline.runner import RunConfig, run

    config = RunConfig(model="openclip/tiny-random", out=out, benchmark="mini", device="cpu",
                       workers=0, cache_dir=cache_dir, no_cache=True)
    result, _ = run(config, load_registry(), Reporter())
    return golden_numbers(result)


def golden_numbers(result: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a full mini run's result, in the golden file's layout."""
    tasks = result["tasks"]

    def dataset(record: dict) -> dict:
        return {key: record[key] for key in ("id", "items", "items_sha256", "missing", "source_rows")}

    return {
        "paired": {
            "dataset": dataset(tasks["paired"]["dataset"]),
            "image_preparation": tasks["paired"]["image_preparation"],
            "metrics": tasks["paired"]["metrics"],
        },
        "landform": {
            "dataset": dataset(tasks["landform"]["dataset"]),
            "metrics": tasks["landform"]["metrics"],
            "per_class": tasks["landform"]["per_class"],
        },
        "geolocalization": {
            "dataset": dataset(tasks["geolocalization"]["dataset"]),
            "gallery": dataset(tasks["geolocalization"]["gallery"]),
            "metrics": tasks["geolocalization"]["metrics"],
            "per_landform": [
                {key: value for key, value in row.items() if key != "curve"}
                for row in tasks["geolocalization"]["per_landform"]
            ],
        },
    }


def differences(actual: Any, expected: Any, path: str = "") -> list[str]:
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or actual.keys() != expected.keys():
            return [f"{path}: keys {sorted(actual) if isinstance(actual, dict) else actual!r} != {sorted(expected)}"]
        return [line for key in expected for line in differences(actual[key], expected[key], f"{path}.{key}")]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: {actual!r} != {expected!r}"]
        return [line for i, (a, e) in enumerate(zip(actual, expected)) for line in differences(a, e, f"{path}[{i}]")]
    if isinstance(expected, float) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        return [] if math.isclose(actual, expected, rel_tol=0, abs_tol=TOL) else [f"{path}: {actual!r} != {expected!r}"]
    return [] if actual == expected and type(actual) is type(expected) else [f"{path}: {actual!r} != {expected!r}"]


@pytest.fixture(scope="module")
def numbers(mini_run):
    return golden_numbers(mini_run)


@pytest.mark.parametrize("task", ["paired", "landform", "geolocalization"])
def test_a_full_mini_run_gives_the_golden_numbers(numbers, task):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    found = differences(numbers[task], golden[task], task)
    assert not found, (
        "the mini run's numbers moved (regenerate with `python tests/test_golden_mini.py` "
        "only if that is intended):\n" + "\n".join(found[:20])
    )


def regenerate() -> None:
    """Rewrite the golden file from a fresh run (see the module docstring)."""
    from mars_zoo.core.folders import default_cache_dir
    from mars_zoo.data.mini import ensure_mini

    ensure_mini(default_cache_dir())
    with tempfile.TemporaryDirectory() as tmp:
        numbers = mini_run_numbers(default_cache_dir(), Path(tmp) / "result.json")
    from mars_zoo.core.atomic import atomic_write_bytes

    GOLDEN.parent.mkdir(exist_ok=True)
    atomic_write_bytes(GOLDEN, (json.dumps(numbers, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    print(f"wrote {GOLDEN}", file=sys.stderr)


if __name__ == "__main__":
    regenerate()
