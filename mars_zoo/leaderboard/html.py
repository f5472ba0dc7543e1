"""Building HTML (and inline SVG) that is escaped by construction.

Every string that reaches a page goes through `el`, which escapes text children and attribute
values unless they are `Markup` (already-built HTML). Result files come from strangers, so there
is no other way to put text into a page: no templates, no string formatting of markup around
untrusted values. Links pass `safe_url`, which allows only absolute http(s) URLs.
"""

from __future__ import annotations

import html
from typing import Any, Iterable
from urllib.parse import urlsplit

VOID_ELEMENTS = frozenset({"meta", "link", "br", "hr", "img", "input", "wbr"})
EXTERNAL_REL = "noopener noreferrer nofollow"  # every link that leaves the site


class Markup(str):
    """A string of HTML that is already safe: produced by `el`, `escape` or `join`."""

    __slots__ = ()


def escape(value: Any) -> Markup:
    """Text as HTML: `&`, `<`, `>`, `"` and `'` become character references."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable[Any], separator: str = "") -> Markup:
    """Concatenate children, escaping every one that is not Markup yet."""
    return Markup(escape(separator).join(_children(parts)))


def _children(children: Iterable[Any]) -> Iterable[Markup]:
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, (list, tuple)):
            yield from _children(child)
        else:
            yield escape(child)


def _attribute_name(name: str) -> str:
    """`class_` -> `class`, `data_sort` -> `data-sort`; names with capitals (viewBox) stay."""
    return name.rstrip("_").replace("_", "-")


def el(tag: str, *children: Any, **attributes: Any) -> Markup:
    """`<tag attributes>children</tag>`; None/False attributes are left out, True is bare."""
    parts = [tag]
    for name, value in attributes.items():
        if value is None or value is False:
            continue
        if value is True:
            parts.append(_attribute_name(name))
        else:
            parts.append(f'{_attribute_name(name)}="{escape(value)}"')
    opening = f"<{' '.join(parts)}>"
    if tag in VOID_ELEMENTS:
        return Markup(opening)
    return Markup(f"{opening}{join(children)}</{tag}>")


def safe_url(value: Any) -> str | None:
    """`value` if it is an absolute http(s) URL without whitespace or control characters,
    else None: `javascript:`, `data:`, relative and protocol-relative links never become
    links, whatever the file says."""
    if not isinstance(value, str) or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or not value.lower().startswith(parts.scheme + "://"):
        return None
    return value


def external_link(url: Any, text: Any = None) -> Markup:
    """A link that leaves the site (paper, code, source), or the URL as plain text if unsafe."""
    safe = safe_url(url)
    label = url if text is None else text
    if safe is None:
        return escape(label if label is not None else "")
    return el("a", label, href=safe, rel=EXTERNAL_REL, class_="external")
