"""The methodology page: the repository's protocol document (leaderboard/PROTOCOL.md),
rendered into the site's frame.

The document ships inside the package (mars_zoo/leaderboard/PROTOCOL.md is a link to it, so
a wheel carries the same text). It is rendered by markdown-it-py (CommonMark plus tables)
with raw HTML turned off, so anything that looks like markup in the text is shown as text,
and link targets pass markdown-it's own check (no javascript: or data: links).
"""

from __future__ import annotations

from importlib import resources

from mars_zoo.leaderboard.html import EXTERNAL_REL, Markup, el, safe_url
from mars_zoo.leaderboard.layout import document

PAGE = "methodology.html"


def protocol_text() -> str:
    return resources.files("mars_zoo.leaderboard").joinpath("PROTOCOL.md").read_text(encoding="utf-8")


def render_markdown(text: str) -> Markup:
    """Markdown as HTML; HTML inside the text is escaped, never passed through, and links
    that leave the site get the attributes of every external link of the site."""
    from markdown_it import MarkdownIt

    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = markdown.parse(text)
    for block in tokens:
        for token in block.children or ():
            if token.type == "link_open" and safe_url(token.attrGet("href")) is not None:
                token.attrSet("rel", EXTERNAL_REL)
                token.attrSet("class", "external")
    return Markup(markdown.renderer.render(tokens, markdown.options, {}))


def methodology_page(version: str) -> bytes:
    body = el("section", render_markdown(protocol_text()), class_="methodology", id="methodology")
    return document("Methodology \u2014 mars-zoo", [body], "", version)
