"""What tells a visitor where the numbers come from and how to add one: the submission guide
(the submissions folder's README.md, rendered as a page), how to cite the benchmark, the
datasets at their pinned revisions, and when the submissions last changed.

The history is read from git (`git log` of the submissions folder: the same commits give the
same page). Without git, or outside a repository, the last-updated date falls back to the
latest run time recorded in the result files and the changelog says it is not available.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from mars_zoo.data.specs import DATASETS
from mars_zoo.leaderboard.entries import Entry
from mars_zoo.leaderboard.html import Markup, el, external_link
from mars_zoo.leaderboard.layout import BENCHMARK_URL, document
from mars_zoo.leaderboard.methodology import render_markdown

SUBMIT_PAGE = "submit.html"
SHORT_GUIDE = """# How to submit a result

Run `mars-zoo run MODEL --out FILE`, check the file with `mars-zoo validate FILE`, and open a pull
request that adds it under `submissions/<family>/` of the mars-zoo repository. The guide in that
folder's README.md says more.
"""
CHANGELOG_SHOWN = 30
GIT_TIMEOUT_S = 20
BIBTEX = """@misc{marsretrieval2026,
  title         = {MarsRetrieval: Benchmarking Vision-Language Models for Planetary-Scale Geospatial Retrieval on Mars},
  author        = {Wang, Shuoyuan and Wang, Yiran and Wei, Hongxin},
  year          = {2026},
  eprint        = {2602.13961},
  archivePrefix = {arXiv},
  url           = {https://arxiv.org/abs/2602.13961}
}"""
GIT_STATUS = {"A": "added", "M": "changed", "D": "removed", "R": "renamed", "C": "copied"}


@dataclass(frozen=True)
class Change:
    date: str  # YYYY-MM-DD, the commit date
    what: tuple[str, ...]  # "added openclip/x.json", ...


def submissions_history(folder: Path) -> list[Change] | None:
    """The commits that touched result files of `folder`, newest first; None without git."""
    git = shutil.which("git")
    if git is None or not folder.is_dir():
        return None
    try:
        done = subprocess.run([git, "-C", str(folder), "log", "--relative", "--no-renames",
                               "--format=%x00%cs", "--name-status", "--", "."],
                              capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    changes = []
    for block in done.stdout.split("\0")[1:]:
        date, *lines = block.strip().splitlines()
        what = tuple(f"{GIT_STATUS.get(status[:1], status)} {path}"
                     for status, _, path in (line.partition("\t") for line in lines if line)
                     if path.endswith(".json"))
        if what:
            changes.append(Change(date, what))
    return changes


def last_updated(history: list[Change] | None, entries: Sequence[Entry]) -> str | None:
    if history:
        return history[0].date
    finished = [entry.data.get("run", {}).get("finished_at") for entry in entries if not entry.synthetic]
    return max((value[:10] for value in finished if isinstance(value, str)), default=None)


def _datasets() -> Markup:
    items = []
    for spec in DATASETS:
        if spec.revision:
            link = external_link(f"https://huggingface.co/datasets/{spec.repo_id}/tree/{spec.revision}",
                                 f"{spec.repo_id} at {spec.revision[:7]}")
            items.append(el("li", link))
        else:
            items.append(el("li", external_link(f"https://huggingface.co/datasets/{spec.repo_id}", spec.repo_id),
                            " (not pinned by the paper: each result records the commit it used)"))
    return el("ul", items)


def _changelog(history: list[Change] | None) -> Markup:
    if history is None:
        return el("p", "No changelog: the site was built from a submissions folder outside a git repository.",
                  class_="no-data")
    items = [el("li", el("time", change.date, datetime=change.date), ": ", "; ".join(change.what))
             for change in history[:CHANGELOG_SHOWN]]
    return el("ul", items, class_="changelog")


def context_section(entries: Sequence[Entry], history: list[Change] | None) -> Markup:
    updated = last_updated(history, entries)
    submit = el("a", "How to submit a result", href=SUBMIT_PAGE)
    return el(
        "section",
        el("h2", "About"),
        el("p", "Last updated: ", el("time", updated, datetime=updated) if updated else "not known", "."),
        el("p", "Every number comes from a result file in the submissions/ folder of the mars-zoo "
           "repository, checked against its JSON Schema before the site is built. The site is built "
           "from those files only (no code of any submitted model runs), and it works offline."),
        el("p", "How every number is computed: the ", el("a", "methodology", href="methodology.html"),
           " page. ", submit, " (run mars-zoo run, check the file with mars-zoo validate, open a pull "
           "request that adds it under submissions/)."),
        el("h3", "Cite the benchmark"),
        el("pre", el("code", BIBTEX), class_="bibtex"),
        el("p", "Authors and full title: ", external_link(BENCHMARK_URL, "the arXiv page"), "."),
        el("h3", "Datasets"), _datasets(),
        el("h3", "Changelog of the submissions"), _changelog(history),
        id="about",
    )


def submit_page(guide: str | None, version: str) -> bytes:
    """The submission guide (the submissions folder's README.md), or where it is missing the
    short version of it."""
    body = el("section", render_markdown(guide or SHORT_GUIDE), class_="methodology", id="submit")
    return document("How to submit a result \u2014 mars-zoo", [body], "", version)
