"""The one HTML builder's escaping rules, each tested once: hostile text, attributes, URLs,
JSON inside <script>, CSS values and raw text. What a string means in a page is judged by a
parser that is not the builder: the standard library's HTMLParser for the structure, Chromium
for what a browser runs and shows."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from browser_support import REPO, open_page
from mars_zoo.leaderboard.html import (Markup, css_value, document, el, external_link, image_data_url, inline_style,
                                       safe_url, script_json)

HOSTILE = [
    "</script><script>window.__xss=1</script>",
    "<img src=x onerror=\"window.__xss=2\">",
    "\" onmouseover=\"window.__xss=3\" x=\"",
    "' autofocus onfocus='window.__xss=4' x='",
    "<!-- <script>window.__xss=5</script> -->",
    "&amp; &lt; &#x27; & < > \" '",
    "</style></title></textarea><svg onload=window.__xss=6>",
    "javascript:window.__xss=7",
    "line\u2028separator\u2029paragraph \u00e9 \U0001f680",
]


class Scan(HTMLParser):
    """Every start tag with its attributes, and the text, as a parser reads them."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_text_and_attribute_values_stay_what_they_were(hostile):
    scan = Scan(el("p", hostile, title=hostile, data_caption=hostile))
    assert scan.tags == [("p", {"title": hostile, "data-caption": hostile})]
    assert "".join(scan.text) == hostile


def test_markup_children_are_kept_and_lists_generators_and_none_are_flattened():
    made = el("ul", [el("li", n) for n in (1, 2)], (el("li", x) for x in "ab"), None, False, Markup("<li>c</li>"))
    assert made == "<ul><li>1</li><li>2</li><li>a</li><li>b</li><li>c</li></ul>"
    assert el("script", src="a.js", defer=True, async_=False) == '<script src="a.js" defer></script>'
    assert el("img", src="a.png", alt="") == '<img src="a.png" alt="">'


@pytest.mark.parametrize("attributes", [
    {"onclick": "x"}, {"ONLOAD": "x"}, {"onfocus_": "x"},
    {'x" onload="y': "1"}, {"a b": "1"}, {"": "1"}, {"x>": "1"},
])
def test_event_handlers_and_malformed_attribute_names_are_refused(attributes):
    with pytest.raises(ValueError):
        el("a", "text", **attributes)


@pytest.mark.parametrize("tag", ["a b", "script>", "", "x\"", "1a"])
def test_malformed_element_names_are_refused(tag):
    with pytest.raises(ValueError):
        el(tag)


def test_void_elements_take_no_children():
    with pytest.raises(ValueError, match="void element"):
        el("img", "caption", src="a.png")


@pytest.mark.parametrize("url", [
    "index.html", "#content", "../assets/style.css", "models/openclip--a.html#r-1", "?q=1", "",
    "https://example.org/a?b=c#d", "http://example.org",
    image_data_url(b"\x89PNG\r\n", "image/png"), image_data_url(b"\xff\xd8\xff", "image/jpeg"),
])
def test_urls_a_page_may_hold(url):
    assert Scan(el("a", "x", href=url)).tags == [("a", {"href": url})]
    assert Scan(el("img", src=url)).tags == [("img", {"src": url})]


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)", "\x01javascript:alert(1)",
    "java\tscript:alert(1)", "java\nscript:alert(1)", "vbscript:msgbox(1)", "file:///etc/passwd",
    "data:text/html,<script>alert(1)</script>", "data:image/svg+xml;base64,PHN2Zz4=",
    "data:image/png;base64,<script>", "https://exa mple.org", "https://example.org/\n",
    "//evil.example/x", "\\\\evil.example", "/\\evil.example", " //evil.example",
    "a:b.html",
])
def test_urls_with_other_schemes_are_refused_in_every_url_attribute(url):
    for tag, name in (("a", "href"), ("img", "src"), ("image", "href"), ("form", "action")):
        with pytest.raises(ValueError, match="is not a URL a page may hold"):
            el(tag, **{name: url})


@pytest.mark.parametrize("url, safe", [
    ("https://example.org/a?b=c#d", True),
    ("http://example.org", True),
    ("javascript:alert(1)", False),
    ("JavaScript:alert(1)//https://x.org", False),
    (" javascript:alert(1)", False),
    ("data:text/html,<script>alert(1)</script>", False),
    ("vbscript:msgbox(1)", False),
    ("//evil.example/x", False),
    ("/relative", False),
    ("https:/example.org", False),
    ("https://exa mple.org", False),
    ("https://example.org/\n", False),
    (None, False),
])
def test_safe_url(url, safe):
    assert safe_url(url) == (url if safe else None)


def test_el_escapes_text_and_attributes():
    assert el("a", "<b>&", href='x" onclick="y', data_sort="1") == \
        '<a href="x&quot; onclick=&quot;y" data-sort="1">&lt;b&gt;&amp;</a>'


@pytest.mark.parametrize("url", ["javascript:alert(1)", " https://example.org", "/relative",
                                 "data:image/png;base64,AA=="])
def test_an_unsafe_external_link_is_shown_as_text(url):
    assert Scan(external_link(url, "<b>paper</b>")).tags == []
    assert "".join(Scan(external_link(url, "<b>paper</b>")).text) == "<b>paper</b>"
    assert Scan(external_link("https://example.org/p?a=1&b=2")).tags == [
        ("a", {"href": "https://example.org/p?a=1&b=2", "rel": "noopener noreferrer nofollow", "class": "external"})]


def test_only_raster_images_are_inlined():
    with pytest.raises(ValueError):
        image_data_url(b"<svg onload=alert(1)>", "image/svg+xml")
    with pytest.raises(ValueError):
        image_data_url(b"<script>", "text/html")


HOSTILE_JSON = {"names": HOSTILE, "</script>": ["<!--", "-->", "]]>"], "nested": {"a&b": 1.5, "none": None}}


def test_json_in_a_script_element_parses_back_and_cannot_end_it():
    text = script_json(HOSTILE_JSON, sort_keys=True)
    assert json.loads(text) == HOSTILE_JSON
    assert not set(text) & set("<>&\u2028\u2029")
    page = el("script", text, type="application/json", id="data")
    scan = Scan(page + el("p", "after"))
    assert [tag for tag, _ in scan.tags] == ["script", "p"]
    assert json.loads(scan.text[0]) == HOSTILE_JSON
    with pytest.raises(ValueError):
        script_json(float("nan"))


@pytest.mark.parametrize("content", [
    Markup("</script><script>alert(1)"), Markup("x</SCRIPT >"), Markup("<!-- <script>"),
])
def test_script_content_may_not_end_the_element_or_open_a_comment(content):
    with pytest.raises(ValueError, match="may not contain"):
        el("script", content)


def test_style_content_may_not_end_the_element():
    assert el("style", Markup("p{color:red}")) == "<style>p{color:red}</style>"
    with pytest.raises(ValueError, match="may not contain"):
        el("style", Markup("p{}</Style><script>alert(1)</script>"))


@pytest.mark.parametrize("tag", ["script", "style"])
def test_raw_text_elements_refuse_plain_strings(tag):
    with pytest.raises(TypeError, match="raw text"):
        el(tag, "alert(1)")
    with pytest.raises(TypeError, match="raw text"):
        el(tag, ["x", Markup("y")])


@pytest.mark.parametrize("value", ["#ffd400", "2px solid #39d0ff", "rgb(1, 2, 3)", "calc(100% - 2px)", "-0.1em",
                                   "1.5 serif", "var(--accent)"])
def test_css_values_a_page_may_hold(value):
    assert css_value(value) == value
    assert Scan(el("span", style={"border": value})).tags == [("span", {"style": f"border:{value}"})]


@pytest.mark.parametrize("value", [
    "red;background:url(x)", "url(javascript:alert(1))", "URL(x)", "expression(alert(1))", "red}body{color:red",
    "\"", "'", "\\75rl(x)", "red\n", "</style>", "red !important", "@import x", "image-set(x)", "",
])
def test_css_values_that_could_escape_the_declaration_are_refused(value):
    if value == "":
        assert css_value(value) == ""
        return
    with pytest.raises(ValueError):
        css_value(value)
    with pytest.raises(ValueError):
        el("span", style={"color": value})


def test_style_attributes_take_checked_declarations_only():
    assert inline_style({"background": "#fff", "border": "1px solid #000"}) == "background:#fff;border:1px solid #000"
    for name in ("color;x", "color:red", "Color", "1x", "--", ""):
        with pytest.raises(ValueError):
            inline_style({name: "red"})
    with pytest.raises(TypeError):
        el("span", style="color:red")


def test_a_hostile_page_runs_nothing_in_a_browser_and_shows_every_string(tmp_path, context):
    """No Content Security Policy here: if any string slipped out of its place it would run."""
    head = [el("meta", charset="utf-8"), el("title", HOSTILE[0] + HOSTILE[1])]
    body = [el("main",
               [el("p", text, title=text, data_i=i, class_="t") for i, text in enumerate(HOSTILE)],
               [el("a", text, href=f"#{text}", class_="l") for text in HOSTILE],
               el("svg", [el("text", text, x=0, y=10) for text in HOSTILE], viewBox="0 0 10 10"),
               el("span", "swatch", style={"border": "2px solid #39d0ff"}, id="swatch"),
               el("script", script_json(HOSTILE_JSON), type="application/json", id="data"),
               el("p", "end", id="end"))]
    path = tmp_path / "hostile.html"
    path.write_text(document(head, body, lang="en"), "utf-8")
    prefix = path.resolve().as_uri()
    page, visit = open_page(context(prefix), prefix)
    page.wait_for_timeout(50)
    assert page.evaluate("window.__xss") is None and visit.dialogs == [] and visit.console_errors == []
    assert page.title() == HOSTILE[0] + HOSTILE[1]
    assert page.locator("p.t").all_text_contents() == HOSTILE
    assert [page.locator("p.t").nth(i).get_attribute("title") for i in range(len(HOSTILE))] == HOSTILE
    assert [page.locator("a.l").nth(i).get_attribute("href") for i in range(len(HOSTILE))] == [f"#{t}" for t in HOSTILE]
    assert page.locator("svg text").all_text_contents() == HOSTILE
    assert page.evaluate("JSON.parse(document.getElementById('data').textContent)") == HOSTILE_JSON
    assert page.evaluate("getComputedStyle(document.getElementById('swatch')).borderTopWidth") == "2px"
    assert page.locator("script").count() == 1 and page.locator("#end").inner_text() == "end"
    assert page.locator("img").count() == 0 and page.locator("svg").count() == 1


def test_the_search_page_loads_the_builder_without_the_sites_build():
    code = ("import sys\nimport mars_zoo.discover.page\n"
            "print(sorted(m for m in sys.modules if m.startswith('mars_zoo.leaderboard') or m == 'torch'))\n")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True, text=True)
    assert loaded.stdout.split("\n")[0] == "['mars_zoo.leaderboard', 'mars_zoo.leaderboard.html']"


def test_every_string_of_a_search_page_is_text(tmp_path):
    """The search's page with a hostile query, model name, tile names, landform and example
    image file names: the parser finds only the page's own elements, and each string as text."""
    import numpy as np
    from PIL import Image

    from mars_zoo.discover.hits import Coverage, Hit
    from mars_zoo.discover.page import render
    from mars_zoo.discover.searcher import SearchResult

    tiles = [Image.new("RGB", (8, 8), (i * 60, 0, 0)) for i in range(len(HOSTILE))]
    hits = [Hit(rank=i + 1, tile=text, index=i, lon=float(i), lat=-float(i), score=0.5, near_ground_truth=i % 2 == 0)
            for i, text in enumerate(HOSTILE)]
    result = SearchResult(model={"name": "family/" + HOSTILE[0], "random_weights": True},
                          query={"text": HOSTILE[1], "images": [f"/x/{HOSTILE[2]}.png"], "mode": HOSTILE[3], "k": 9},
                          hits=hits, coverage=Coverage(landform=HOSTILE[4], points=3, precision=0.5, recall=0.5),
                          truth=np.array([[1.0, 1.0]]), gallery_size=10, tile_images=tiles, mars_map=None,
                          synthetic=True, timings={}, model_calls={})
    scan = Scan(render(result, thumbnails=len(HOSTILE)))
    assert {tag for tag, _ in scan.tags} <= {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "p",
                                             "b", "ul", "li", "div", "span", "figure", "nav", "a", "br", "button",
                                             "img", "figcaption", "table", "thead", "tbody", "tr", "th", "td", "script"}
    assert not [name for _, attributes in scan.tags for name in attributes if name.startswith("on")]
    text = scan.text
    assert f"mars-zoo search: {HOSTILE[1]}" in text and HOSTILE[1] in text
    assert {"family/" + HOSTILE[0], HOSTILE[3], f"{HOSTILE[2]}.png"} <= set(text)
    assert f"catalogue point of {HOSTILE[4]} (0.5° circle)" in text
    assert set(HOSTILE) <= set(text)  # each tile's table cell
    scripts = [attributes for tag, attributes in scan.tags if tag == "script"]
    assert scripts == [{"type": "application/json", "id": "search-data"}, {}, {}]  # the data, Leaflet, the page's
    data = json.loads(next(chunk for chunk in text if chunk.startswith('{"basemap"')))  # what the map script reads
    assert [hit["tile"] for hit in data["hits"]] == HOSTILE
    assert [attributes["alt"] for tag, attributes in scan.tags if tag == "img"] == [f"tile {t}" for t in HOSTILE]
