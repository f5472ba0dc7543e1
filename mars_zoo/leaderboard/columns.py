"""Which numbers the leaderboard shows for each task, how they are read from a result and
how they are formatted. Tables, charts and the CSV download all use these definitions, so a
metric is named and formatted the same way everywhere.

Each task has one headline metric (`Task.headline`), the one its declaration names: the overview
shows it, the task's table is ranked by it and its chart is ordered by it. MarsRetrieval's three
tasks take their declarations (metrics with the direction that is better, headline) from the
result schema, which pins them as every run records them; a plugin's task takes the one its
results record (`declared_task`). A value that is absent is written `MISSING` everywhere; one
that cannot exist (a text task of an image-only model) `NOT_APPLICABLE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from mars_zoo.data.images import MTEB_PREPARATION, PUBLISHED_PREPARATION
from mars_zoo.schema.results_schema import load_schema

FRACTION = "fraction"  # shown in percent with two decimals, like the paper
RANK = "rank"  # MedR: shown as an integer, lower is better
NUMBER = "number"  # a metric a task's declaration names: shown as it is, to four significant digits
MISSING = "\u2013"  # not measured, not reported or not stated
NOT_APPLICABLE = "n/a"  # cannot be measured: the model lacks the modality the task needs


@dataclass(frozen=True)
class Column:
    """One metric of one task: `key` is its dotted path under `tasks.<task>.metrics`
    (prefixed by the task), also the CSV header."""

    key: str
    label: str
    group: str
    kind: str = FRACTION
    direction: str | None = None  # as a task declares it; else a rank is better lower, a fraction higher

    @property
    def better(self) -> str:
        return self.direction or ("lower" if self.kind == RANK else "higher")

    def _lookup(self, result: dict[str, Any], *section: str) -> Any:
        task, *path = self.key.split(".")
        node: Any = result["tasks"].get(task, {})
        for part in (*section, *path):
            if not isinstance(node, dict):
                return None
            node = node.get(part)
        return node

    def value(self, result: dict[str, Any]) -> float | None:
        node = self._lookup(result, "metrics")
        return node if isinstance(node, (int, float)) and not isinstance(node, bool) else None

    def interval(self, result: dict[str, Any]) -> tuple[float, float] | None:
        """The metric's 95% bootstrap interval (`tasks.<task>.confidence`), where the result has one."""
        node = self._lookup(result, "confidence", "metrics")
        return (node[0], node[1]) if isinstance(node, list) and len(node) == 2 else None


@dataclass(frozen=True)
class Detail:
    """A text field of a task section that is no metric but says how its scores were measured,
    so that rows measured differently are told apart: `key` is its dotted path under `tasks`
    (also the CSV header), `explanation` the footnote shown with it."""

    key: str
    label: str
    explanation: str

    def value(self, result: dict[str, Any]) -> str | None:
        task, name = self.key.split(".")
        value = result["tasks"].get(task, {}).get(name)
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Task:
    """One task's table. Where its numbers can be measured under several protocols, `protocol`
    is the detail that names a result's, and rows are ranked only among rows of the same
    protocol, those of `reference_protocol` (the paper's) first."""

    key: str
    number: int | None  # MarsRetrieval's task number; None for a task a plugin declares
    title: str
    summary: str
    columns: tuple[Column, ...]
    headline: str  # the column key rows are ranked by
    details: tuple[Detail, ...] = ()
    protocol: Detail | None = None
    reference_protocol: str | None = None
    needs: tuple[str, ...] = ("image", "text")  # the modalities a model needs for the headline
    headline_label: str | None = None  # the headline in words where group and label do not read as one

    @property
    def heading(self) -> str:
        """'Task 2: Landform retrieval', or a declared task's title alone."""
        return f"Task {self.number}: {self.title}" if self.number else self.title

    @property
    def headline_column(self) -> Column:
        return next(column for column in self.columns if column.key == self.headline)

    @property
    def headline_name(self) -> str:
        """The headline metric in words, as headers and chart titles name it: its label, after its
        group where the task's metrics come in groups ('Text \u2192 image R@1', 'mAP')."""
        if self.headline_label:
            return self.headline_label
        column = self.headline_column
        return f"{column.group} {column.label}" if len({c.group for c in self.columns}) > 1 else column.label

    def applies(self, modalities: Sequence[str]) -> bool:
        """Whether a model of these modalities can be measured on the headline metric."""
        return set(self.needs) <= set(modalities)

    def protocol_of(self, result: dict[str, Any]) -> str | None:
        """The protocol `result`'s numbers of this task were measured under (None: not stated)."""
        return self.protocol.value(result) if self.protocol else self.reference_protocol

    def apart(self, result: dict[str, Any]) -> str | None:
        """Why `result` is ranked apart from the reference rows of this task (None: it is not)."""
        protocol = self.protocol_of(result)
        if protocol == self.reference_protocol:
            return None
        measured = f"measured under {PROTOCOL_NAMES.get(protocol, protocol)}" if protocol else \
            "whose image preparation is not stated"
        return (f"Ranked only among the task {self.number} results {measured}, not against those of "
                f"the paper's protocol ({self.reference_protocol}): the two give different numbers.")


# The badge of a task 1 row ranked apart (short: it sits in the rank column; its tooltip says the
# rest), and how the notes name its protocol.
PROTOCOL_BADGES = {MTEB_PREPARATION: "MTEB", None: "unstated"}
PROTOCOL_NAMES = {MTEB_PREPARATION: f"MTEB's protocol ({MTEB_PREPARATION})"}


IMAGE_PREPARATION = Detail(
    "paired.image_preparation", "Image preparation",
    "Image preparation: the task 1 protocol a row was measured under, named by how the pair images were "
    f"prepared before the model's own preprocessing. {PUBLISHED_PREPARATION} is the paper's (as the published "
    "download step: shorter side resized to 512 px with OpenCV, a centred 512x512 crop, JPEG at quality 95; "
    f"ties count against the model), what mars-zoo run measures by default; {MTEB_PREPARATION} is MTEB's "
    "(the frozen copy's original image bytes, ties ordered by pair id, recall rounded to 5 decimals), what "
    "the MTEB rows report and mars-zoo run --paired-protocol mteb measures. The two give different numbers, "
    "so rows are ranked only among rows of the same preparation: the paper's first, then the others, marked.")


def _declaration(name: str) -> dict[str, Any]:
    """A MarsRetrieval task's declaration, as the result schema pins it."""
    defs = load_schema()["$defs"]
    return next(definition["properties"]["declaration"]["const"] for definition in defs.values()
                if definition.get("properties", {}).get("declaration", {}).get("const", {}).get("name") == name)


def _declared_columns(name: str, labels: dict[str, tuple[str, str, str]]) -> tuple[Column, ...]:
    """The task's declared metrics in their declared order, each with its direction and, from
    `labels` (metric -> label, group, kind), how the site names and formats it."""
    metrics = _declaration(name)["metrics"]
    return tuple(Column(f"{name}.{metric}", *labels[metric], direction) for metric, direction in metrics.items())


def _headline(name: str) -> str:
    return f"{name}.{_declaration(name)['headline']}"


DIRECTIONS = {"t2i": "Text \u2192 image", "i2t": "Image \u2192 text"}
GEO_MODES = ("text", "image", "hybrid")

TASKS = (
    Task(
        key="paired",
        number=1,
        title="Paired image-text retrieval",
        summary="Each image must find its own caption among all captions, and each caption its "
        "image (R@k: share of queries whose match ranks in the top k; MRR: mean reciprocal rank; "
        "MedR: median rank, lower is better, shown rounded to an integer as the published code prints "
        "it).",
        columns=_declared_columns("paired", {
            f"{direction}.{metric}": (label, group, kind) for direction, group in DIRECTIONS.items()
            for metric, label, kind in (("r1", "R@1", FRACTION), ("r10", "R@10", FRACTION), ("mrr", "MRR", FRACTION),
                                        ("medr", "MedR", RANK))}),
        headline=_headline("paired"),
        details=(IMAGE_PREPARATION,),
        protocol=IMAGE_PREPARATION,
        reference_protocol=PUBLISHED_PREPARATION,
    ),
    Task(
        key="landform",
        number=2,
        title="Landform retrieval",
        summary="One text query per landform class ranks every image; the images of that class "
        "are relevant. Means over classes.",
        columns=_declared_columns("landform", {
            metric: (label, "Mean over classes", FRACTION)
            for metric, label in (("map", "mAP"), ("r_precision", "R-Precision"), ("ndcg@10", "nDCG@10"),
                                  ("hit@10", "Hit@10"))}),
        headline=_headline("landform"),
    ),
    Task(
        key="geolocalization",
        number=3,
        title="Global geo-localization",
        summary="A query (text, example images, or both: hybrid) ranks about 1.4 million CTX tiles "
        "of the whole planet; retrieved tiles within 0.5\u00b0 of a catalogued landform count. "
        "Best F1 over K and the area under the precision-recall curve, means over landforms. Image "
        "queries are the mode every model can run, image-only models included.",
        columns=_declared_columns("geolocalization", {
            f"{mode}.{metric}": (label, f"{mode.capitalize()} query", FRACTION)
            for mode in GEO_MODES for metric, label in (("f1", "F1"), ("auprc", "AUPRC"))}),
        headline=_headline("geolocalization"),
        headline_label="Image-query F1",
        needs=("image",),
    ),
)

TASKS_BY_KEY = {task.key: task for task in TASKS}


def declared_task(declaration: dict[str, Any]) -> Task:
    """The table of a task other than MarsRetrieval's three, from the declaration a result file
    records with its scores: one column per declared metric, ranked by its headline."""
    return Task(key=declaration["name"], number=None, title=declaration["title"],
                summary=f"A task registered by a plugin ({declaration['name']}).",
                columns=tuple(Column(f"{declaration['name']}.{name}", name, declaration["title"], NUMBER, direction)
                              for name, direction in declaration["metrics"].items()),
                headline=f"{declaration['name']}.{declaration['headline']}")


def tasks_of(results: Sequence[dict[str, Any]]) -> tuple[Task, ...]:
    """MarsRetrieval's tasks, then each other task that `results` hold, by name, as the first
    result holding it declares it."""
    declared: dict[str, dict[str, Any]] = {}
    for result in results:
        for name, section in result["tasks"].items():
            if name not in TASKS_BY_KEY and "declaration" in section:
                declared.setdefault(name, section["declaration"])
    return TASKS + tuple(declared_task(declared[name]) for name in sorted(declared))
LANDFORM_CLASS_METRICS = (("ap", "AP"), ("r_precision", "R-Precision"), ("ndcg@10", "nDCG@10"),
                          ("hit@10", "Hit@10"))


def format_value(value: float | None, kind: str = FRACTION) -> str:
    """Percent with two decimals for fractions (0.1273 -> 12.73); ranks as integers.

    A MedR is a median, so it ends in .5 when the two middle ranks differ. The protocol
    (leaderboard/PROTOCOL.md) reports it as a plain integer and the published code prints
    int(round(medr)): Python's round, half to even (77.5 -> 78, 76.5 -> 76), so the same value shows the same here. Result files and
    the downloads keep the raw value.
    """
    if value is None:
        return MISSING
    if kind == RANK:
        return str(round(value))
    if kind == NUMBER:
        return f"{value:.4g}"
    return f"{value * 100:.2f}"


def format_interval(interval: tuple[float, float], kind: str = FRACTION) -> str:
    """'95% CI 11.20 to 14.31': the bootstrap interval over queries, formatted as its metric."""
    return f"95% CI {format_value(interval[0], kind)} to {format_value(interval[1], kind)}"


def intervals_overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    return a is not None and b is not None and a[0] <= b[1] and b[0] <= a[1]


def sort_key(value: float | None) -> str:
    """The `data-sort` attribute: full precision, empty for missing (always sorted last)."""
    return "" if value is None else repr(float(value))


COLUMNS_BY_KEY = {column.key: column for task in TASKS for column in task.columns}
