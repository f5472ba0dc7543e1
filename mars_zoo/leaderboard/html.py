"""The one HTML builder: every page mars-zoo writes (the leaderboard's pages and charts, the
search's page) is assembled here, and every escaping rule is written here once.

Result files and search queries come from strangers, so markup is never made by formatting
strings around untrusted values: text goes into a page only as a child or attribute of `el`.
This module imports nothing but the standard library and `mars_zoo/leaderboard/__init__.py`
imports nothing at all, so `mars_zoo.discover` uses it without loading the site's build.

The API:

- `el(tag, *children, **attributes) -> Markup`: one element. Children are text (escaped),
  `Markup` (kept), numbers, None/False (left out) or lists, tuples and generators of those
  (flattened). Attribute names are Python names: a trailing `_` is dropped and `_` becomes `-`
  (`class_="x"`, `data_sort=1`, `aria_label=...`); names with other characters go in a dict,
  `**{"xml:lang": "en"}`. None/False leave the attribute out, True writes it bare (`defer`).
  Void elements (`meta`, `img`, ...) take no children and have no end tag; every other element
  has one, SVG's too (`<circle ...></circle>`, which parsers read as `<circle .../>`). Join
  fragments as children or with `join`, not `+`: Markup plus a str is a plain str.
- `document(head, body, **attributes) -> str`: a whole page, `<!DOCTYPE html>` and `<html>`
  with `attributes` (e.g. `lang="en"`) around a `<head>` and a `<body>` of the given children.
- `Markup(text)`: a fragment that is already HTML. Wrapping a string in it is a promise that
  it is safe: do it only for constants written in code (a stylesheet) or the output of a
  renderer that escapes (markdown-it with raw HTML off), never for data.
- `escape(value)` and `join(parts, separator)`: text as HTML, and children joined into one
  fragment; `el` uses both, pages rarely need them.
- URLs: `safe_url(value)` says whether a foreign URL is an absolute http(s) link;
  `external_link(url, text)` is the link that leaves the site (`rel=EXTERNAL_REL`), or plain
  text when the URL is not safe; `image_data_url(data, mime)` inlines a raster image.
- `script_json(value) -> Markup`: a JSON value to put inside
  `el("script", ..., type="application/json", id=...)`, for a page's script to read.
- `style` attributes take a dict, `style={"background": colour}`, written by `inline_style`;
  each value passes `css_value`. (The leaderboard's Content Security Policy allows no inline
  style at all: its styling lives in assets/style.css; the search page's allows it.)

The rules `el` enforces, whatever the caller passes:

- Text and attribute values: `&`, `<`, `>`, `"` and `'` become character references.
- URL attributes (`href`, `src`, ...; `checked_url`): relative URLs and fragments, absolute
  http(s) URLs that pass `safe_url`, and base64 `data:` URLs of raster images; any other scheme
  (`javascript:`, `vbscript:`, `data:text/html`, ...), however spelled, and protocol-relative
  `//host` raise ValueError.
- `<script>` and `<style>` hold raw text, which escaping cannot make safe: their children must
  be Markup (from `script_json` or a constant) and may not close the element or open a comment;
  a plain string raises TypeError.
- Event-handler attributes (`onclick`, ...) raise ValueError: pages run no inline script (their
  Content Security Policy forbids it too), so one can only be a mistake or an injection.
- CSS values (`css_value`): numbers, units, colours, keywords and a few functions (`rgb`, `calc`,
  ...); quotes, backslashes, `;`, `:`, braces, `url(` and any other function raise ValueError.
"""

from __future__ import annotations

import base64
import html
import json
import re
import types
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

VOID_ELEMENTS = frozenset({"meta", "link", "br", "hr", "img", "input", "wbr"})
RAW_TEXT_ELEMENTS = frozenset({"script", "style"})
URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "poster", "cite", "data", "xlink:href"})
EXTERNAL_REL = "noopener noreferrer nofollow"  # every link that leaves the site
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
CSS_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla", "calc", "min", "max", "clamp", "var"})

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9:-]*")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_SPACE_AND_CONTROLS = "".join(map(chr, range(33)))
_DATA_IMAGE = re.compile(r"data:(image/[a-z]+);base64,[A-Za-z0-9+/]*={0,2}")
_CSS_VALUE = re.compile(r"[A-Za-z0-9#.,%+\-/ ()]*")
_CSS_PROPERTY = re.compile(r"-?[a-z][a-z0-9-]*")
_CSS_FUNCTION = re.compile(r"([A-Za-z-]*)\(")
# What may not appear inside raw text: the end of its element, or a comment opener, which can
# make an HTML parser run past `</script>`.
_RAW_TEXT_ENDS = {"script": re.compile(r"</script|<!--", re.IGNORECASE), "style": re.compile(r"</style", re.IGNORECASE)}
# JSON text stays JSON with these written as escapes, and can then end no element, open no
# comment and start no character reference; U+2028/U+2029 end lines in older JavaScript.
_SCRIPT_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class Markup(str):
    """A string of HTML that is already safe: produced by `el`, `escape`, `join` or
    `script_json`, or a constant written in code."""

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
    return (escape(child) for child in _flatten(children))


def _flatten(children: Iterable[Any]) -> Iterable[Any]:
    """Children without None/False, lists, tuples and generators opened."""
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, (list, tuple, types.GeneratorType)):
            yield from _flatten(child)
        else:
            yield child


def _attribute_name(name: str) -> str:
    """`class_` -> `class`, `data_sort` -> `data-sort`; names with capitals (viewBox) stay."""
    written = name.rstrip("_").replace("_", "-")
    if not _NAME.fullmatch(written):
        raise ValueError(f"{name!r} is not an attribute name")
    if written.lower().startswith("on"):
        raise ValueError(f"event-handler attribute {written!r}: pages run no inline script")
    return written


def _attribute_value(name: str, value: Any) -> Any:
    """The value as written, once it passes the rule of its kind of attribute."""
    if name == "style":
        return inline_style(value)
    if name.lower() in URL_ATTRIBUTES:
        return checked_url(value)
    return value


def el(tag: str, *children: Any, **attributes: Any) -> Markup:
    """`<tag attributes>children</tag>`; None/False attributes are left out, True is bare."""
    if not _NAME.fullmatch(tag):
        raise ValueError(f"{tag!r} is not an element name")
    parts = [tag]
    for name, value in attributes.items():
        if value is None or value is False:
            continue
        written = _attribute_name(name)
        if value is True:
            parts.append(written)
        else:
            parts.append(f'{written}="{escape(_attribute_value(written, value))}"')
    opening = f"<{' '.join(parts)}>"
    if tag in VOID_ELEMENTS:
        if any(True for _ in _flatten(children)):
            raise ValueError(f"<{tag}> is a void element: it takes no children")
        return Markup(opening)
    content = _raw_text(tag, children) if tag in RAW_TEXT_ELEMENTS else join(children)
    return Markup(f"{opening}{content}</{tag}>")


def _raw_text(tag: str, children: tuple[Any, ...]) -> Markup:
    """The content of a <script> or <style>: Markup only, never able to end its element early."""
    flat = list(_flatten(children))
    for child in flat:
        if not isinstance(child, Markup):
            raise TypeError(f"<{tag}> holds raw text that escaping cannot make safe: pass Markup "
                            f"(script_json for data, a constant for code), not {type(child).__name__}")
    content = Markup("".join(flat))
    if _RAW_TEXT_ENDS[tag].search(content):
        raise ValueError(f"<{tag}> content may not contain {_RAW_TEXT_ENDS[tag].pattern!r}")
    return content


def document(head: Iterable[Any], body: Iterable[Any], **attributes: Any) -> str:
    """A whole page: the doctype, then `<html attributes>` around `<head>` and `<body>`."""
    return "<!DOCTYPE html>\n" + el("html", el("head", *head), el("body", *body), **attributes) + "\n"


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


def checked_url(value: Any) -> str:
    """`value` for a URL attribute: a relative URL, a `safe_url` or an inline raster image;
    anything else raises ValueError. Browsers drop tabs and line breaks from a URL and trim
    spaces and control characters around it before they read its scheme, so this does too."""
    text = str(value)
    seen = re.sub(r"[\t\n\r]", "", text).strip(_SPACE_AND_CONTROLS)
    scheme = _SCHEME.match(seen)
    if scheme is None and not re.match(r"[/\\]{2}", seen):  # '//host' and '\\host' leave the site too
        return text
    if scheme is not None and scheme.group(1).lower() in ("http", "https") and safe_url(text) == text:
        return text
    image = _DATA_IMAGE.fullmatch(text)
    if image is not None and image.group(1) in IMAGE_TYPES:
        return text
    raise ValueError(f"{text[:80]!r} is not a URL a page may hold: use a relative URL, an absolute "
                     "http(s) URL (external_link) or image_data_url")


def external_link(url: Any, text: Any = None) -> Markup:
    """A link that leaves the site (paper, code, source), or the URL as plain text if unsafe."""
    safe = safe_url(url)
    label = url if text is None else text
    if safe is None:
        return escape(label if label is not None else "")
    return el("a", label, href=safe, rel=EXTERNAL_REL, class_="external")


def image_data_url(data: bytes, mime: str) -> str:
    """A raster image inside the page, for `src` (or an SVG image's `href`)."""
    if mime not in IMAGE_TYPES:
        raise ValueError(f"{mime!r} is not an inline image type ({', '.join(sorted(IMAGE_TYPES))})")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def script_json(value: Any, **dumps: Any) -> Markup:
    """`value` as JSON text that is safe inside <script type="application/json">: `<`, `>`,
    `&`, U+2028 and U+2029 are written as \\u escapes, so JSON.parse of the element's text gives
    `value` back. `dumps` goes to json.dumps (indent, sort_keys); NaN and infinities raise."""
    text = json.dumps(value, allow_nan=False, **dumps)
    return Markup(re.sub("[<>&\u2028\u2029]", lambda match: _SCRIPT_JSON_ESCAPES[match.group()], text))


def css_value(value: Any) -> str:
    """`value` as one CSS value, if it is only numbers, units, colours, keywords and the
    functions of CSS_FUNCTIONS; anything that could end the declaration, load a URL or run an
    expression raises ValueError."""
    text = str(value)
    if not _CSS_VALUE.fullmatch(text):
        raise ValueError(f"{text[:80]!r} is not a CSS value a page may hold")
    for name in _CSS_FUNCTION.findall(text):
        if name.lower() not in CSS_FUNCTIONS:
            raise ValueError(f"{text[:80]!r}: CSS function {name!r}() is not allowed "
                             f"({', '.join(sorted(CSS_FUNCTIONS))})")
    return text


def inline_style(declarations: Mapping[str, Any]) -> str:
    """The text of a `style` attribute, `{"border": "2px solid #39d0ff"}` ->
    `border:2px solid #39d0ff`; property names are checked and values pass `css_value`."""
    if not isinstance(declarations, Mapping):
        raise TypeError("a style attribute takes a dict of property: value, each value checked by css_value")
    for name in declarations:
        if not _CSS_PROPERTY.fullmatch(name):
            raise ValueError(f"{name!r} is not a CSS property name")
    return ";".join(f"{name}:{css_value(value)}" for name, value in declarations.items())
