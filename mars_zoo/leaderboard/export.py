"""The downloads: every result as JSON, and flat CSV tables of the same numbers.

CSV cells that a spreadsheet would run as a formula (text starting with =, +, -, @, tab or
carriage return) get a leading apostrophe: model names and notes come from strangers.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Sequence

from mars_zoo.leaderboard.columns import LANDFORM_CLASS_METRICS, tasks_of
from mars_zoo.leaderboard.entries import Entry
from mars_zoo.leaderboard.training import training_mark
from mars_zoo.schema.training import found_counts

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MODEL_FIELDS = ("name", "family", "checkpoint", "revision", "modalities", "parameters", "embedding_dim",
                "license", "paper_url", "code_url")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        value = "+".join(str(item) for item in value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def _base(entry: Entry) -> list[Any]:
    return [entry.source, entry.provenance, entry.data["benchmark"]["name"], entry.synthetic]


BASE_HEADER = ["file", "provenance", "benchmark", "synthetic"]


def results_json(entries: Sequence[Entry], version: str) -> bytes:
    document = {
        "generator": f"mars-zoo {version}",
        "results": [{"file": entry.source, "synthetic": entry.synthetic, "result": entry.data}
                    for entry in entries],
    }
    return (json.dumps(document, indent=1, sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n").encode()


def _found(entry: Entry) -> int | None:
    """How many benchmark items the result's training data holds, where a contamination report says."""
    report = ((entry.data.get("training") or {}).get("record") or {}).get("contamination")
    return sum(found_counts(report).values()) if report else None


def results_csv(entries: Sequence[Entry]) -> bytes:
    """One row per result: raw metric values (MedR unrounded), then how they were measured and
    how the weights were trained (the training marker, and the benchmark items found in the
    training data where that was checked)."""
    tasks = tasks_of([entry.data for entry in entries])
    columns = [column for task in tasks for column in task.columns]
    details = [detail for task in tasks for detail in task.details]
    header = (BASE_HEADER + [f"model.{key}" for key in MODEL_FIELDS] + [column.key for column in columns]
              + [detail.key for detail in details] + ["source.url", "training", "training.found_items"])
    rows = [_base(entry) + [entry.model.get(key) for key in MODEL_FIELDS]
            + [column.value(entry.data) for column in columns]
            + [detail.value(entry.data) for detail in details]
            + [entry.data.get("source", {}).get("url"), training_mark(entry.data).label, _found(entry)]
            for entry in entries]
    return _csv(header, rows)


def landform_csv(entries: Sequence[Entry]) -> bytes:
    header = BASE_HEADER + ["model", "class", "relevant"] + [key for key, _ in LANDFORM_CLASS_METRICS]
    rows = [_base(entry) + [entry.name, row["class"], row["relevant"]] + [row[key] for key, _ in LANDFORM_CLASS_METRICS]
            for entry in entries for row in (entry.task("landform") or {}).get("per_class", [])]
    return _csv(header, rows)


def geolocalization_csv(entries: Sequence[Entry]) -> bytes:
    metrics = ("ground_truth", "f1", "precision", "recall", "auprc", "k")
    header = BASE_HEADER + ["model", "landform", "mode"] + list(metrics)
    rows = [_base(entry) + [entry.name, row["landform"], row["mode"]] + [row[key] for key in metrics]
            for entry in entries for row in (entry.task("geolocalization") or {}).get("per_landform", [])]
    return _csv(header, rows)


def downloads(entries: Sequence[Entry], version: str) -> dict[str, bytes]:
    """Site-relative path -> file contents."""
    return {
        "data/results.json": results_json(entries, version),
        "data/results.csv": results_csv(entries),
        "data/landform_per_class.csv": landform_csv(entries),
        "data/geolocalization_per_landform.csv": geolocalization_csv(entries),
        **{entry.result_file: (json.dumps(entry.data, indent=1, sort_keys=True, ensure_ascii=True, allow_nan=False)
                               + "\n").encode() for entry in entries},
    }
