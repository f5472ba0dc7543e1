"""Which numbers the leaderboard shows for each task, how they are read from a result and
how they are formatted. Tables, charts and the CSV download all use these definitions, so a
metric is named and formatted the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from mars_zoo.data.images import MTEB_PREPARATION, PUBLISHED_PREPARATION

FRACTION = "fraction"  # shown in percent with two decimals, like the paper
RANK = "rank"  # MedR: shown as an integer, lower is better
NUMBER = "number"  # a metric a task's declaration names: shown as it is, to four significant digits


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

    @property
    def heading(self) -> str:
        """'Task 2: Landform retrieval', or a declared task's title alone."""
        return f"Task {self.number}: {self.title}" if self.number else self.title

    @property
    def headline_column(self) -> Column:
        return next(column for column in self.columns if column.key == self.headline)

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


def _paired_columns() -> tuple[Column, ...]:
    columns = []
    for direction, group in (("t2i", "Text \u2192 image"), ("i2t", "Image \u2192 text")):
        for metric, label, kind in (("r1", "R@1", FRACTION), ("r10", "R@10", FRACTION),
                                    ("mrr", "MRR", FRACTION), ("medr", "MedR", RANK)):
            columns.append(Column(f"paired.{direction}.{metric}", label, group, kind))
    return tuple(columns)


GEO_MODES = ("text", "image", "hybrid")

TASKS = (
    Task(
        key="paired",
        number=1,
        title="Paired image-text retrieval",
        summary="Each image must find its own caption among all captions, and each caption its "
        "image (R@k: share of queries whose match ranks in the top k; MRR: mean reciprocal rank; "
        "MedR: median rank, lower is better, shown rounded to an integer as the published code prints "
        "it). Ranked by text-to-image R@1.",
        columns=_paired_columns(),
        headline="paired.t2i.r1",
        details=(IMAGE_PREPARATION,),
        protocol=IMAGE_PREPARATION,
        reference_protocol=PUBLISHED_PREPARATION,
    ),
    Task(
        key="landform",
        number=2,
        title="Landform retrieval",
        summary="One text query per landform class ranks every image; the images of that class "
        "are relevant. Means over classes. Ranked by mAP.",
        columns=(
            Column("landform.map", "mAP", "Mean over classes"),
            Column("landform.r_precision", "R-Precision", "Mean over classes"),
            Column("landform.ndcg@10", "nDCG@10", "Mean over classes"),
            Column("landform.hit@10", "Hit@10", "Mean over classes"),
        ),
        headline="landform.map",
    ),
    Task(
        key="geolocalization",
        number=3,
        title="Global geo-localization",
        summary="A query (text, example images, or both: hybrid) ranks about 1.4 million CTX tiles "
        "of the whole planet; retrieved tiles within 0.5\u00b0 of a catalogued landform count. "
        "Best F1 over K and the area under the precision-recall curve, means over landforms. "
        "Ranked by image-query F1, the mode every model can run.",
        columns=tuple(
            Column(f"geolocalization.{mode}.{metric}", label, f"{mode.capitalize()} query")
            for mode in GEO_MODES
            for metric, label in (("f1", "F1"), ("auprc", "AUPRC"))
        ),
        headline="geolocalization.image.f1",
    ),
)

TASKS_BY_KEY = {task.key: task for task in TASKS}


def declared_task(declaration: dict[str, Any]) -> Task:
    """The table of a task other than MarsRetrieval's three, from the declaration a result file
    records with its scores: one column per declared metric, ranked by its headline."""
    return Task(key=declaration["name"], number=None, title=declaration["title"],
                summary=f"A task registered by a plugin ({declaration['name']}). Ranked by {declaration['headline']}.",
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
        return "\u2013"
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


@dataclass(frozen=True)
class Headline:
    """The one number per task in the overview table: the mean of `columns` (all of them must
    be present), named in the header. `needs` is the modality the number cannot be measured
    without, so a model lacking it reads "not applicable" rather than missing."""

    task: str
    label: str
    explanation: str
    columns: tuple[str, ...]
    needs: str = "text"

    def value(self, result: dict[str, Any]) -> float | None:
        values = [COLUMNS_BY_KEY[key].value(result) for key in self.columns]
        return None if not values or None in values else sum(values) / len(values)

    def interval(self, result: dict[str, Any]) -> tuple[float, float] | None:
        """The number's 95% interval: the file's own where it is one metric; for a mean of
        several (task 1's R@1 of both directions) the bootstrap of the per-pair mean, from the
        per-pair ranks the file keeps and the seed of its intervals, where it has both."""
        if len(self.columns) == 1:
            return COLUMNS_BY_KEY[self.columns[0]].interval(result)
        section = result["tasks"].get(self.task) or {}
        if set(self.columns) != set(MEAN_R1) or "per_query" not in section or "confidence" not in section:
            return None
        from mars_zoo.uncertainty import paired_mean_r1_interval

        low, high = paired_mean_r1_interval(section["per_query"], section["confidence"]["seed"])
        return low, high

    def applies(self, modalities: Sequence[str]) -> bool:
        return self.needs in modalities


COLUMNS_BY_KEY = {column.key: column for task in TASKS for column in task.columns}

MEAN_R1 = ("paired.t2i.r1", "paired.i2t.r1")
HEADLINES = (
    Headline("paired", "Mean R@1", "Task 1: mean of text-to-image and image-to-text R@1 (%)", MEAN_R1),
    Headline("landform", "mAP", "Task 2: mean average precision over landform classes (%)", ("landform.map",)),
    Headline("geolocalization", "Text F1", "Task 3: best F1 of text queries, mean over landforms (%)",
             ("geolocalization.text.f1",)),
)
