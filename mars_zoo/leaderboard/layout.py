"""The frame every page shares: head (with a strict Content Security Policy), header, footer,
and small helpers for showing JSON values as text."""

from __future__ import annotations

from typing import Any, Sequence

from mars_zoo.leaderboard.columns import MISSING
from mars_zoo.leaderboard.html import Markup, el, external_link
from mars_zoo.leaderboard.html import document as html_document  # this module's `document` frames it

SITE_NAME = "mars-zoo"
BENCHMARK_URL = "https://arxiv.org/abs/2602.13961"

# Only the site's own script and stylesheet may load: no inline script (so injected markup
# could not run even if it slipped through escaping), no fetches, no external anything.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'"
)

NAV = (
    ("overview", "Overview"),
    ("paired", "Task 1"),
    ("landform", "Task 2"),
    ("geolocalization", "Task 3"),
    ("size", "Score vs size"),
    ("synthetic", "Synthetic"),
    ("downloads", "Downloads"),
    ("about", "About"),
)
PAGES = (("compare.html", "Compare"), ("methodology.html", "Methodology"), ("submit.html", "Submit"))
FAVICON = "assets/favicon.svg"


def document(title: str, body: Sequence[Any], prefix: str, version: str, *, index: bool = False) -> bytes:
    """A complete page. `prefix` leads from the page back to the site root ('' or '../'); `index`
    says it is the index, whose section links then keep the address's view state."""
    head = (
        el("meta", charset="utf-8"),
        el("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("meta", http_equiv="Content-Security-Policy", content=CONTENT_SECURITY_POLICY),
        el("meta", name="referrer", content="no-referrer"),
        el("meta", name="color-scheme", content="light dark"),
        el("title", title),
        el("link", rel="icon", href=f"{prefix}{FAVICON}", type="image/svg+xml"),
        el("link", rel="stylesheet", href=f"{prefix}assets/style.css"),
        el("script", src=f"{prefix}assets/leaderboard.js", defer=True),
    )
    frame = (el("a", "Skip to the content", href="#content", class_="skip-link"), _header(prefix, index),
             el("main", body, id="content"), _footer(version))
    return html_document(head, frame, lang="en", class_="no-js").encode("utf-8")


def _header(prefix: str, index: bool) -> Markup:
    # On the index a section link is only a fragment: following it keeps the address's query (the
    # filters and sorts the script keeps there), where 'index.html#x' would load the page afresh.
    target = "" if index else f"{prefix}index.html"
    links = [el("li", el("a", label, href=f"{target}#{anchor}")) for anchor, label in NAV]
    links += [el("li", el("a", label, href=f"{prefix}{page}"), class_="page-link") for page, label in PAGES]
    return el(
        "header",
        el("p", el("a", SITE_NAME, href=f"{prefix}index.html", class_="brand"), " leaderboard for ",
           external_link(BENCHMARK_URL, "MarsRetrieval"), class_="site"),
        el("nav", el("ul", links), aria_label="Sections"),
        class_="site-header",
    )


def _footer(version: str) -> Markup:
    return el("footer", el("p", f"Built by mars-zoo {version} from result files only. A static page: "
                                "no tracking, no external requests."))


def text_of(value: Any) -> str:
    """A JSON value as plain text for people."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(text_of(item) for item in value) or MISSING
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def definitions(pairs: Sequence[tuple[str, Any]], class_: str = "facts") -> Markup:
    """A <dl> of (term, value) pairs; values that are not Markup are shown with `text_of`."""
    items = []
    for term, value in pairs:
        items.append(el("dt", term))
        items.append(el("dd", value if isinstance(value, Markup) else text_of(value)))
    return el("dl", items, class_=class_)


def notes(text: str | None) -> Markup | None:
    return el("p", text, class_="notes") if text else None
