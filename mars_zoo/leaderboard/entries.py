"""The leaderboard's view of validated result files: one `Entry` per file, in a fixed order,
with the page it lives on and its rank per task.

Synthetic results (the mini benchmark) are kept apart: they get no rank and are shown in their
own section, so a local demo run can never be mistaken for a benchmark number.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

from mars_zoo.leaderboard.columns import Task
from mars_zoo.leaderboard.svg import model_styles
from mars_zoo.results.submissions import ResultFile

T = TypeVar("T")
_SLUG_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
SIZE_BANDS = ((100_000_000, "under 100M"), (1_000_000_000, "100M to 1B"), (10_000_000_000, "1B to 10B"),
              (float("inf"), "10B and more"))


def shown_name(model: dict[str, Any]) -> str:
    """The model's name, or for own weights (`run --weights`) a fine-tuned variant of it,
    which gets its own row, colour and page."""
    weights = model.get("weights")
    return f"{model['name']} (fine-tuned: {weights['name']})" if weights else model["name"]


@dataclass(frozen=True)
class Entry:
    """One result on the leaderboard.

    `source` is where it was read from (`openclip/x.json` in the submissions folder, or
    `include: x.json`); `slug` names its model page `models/<slug>.html`, shared by every
    entry of the same model name; `anchor` is its id on that page.
    """

    data: dict[str, Any]
    source: str
    submitted: bool
    slug: str
    anchor: str
    color: str
    dash: str = ""  # the dash pattern of its curves and
    shape: str = "circle"  # the shape of its points (see svg.model_styles)

    @property
    def model(self) -> dict[str, Any]:
        return self.data["model"]

    @property
    def name(self) -> str:
        return shown_name(self.model)

    @property
    def family(self) -> str:
        return self.model["family"]

    @property
    def provenance(self) -> str:
        return self.data["provenance"]

    @property
    def synthetic(self) -> bool:
        return self.data["benchmark"]["synthetic"]

    @property
    def modalities(self) -> str:
        return "+".join(sorted(self.model["modalities"]))

    @property
    def revision(self) -> str | None:
        return self.model.get("revision")

    @property
    def page(self) -> str:
        return f"models/{self.slug}.html"

    @property
    def key(self) -> str:
        """Names the entry in every table row and chart mark of the front page, so that the
        filters hide a result everywhere at once."""
        return f"{self.page}#{self.anchor}"

    @property
    def ident(self) -> str:
        """Names the result in the site's files and addresses (the comparison page's `?a=`)."""
        return f"{self.slug}--{self.anchor}"

    @property
    def result_file(self) -> str:
        """Where the site keeps a copy of the result file, as validated."""
        return f"data/results/{self.ident}.json"

    @property
    def weights_url(self) -> str | None:
        """Where the weights are: the URL they were downloaded from (url_weights), else the
        Hugging Face Hub at the evaluated commit, where the result names both."""
        if self.model.get("url_weights"):
            return self.model["url_weights"]["url"]
        repo = self.model.get("hub_repo") or (self.model.get("checkpoint") or "").removeprefix("hf-hub:")
        weights = self.model.get("weights")
        revision = weights["base_revision"] if weights else self.revision
        if not _HUB_ID.match(repo or ""):
            return None
        return f"https://huggingface.co/{repo}/tree/{revision}" if revision else f"https://huggingface.co/{repo}"

    @property
    def size_band(self) -> str:
        count = self.model.get("parameters")
        if not count:
            return "not stated"
        for limit, band in SIZE_BANDS:
            if count < limit:
                return band
        return SIZE_BANDS[-1][1]

    @property
    def license(self) -> str:
        return self.model.get("license") or "not stated"

    @property
    def open_weights(self) -> str:
        """"yes" when the weights are on the Hugging Face Hub (a Hub repository, or a checkpoint
        named as one: org/name or hf-hub:org/name) or at an http(s) URL, "not stated" otherwise
        (a file:// URL is a file on the machine that ran it)."""
        checkpoint = self.model.get("checkpoint") or ""
        on_hub = self.model.get("hub_repo") or _HUB_ID.match(checkpoint.removeprefix("hf-hub:"))
        on_web = (self.model.get("url_weights") or {}).get("url", "").startswith(("https://", "http://"))
        return "yes" if (on_hub or on_web) and not self.model.get("random_weights") else "not stated"

    @property
    def revision_unverified(self) -> bool:
        """The run could not confirm on the Hub that the commit it names exists."""
        return self.model.get("revision_verified") is False

    def task(self, key: str) -> dict[str, Any] | None:
        return self.data["tasks"].get(key)


def _slug(name: str) -> str:
    """A file name for a model name: readable where possible, unique always (a short hash of
    the exact name is added whenever the readable form is lossy)."""
    readable = _SLUG_UNSAFE.sub("-", name.lower().replace("/", "--")).strip("-.") or "model"
    if readable == name.replace("/", "--"):
        return readable
    return f"{readable[:60]}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:10]}"


def _order(result: ResultFile) -> tuple:
    data = result.data
    model = data["model"]
    return (data["benchmark"]["synthetic"], shown_name(model), data["provenance"],
            model.get("revision") or "", data["benchmark"]["name"], result.display)


def make_entries(results: Sequence[ResultFile]) -> list[Entry]:
    """Entries in a stable order (real before synthetic, then by model name, provenance,
    revision, file); one style (colour, dash and point shape, `model_styles`) per model name, kept
    across every chart, its colour across builds too."""
    ordered = sorted(results, key=_order)
    names = sorted({shown_name(result.data["model"]) for result in ordered})
    styles = model_styles(names)
    slugs = {name: _slug(name) for name in names}
    if len(set(slugs.values())) != len(slugs):  # two names with the same readable form
        slugs = {name: f"{slug}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:10]}"
                 for name, slug in slugs.items()}
    counts: dict[str, int] = {}
    entries = []
    for result in ordered:
        name = shown_name(result.data["model"])
        counts[name] = counts.get(name, 0) + 1
        source = result.display if result.in_folder else f"include: {result.path.name}"
        entries.append(Entry(result.data, source, result.in_folder, slugs[name],
                             f"result-{counts[name]}", *styles[name]))
    return entries


def protocol_groups(entries: Sequence[Entry], task: Task) -> list[list[Entry]]:
    """`entries` grouped by the protocol their `task` numbers were measured under
    (`Task.protocol_of`): the reference protocol's first, then the others by name, results that
    do not state it last; each group in the given order."""
    groups: dict[str | None, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(task.protocol_of(entry.data), []).append(entry)
    return [groups[key] for key in sorted(groups, key=lambda key: (key != task.reference_protocol, key is None,
                                                                   key or ""))]


def ranked(entries: Sequence[Entry], task: Task) -> list[tuple[int | None, Entry]]:
    """The entries that have `task`, one protocol group after the other (`protocol_groups`), each
    best first by the headline metric with its own competition ranks (equal scores share a rank);
    in each group entries without the headline value come last, unranked."""
    column = task.headline_column
    with_task = [entry for entry in entries if entry.task(task.key) is not None]
    return [row for group in protocol_groups(with_task, task)
            for row in rank_by(group, lambda entry: column.value(entry.data), column.better == "lower")]


def rank_by(entries: Sequence[T], value: Callable[[T], float | None],
            lower_is_better: bool = False) -> list[tuple[int | None, T]]:
    """`entries` best first by `value`, with competition ranks (equal values share a rank);
    those without a value come last, unranked; ties keep the given order."""
    sign = 1 if lower_is_better else -1
    values = {id(entry): value(entry) for entry in entries}

    def order(entry: T) -> tuple:
        own = values[id(entry)]
        return (own is None, sign * own if own is not None else 0.0)

    rows = sorted(entries, key=order)
    ranks: list[tuple[int | None, T]] = []
    for position, entry in enumerate(rows):
        own = values[id(entry)]
        if own is None:
            ranks.append((None, entry))
        elif position and values[id(rows[position - 1])] == own:
            ranks.append((ranks[-1][0], entry))
        else:
            ranks.append((position + 1, entry))
    return ranks
