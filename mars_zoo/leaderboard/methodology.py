"""The methodology page: the repository's protocol document (leaderboard/PROTOCOL.md),
rendered into the site's frame, with a table of contents and a link to each heading.

The document ships inside the package (mars_zoo/leaderboard/PROTOCOL.md is a link to it, so
a wheel carries the same text). It is rendered by markdown-it-py (CommonMark plus tables)
with raw HTML turned off, so anything that looks like markup in the text is shown as text,
and link targets pass markdown-it's own check (no javascript: or data: links).
"""

from __future__ import annotations

import re
from importlib import resources

from markdown_it import MarkdownIt
from markdown_it.token import Token

from mars_zoo.leaderboard.html import EXTERNAL_REL, Markup, el, safe_url
from mars_zoo.leaderboard.layout import document

PAGE = "methodology.html"


def protocol_text() -> str:
    return resources.files("mars_zoo.leaderboard").joinpath("PROTOCOL.md").read_text(encoding="utf-8")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _heading_text(inline: Token) -> str:
    return "".join(child.content for child in inline.children or () if child.type in ("text", "code_inline"))


def _anchor(inline: Token, slug: str, text: str) -> None:
    """Add ' #' linking to the heading itself after its text."""
    link = Token("link_open", "a", 1, attrs={"href": f"#{slug}", "class": "anchor",
                                               "aria-label": f"Link to the section {text}"})
    inline.children = [*(inline.children or ()), Token("text", "", 0, content=" "), link,
                       Token("text", "", 0, content="#"), Token("link_close", "a", -1)]


def render_markdown(text: str, contents: bool = False) -> Markup:
    """Markdown as HTML; HTML inside the text is escaped, never passed through, and links
    that leave the site get the attributes of every external link of the site. Every heading
    gets an id from its text and a link to itself; with `contents`, a table of contents of the
    level 2 and 3 headings comes before the first level 2 heading."""
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = markdown.parse(text)
    for block in tokens:
        for token in block.children or ():
            if token.type == "link_open" and safe_url(token.attrGet("href")) is not None:
                token.attrSet("rel", EXTERNAL_REL)
                token.attrSet("class", "external")
    headings, taken = [], set()
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            title = _heading_text(tokens[index + 1])
            slug = base = _slug(title)
            suffix = 1
            while slug in taken:
                suffix += 1
                slug = f"{base}-{suffix}"
            taken.add(slug)
            token.attrSet("id", slug)
            _anchor(tokens[index + 1], slug, title)
            headings.append((int(token.tag[1]), slug, title))

    def render(part: list[Token]) -> Markup:
        return Markup(markdown.renderer.render(part, markdown.options, {}))

    if not contents:
        return render(tokens)
    first = next((index for index, token in enumerate(tokens) if token.type == "heading_open" and token.tag == "h2"),
                 len(tokens))
    return Markup(render(tokens[:first]) + _contents(headings) + render(tokens[first:]))


def _contents(headings: list[tuple[int, str, str]]) -> Markup:
    """The level 2 headings as a list, each with its level 3 headings under it."""
    items: list[tuple[str, str, list[Markup]]] = []
    for level, slug, title in headings:
        if level == 2:
            items.append((slug, title, []))
        elif level == 3 and items:
            items[-1][2].append(el("li", el("a", title, href=f"#{slug}")))
    entries = [el("li", el("a", title, href=f"#{slug}"), subs and el("ol", subs)) for slug, title, subs in items]
    return el("nav", el("p", el("strong", "Contents")), el("ol", entries), class_="toc", aria_label="Contents")


def methodology_page(version: str) -> bytes:
    body = el("section", render_markdown(protocol_text(), contents=True), class_="methodology", id="methodology")
    return document("Methodology \u2014 mars-zoo", [body], "", version)
