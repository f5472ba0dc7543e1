"""One page per model name: every result of that model, each with its metadata, provenance
(the source it cites, or the full fingerprint of the run) and per-task details."""

from __future__ import annotations

import json
from typing import Any, Sequence

from mars_zoo.leaderboard import plots
from mars_zoo.leaderboard.columns import (
    COLUMNS_BY_KEY, GEO_MODES, LANDFORM_CLASS_METRICS, MISSING, RANK, TASKS, TASKS_BY_KEY, Column, declared_task,
    format_value, tasks_of,
)
from mars_zoo.leaderboard.compare import compare_url
from mars_zoo.leaderboard.entries import Entry
from mars_zoo.leaderboard.html import Markup, el, external_link, join
from mars_zoo.leaderboard.layout import definitions, document, notes, text_of
from mars_zoo.leaderboard.overview import PARTIAL, Standing, headline_cell
from mars_zoo.leaderboard.svg import stack
from mars_zoo.leaderboard.tables import (
    TEXT, Cell, Header, Row, badge, details_note, format_parameters, metric_cell, metric_header, short_revision,
    table,
)
from mars_zoo.leaderboard.training import training_mark

EXAMPLES_SHOWN = 20  # of a contamination report's examples; the result file keeps them all

PREFIX = "../"


def _heading_id(anchor: str) -> str:
    """The id of a result's heading, which names its tables for assistive technology."""
    return f"{anchor}-heading"


UNVERIFIED = "revision not verified"


def _revision(model: dict[str, Any]) -> Any:
    """The revision, marked where the run could not confirm it on the Hub."""
    revision = model.get("revision")
    if revision is None or model.get("revision_verified") is not False:
        return revision
    return join([text_of(revision), badge(UNVERIFIED, "unverified")], " ")


def _model_facts(model: dict[str, Any]) -> Markup:
    url_weights = model.get("url_weights")
    facts = [
        ("Family", model["family"]),
        ("Checkpoint", model.get("checkpoint")),
        ("Revision", _revision(model)),
        ("Weights from", url_weights and external_link(url_weights["url"])),
        ("Weights sha256", url_weights and el("code", url_weights["sha256"])),
        ("Fine-tuned from", f"{model['name']} @ {model['weights']['base_revision']}" if model.get("weights") else None),
        ("Modalities", model["modalities"]),
        ("Embedding dimension", model.get("embedding_dim")),
        ("Parameters", format_parameters(model["parameters"]) if model.get("parameters") else None),
        ("Licence", model.get("license")),
        ("Image size", model.get("image_size")),
        ("Batch size", model.get("batch_size")),
        ("Precision", model.get("precision")),
        ("Random weights", model.get("random_weights")),
        ("Requires", model.get("requires")),
        ("Plugin", " ".join(text_of(model[key]) for key in ("plugin", "plugin_package", "plugin_version")
                            if key in model) or None),
    ]
    return definitions([(term, value) for term, value in facts if value is not None])


def _words(key: str) -> str:
    """A field name as words: 'torch_version' -> 'Torch version'."""
    return key.replace("_", " ").replace(".", " ").strip().capitalize()


def _dataset_rows(entry: Entry) -> list[Row]:
    rows = []
    for task_key, body in entry.data["tasks"].items():
        for role in ("dataset", "gallery"):
            dataset = body.get(role)
            if dataset:
                rows.append(Row([Cell(f"{task_key} {role}"), Cell(dataset["id"]), Cell(dataset["revision"]),
                                 Cell(text_of(dataset["split"])), Cell(dataset["items"], class_="num"),
                                 Cell(len(dataset["missing"]), class_="num"),
                                 Cell(el("code", dataset["items_sha256"])), Cell(dataset["location"])]))
    return rows


def _provenance(entry: Entry, table_prefix: str) -> list[Markup]:
    data = entry.data
    if entry.provenance == "reported":
        source = data["source"]
        return [el("h3", "Source"), definitions([
            ("Link", external_link(source["url"])),
            ("Citation", source["citation"]),
            ("Measured on", source["dataset"]),
            ("Items", source.get("items")),
            ("Notes", source.get("notes")),
        ])]
    parts = [el("h3", "Fingerprint"), definitions(
        [("Harness", f"{data['harness']['name']} {data['harness']['version']}")]
        + [(_words(key), value) for key, value in data["run"].items()]
        + [(_words(key), value) for key, value in data["environment"].items()])]
    headers = [Header(label, "", TEXT) for label in
               ("Data", "Id", "Revision", "Split", "Items", "Missing", "Items sha256", "Location")]
    rows = _dataset_rows(entry)
    if rows:
        parts.append(table(f"{table_prefix}-data", "Evaluated data", headers, rows, sortable=False,
                           named_by=_heading_id(table_prefix)))
    return parts


def _training(entry: Entry) -> list[Markup]:
    """How the weights were trained: the marker and what it rests on (the training record's data,
    configuration and contamination report, or what the publishers declare)."""
    mark = training_mark(entry.data)
    training = entry.data.get("training") or {}
    parts = [el("h3", "Training"), el("p", mark.badge(), " ", mark.title, class_="notes")]
    if training.get("kind") == "declared":
        parts.append(definitions([("Declared", training["data"]), ("Source", external_link(training["source"]))]))
    record = training.get("record")
    if record is None:
        return parts
    data, report = record["data"], record["contamination"]
    parts.append(definitions(
        [("Training data", data["name"]), ("Data revision", data["revision"]),
         ("Data fingerprint", el("code", data["fingerprint"])), ("Pairs", f"{data['pairs']:,}"),
         ("Contamination check", "not run" if report is None else "contaminated" if report["contaminated"] else "clean"),
         ("Allowed contaminated data", record["allowed_contaminated"])]
        + [(f"Config: {key}", json.dumps(value, sort_keys=True)) for key, value in sorted(record["config"].items())]))
    if report is None:
        return parts
    kinds = list(dict.fromkeys(kind for counts in report["tasks"].values() for kind in counts))
    rows = [Row([Cell(task)] + [Cell(counts.get(kind, 0), class_="num") for kind in kinds])
            for task, counts in sorted(report["tasks"].items())]
    parts.append(table(f"{entry.anchor}-contamination", "Benchmark items found in the training data, per task",
                       [Header("Task", "", TEXT)] + [Header(kind.capitalize()) for kind in kinds], rows,
                       sortable=False, named_by=_heading_id(entry.anchor)))
    examples = report["examples"]
    if examples:
        more = len(examples) - EXAMPLES_SHOWN
        parts += [el("h4", "Examples"),
                  el("ul", [el("li", el("code", json.dumps(example, sort_keys=True))) for example in examples[:EXAMPLES_SHOWN]]
                     + ([el("li", f"and {more} more in the result file")] if more > 0 else []), class_="examples")]
    return parts


def _timings(body: dict[str, Any]) -> Markup | None:
    pairs = [(key, f"{value:.3f} s") for key, value in sorted(body.get("timings", {}).items())]
    pairs += [(key, f"{value:.1f}") for key, value in sorted(body.get("throughput", {}).items())]
    return definitions(pairs, "facts compact") if pairs else None


def _metric(entry: Entry, column: Column) -> Cell:
    """A metric of the result with its 95% interval, where the file has one."""
    return metric_cell(column.value(entry.data), column.kind, column.interval(entry.data))


def _paired(entry: Entry, body: dict[str, Any], table_id: str) -> list[Markup]:
    task = TASKS_BY_KEY["paired"]
    metrics = [column for column in task.columns if column.group == task.columns[0].group]
    headers = [Header("Direction", "", TEXT)] + [Header(column.label, "", better=column.better) for column in metrics]
    rows = []
    for direction, label in (("t2i", "Text \u2192 image"), ("i2t", "Image \u2192 text")):
        values = body["metrics"].get(direction)
        if values:
            rows.append(Row([Cell(label)] + [_metric(entry, COLUMNS_BY_KEY[f"paired.{direction}.{column.key.rsplit('.', 1)[1]}"])
                                             for column in metrics]))
    facts = [("Caption", body.get("caption")), ("Image source", body.get("source"))]
    facts += [(detail.label, detail.value(entry.data) or "not stated") for detail in task.details]
    return [definitions([(term, value) for term, value in facts if value]), details_note(task),
            table(table_id, "Task 1 scores (%, MedR as a rank)", headers, rows, sortable=False,
                  named_by=_heading_id(entry.anchor))]


def _landform(entry: Entry, body: dict[str, Any], table_id: str) -> list[Markup]:
    task = TASKS_BY_KEY["landform"]
    parts = [table(f"{table_id}-means", "Task 2 means over classes (%)",
                   [metric_header(column) for column in task.columns],
                   [Row([_metric(entry, column) for column in task.columns])],
                   sortable=False, named_by=_heading_id(entry.anchor))]
    per_class = body.get("per_class", [])
    if per_class:
        headers = [Header("Class", "", TEXT, "lower"), Header("Relevant", "")] + [
            Header(label, "", title=f"{label} (%)") for _, label in LANDFORM_CLASS_METRICS]
        rows = [Row([Cell(row["class"], row["class"].lower()), Cell(row["relevant"], str(row["relevant"]), "num")]
                    + [metric_cell(row[key], "fraction") for key, _ in LANDFORM_CLASS_METRICS])
                for row in per_class]
        parts.append(table(f"{table_id}-classes", "Task 2 per class (%)", headers, rows,
                           named_by=_heading_id(entry.anchor)))
    return parts


def _geo(entry: Entry, body: dict[str, Any], table_id: str) -> list[Markup]:
    parts = [definitions([(term, body.get(key)) for term, key in
                          (("K max", "k_max"), ("Radius (degrees)", "radius_deg")) if key in body])]
    mode_rows = [Row([Cell(mode)] + [_metric(entry, COLUMNS_BY_KEY[f"geolocalization.{mode}.{metric}"])
                                     for metric in ("f1", "auprc")])
                 for mode in GEO_MODES if mode in body["metrics"]]
    parts.append(table(f"{table_id}-modes", "Task 3 means over landforms (%)",
                       [Header("Query", "", TEXT), Header("F1"), Header("AUPRC")], mode_rows, sortable=False,
                       named_by=_heading_id(entry.anchor)))
    per_landform = body.get("per_landform", [])
    if per_landform:
        headers = [Header("Landform", "", TEXT, "lower"), Header("Query", "", TEXT, "lower"),
                   Header("Ground truth")] + [Header(label, title=f"{label} (%)") for label in
                                             ("F1", "Precision", "Recall", "AUPRC")] + [Header("K", better="lower")]
        rows = [Row([Cell(row["landform"], row["landform"].lower()), Cell(row["mode"], row["mode"]),
                     Cell(row["ground_truth"], str(row["ground_truth"]), "num")]
                    + [metric_cell(row[key], "fraction") for key in ("f1", "precision", "recall", "auprc")]
                    + [Cell(format_value(row["k"], RANK), "" if row["k"] is None else str(row["k"]), "num")])
                for row in per_landform]
        parts.append(table(f"{table_id}-landforms", "Task 3 per landform and query mode", headers, rows,
                           named_by=_heading_id(entry.anchor)))
    curves = plots.pr_curves_of_entry(entry, f"{table_id}-pr")
    if curves:
        parts += [el("h4", "Precision-recall curves"), stack(curves)]
    return parts


def _declared(entry: Entry, body: dict[str, Any], table_id: str) -> list[Markup]:
    """A task a plugin declares: its declared metrics, as the result's declaration names them."""
    task = declared_task(body["declaration"])
    return [table(f"{table_id}-metrics", f"{task.title}: declared metrics",
                  [metric_header(column, column.key == task.headline) for column in task.columns],
                  [Row([_metric(entry, column) for column in task.columns])],
                  sortable=False, named_by=_heading_id(entry.anchor))]


TEXT_TASKS = ("paired", "landform")  # tasks whose queries or gallery are text in every mode
RENDER_TASK = {"paired": _paired, "landform": _landform, "geolocalization": _geo}


def _entry_section(entry: Entry) -> Markup:
    data = entry.data
    heading = [f"{entry.provenance.capitalize()} result on {data['benchmark']['name']}", " ",
               badge(entry.provenance, entry.provenance), training_mark(data).badge(),
               entry.synthetic and badge("SYNTHETIC", "synthetic"),
               not entry.submitted and badge("local file", "local")]
    parts: list[Any] = [el("h2", heading, id=_heading_id(entry.anchor))]
    if entry.synthetic:
        parts.append(el("p", el("strong", "SYNTHETIC"), " \u2014 measured on the generated mini benchmark: "
                        "not a MarsRetrieval result, not ranked.", class_="synthetic-banner"))
    parts += [el("p", "From ", el("code", entry.source), class_="source-file"),
              notes(data.get("notes")), el("h3", "Model"), _model_facts(entry.model),
              notes(entry.model.get("description"))]
    parts += _training(entry)
    parts += _provenance(entry, entry.anchor)
    for task in tasks_of([data]):
        body = entry.task(task.key)
        if body is None and task.key in TEXT_TASKS and "text" not in entry.model["modalities"]:
            parts += [el("h3", task.heading),
                      el("p", "Not applicable: an image-only model cannot embed this task's text.", class_="notes")]
        if body is not None:
            parts += [el("h3", task.heading), notes(body.get("notes"))]
            parts += RENDER_TASK.get(task.key, _declared)(entry, body, f"{entry.anchor}-{task.key}")
            parts.append(_timings(body))
    return el("section", parts, id=entry.anchor, class_="result synthetic" if entry.synthetic else "result")


def _compared(reproduced: Sequence[Entry], reported: Sequence[Entry]) -> tuple[Entry, Entry]:
    """The reproduced and the reported result set side by side: the first pair measured under the
    same task 1 protocol where there is one (a run under MTEB's protocol beside MTEB's row), else
    the first of each."""
    paired = TASKS_BY_KEY["paired"]
    same = [(new, old) for new in reproduced for old in reported
            if paired.protocol_of(new.data) == paired.protocol_of(old.data)]
    return same[0] if same else (reproduced[0], reported[0])


def _difference(reproduced: Entry, reported: Entry) -> Row:
    """Reproduced minus reported, per headline number measured under the same protocol in both."""
    cells = [Cell("Reproduced \u2212 reported (points)"), Cell("")]
    for task in TASKS:
        column = task.headline_column
        new, old = column.value(reproduced.data), column.value(reported.data)
        if new is None or old is None:
            cells.append(Cell(MISSING, "", "num missing"))
        elif task.protocol_of(reproduced.data) != task.protocol_of(reported.data):
            cells.append(Cell(MISSING, "", "num missing", "not compared: measured under different protocols ("
                              f"{task.protocol_of(reproduced.data)} and {task.protocol_of(reported.data) or 'not stated'})"))
        else:
            cells.append(Cell(f"{(new - old) * 100:+.2f}", repr(new - old), "num"))
    return Row(cells)


def _standing(standing: Standing, ranked_count: int) -> str:
    """'2 of 5 (mean rank 1.50 over 2 of 3 tasks, partial)', or why there is no place."""
    if standing.rank is None:
        return f"not ranked ({standing.words().removeprefix('not ranked: ')})"
    partial = f", {PARTIAL}" if standing.partial else ""
    return (f"{standing.rank} of {ranked_count} (mean rank {standing.mean:.2f} over {standing.covered} of "
            f"{standing.tasks} tasks{partial})")


def _summary(entries: Sequence[Entry], ranks: dict[str, Standing]) -> list[Markup]:
    """The first screen: overview place and headline numbers of every result of the model side by
    side (with the difference where it was both reported and reproduced), then the links."""
    real = [entry for entry in entries if not entry.synthetic]
    ranked_count = sum(standing.rank is not None for standing in ranks.values())
    headers = [Header("Result", "", TEXT), Header("Overview rank", "", TEXT)] + [
        Header(f"Task {task.number}: {task.headline_name}", "", title=f"Task {task.number}: {task.headline_name} (%)")
        for task in TASKS]
    rows = [Row([Cell(el("a", badge(entry.provenance, entry.provenance), href=f"#{entry.anchor}")),
                 Cell(_standing(ranks[entry.key], ranked_count))]
                + [headline_cell(task, entry) for task in TASKS]) for entry in real]
    reproduced = [entry for entry in real if entry.provenance == "reproduced"]
    reported = [entry for entry in real if entry.provenance == "reported"]
    if reproduced and reported:
        rows.append(_difference(*_compared(reproduced, reported)))
    parts = [table("summary", "Headline numbers (%) of every result of this model", headers, rows,
                   sortable=False)] if rows else []
    model = entries[0].model
    weights = {entry.weights_url: entry for entry in entries if entry.weights_url}  # one per pinned commit
    links = [external_link(url, _weights_label(entry)) for url, entry in weights.items()]
    links += [model.get(key) and external_link(model[key], label) for key, label in (("paper_url", "paper"),
                                                                                     ("code_url", "code"))]
    links += [el("a", f"result file ({entry.provenance} on {entry.data['benchmark']['name']})",
                 href=PREFIX + entry.result_file) for entry in entries]
    links += [el("a", f"compare the {entry.provenance} result with another", href=f"{PREFIX}{compare_url(entry)}")
              for entry in real]
    parts.append(el("p", join([link for link in links if link], " \u00b7 "), class_="links"))
    recipe_notes = list(dict.fromkeys(entry.model["recipe_notes"] for entry in entries
                                      if entry.model.get("recipe_notes")))
    if recipe_notes:
        parts += [el("h2", "Where the evaluation recipe differs from the model card")]
        parts += [el("p", text, class_="notes") for text in recipe_notes]
    return parts


def _weights_label(entry: Entry) -> str:
    if entry.model.get("url_weights"):
        return f"weights (sha256 {short_revision(entry.model['url_weights']['sha256'])})"
    revision = entry.revision
    label = f"weights at {short_revision(revision)}" if revision else "weights"
    return f"{label} ({UNVERIFIED})" if entry.revision_unverified else label


def model_page(entries: Sequence[Entry], version: str, ranks: dict[str, Standing]) -> bytes:
    """The page of one model name; `entries` are all its results, in the leaderboard's order;
    `ranks` the overview standing of every real result by its key (`overview.standings`)."""
    name = entries[0].name
    contents = [el("li", el("a", f"{entry.provenance} on {entry.data['benchmark']['name']}"
                            + (" (SYNTHETIC)" if entry.synthetic else ""), href=f"#{entry.anchor}"),
                    " \u2014 ", el("code", entry.source))
                for entry in entries]
    body = [el("p", el("a", "\u2190 back to the leaderboard", href=f"{PREFIX}index.html"), class_="back"),
            el("h1", name), *_summary(entries, ranks), el("ul", contents, class_="results")]
    body += [_entry_section(entry) for entry in entries]
    return document(f"{name} \u2014 mars-zoo leaderboard", body, PREFIX, version)
