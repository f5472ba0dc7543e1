"""The built leaderboard in a real headless Chromium (Debian's `chromium`, driven by Playwright).

One browser for the session (conftest.py). The site is built from the real submissions, the XSS fixtures and a
reproduced result, plus a synthetic mini result (--include), and served from a loopback
http.server thread. Every page is visited once (`crawl`): console errors, dialogs, requests
that would leave the local server (blocked and recorded), links and a screenshot per page are
collected, and the tests below assert on them. Screenshots go to $MARS_ZOO_ARTIFACTS or
test-artifacts/screenshots/ (printed once).

Chromium must be installed (Debian/Ubuntu: apt-get install chromium): without it these tests
fail, they do not skip.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import unicodedata
import urllib.request
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from browser_support import Visit, axe_source, local_only_context, open_page
from fixtures.site_inputs import MINI, REPO, make_submissions, results_in, xss_names
from mars_zoo.leaderboard.build import build_site
from mars_zoo.leaderboard.columns import TASKS
from mars_zoo.leaderboard.serve import make_server

TASK_TABLES = {"paired": "#table-paired", "landform": "#table-landform", "geolocalization": "#table-geolocalization"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    submissions = make_submissions(root)
    build_site(submissions, root / "site", include=[MINI])
    return root / "site", results_in(submissions)


@pytest.fixture(scope="module")
def base_url(site):
    server = make_server(site[0], 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def crawl(browser, base_url, artifacts):
    """Visit the index and every page it links to, once; screenshot each, and walk it with the
    keyboard (`tab_through`)."""
    ctx = local_only_context(browser, base_url, viewport={"width": 1280, "height": 900})
    visits: dict[str, Visit] = {}
    queue = [base_url + "index.html"]
    while queue:
        url = queue.pop(0)
        if url in visits:
            continue
        page, visit = open_page(ctx, url)
        page.wait_for_timeout(50)  # let autofocus / ontoggle style payloads fire if they could
        visit.xss = page.evaluate("window.__xss")
        visit.links = page.eval_on_selector_all("a[href]", "nodes => nodes.map(n => n.getAttribute('href'))")
        visit.ids = set(page.eval_on_selector_all("[id]", "nodes => nodes.map(n => n.id)"))
        name = urlsplit(url).path.strip("/").replace("/", "__") or "index.html"
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
        visit.charts = {"wide": page.evaluate(CHART_TEXT)}
        visit.focus = tab_through(page)
        page.set_viewport_size(VIEWPORTS["phone"])  # the narrow drawings, laid out again
        visit.charts["narrow"] = page.evaluate(CHART_TEXT)
        page.close()
        visits[url] = visit
        for href in visit.links:
            target = urldefrag(urljoin(url, href))[0]
            if target.startswith(base_url) and target.endswith(".html"):
                queue.append(target)
    outside = list(ctx.outside)
    ctx.close()
    return visits, outside


# The text of every chart shown: how many charts, the smallest text height, the pairs of texts
# of one chart whose boxes intersect, and the texts whose box reaches beyond their chart's drawing
# area (the SVG's box inside its border, where the viewBox is drawn), as laid out by the browser
# after the script ran.
CHART_TEXT = """() => {
    const charts = [...document.querySelectorAll('svg.chart')].filter(svg => svg.getClientRects().length);
    const heights = [], overlaps = [], outside = [];
    for (const svg of charts) {
        const boxes = [...svg.querySelectorAll('text')].map(t => [t, t.getBoundingClientRect()])
            .filter(([t, r]) => r.width > 0 && r.height > 0);
        boxes.forEach(([t, r]) => heights.push(r.height));
        const frame = svg.getBoundingClientRect(), left = frame.left + svg.clientLeft, top = frame.top + svg.clientTop;
        const [right, bottom] = [left + svg.clientWidth, top + svg.clientHeight];
        for (const [t, r] of boxes) {
            if (r.left < left - 0.5 || r.top < top - 0.5 || r.right > right + 0.5 || r.bottom > bottom + 0.5) {
                outside.push(svg.id + ': ' + t.textContent + ' ' + [r.left - left, r.top - top, right - r.right,
                             bottom - r.bottom].map(d => d.toFixed(1)).join(' '));
            }
        }
        for (let i = 0; i < boxes.length; i++) {
            for (let j = i + 1; j < boxes.length; j++) {
                const [a, b] = [boxes[i][1], boxes[j][1]];
                if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) {
                    overlaps.push(svg.id + ': ' + boxes[i][0].textContent + ' | ' + boxes[j][0].textContent);
                }
            }
        }
    }
    return {count: charts.length, smallest: heights.length ? Math.min(...heights) : null, overlaps, outside};
}"""


def expected_rows(results: list[dict], task: str) -> int:
    return sum(task in result["tasks"] for result in results)


def test_every_page_loads_cleanly_without_outside_requests(crawl, site):
    visits, outside = crawl
    assert outside == []
    assert {url: visit.console_errors for url, visit in visits.items() if visit.console_errors} == {}
    names = {result["model"]["name"] for result in site[1]}
    assert len(visits) == 4 + len(names)  # the index, methodology, submit and compare pages, one page per model
    assert any(url.endswith("/methodology.html") for url in visits)


def test_xss_payloads_are_inert_text(crawl, browser, base_url, context):
    visits, _ = crawl
    assert {url: (visit.dialogs, visit.xss) for url, visit in visits.items()
            if visit.dialogs or visit.xss is not None} == {}
    page, visit = open_page(context(base_url), base_url + "index.html")
    shown = page.locator("#table-paired a.model").all_text_contents()
    for name in xss_names():
        assert name in shown  # rendered as the literal text, not as markup
    assert page.locator("#table-paired img, #table-paired iframe, #table-paired input").count() == 0
    assert visit.dialogs == []


def test_internal_links_resolve_and_external_links_are_plain_http(crawl, base_url):
    visits, _ = crawl
    for url, visit in visits.items():
        for href in visit.links:
            target, fragment = urldefrag(urljoin(url, href))
            if not target.startswith(base_url):
                assert href.startswith(("https://", "http://")), (url, href)
                continue
            if target in visits:
                assert not fragment or fragment in visits[target].ids, (url, href)
            else:
                with urllib.request.urlopen(target, timeout=10) as response:
                    assert response.status == 200, (url, href)


def test_row_counts_equal_the_submissions(browser, base_url, site, context):
    results = site[1]
    page, _ = open_page(context(base_url), base_url + "index.html")
    for task, selector in TASK_TABLES.items():
        assert page.locator(f"{selector} tbody tr").count() == expected_rows(results, task), task
        assert page.locator(f"#synthetic-{task} tbody tr").count() == 1, task
    # One count everywhere: the intro's number of (real) results; synthetic rows are not counted.
    assert page.locator("#filter-count").text_content() == f"{len(results)} of {len(results)} results shown"
    assert f": {len(results)} results (and 1 synthetic" in page.locator("#intro").text_content()


def column_values(page, table: str, column: int) -> list[str]:
    return page.eval_on_selector_all(
        f"{table} tbody tr", f"rows => rows.map(r => r.cells[{column}].getAttribute('data-sort'))")


def test_clicking_a_header_sorts(browser, base_url, context):
    page, visit = open_page(context(base_url), base_url + "index.html")
    headers = page.locator("#table-paired thead tr.labels th")
    labels = headers.evaluate_all("ths => ths.map(th => th.querySelector('button').firstChild.textContent)")
    medr = labels.index("MedR")  # text -> image MedR: lower is better
    model = labels.index("Model")

    def numbers(column: int) -> list[float]:
        return [float(v) for v in column_values(page, "#table-paired", column) if v]

    button = headers.nth(medr).locator("button")
    # The name starts with the label people see (so voice control finds it), then what it sorts and how.
    def named(order: str) -> int:
        spoken = r"^MedR ?, Text \u2192 image: MedR \(lower is better; rounded half to even\), sort "
        return page.locator("#table-paired").get_by_role("button", name=re.compile(spoken + order + "$")).count()

    assert named("lower first") == 1
    button.click()
    assert headers.nth(medr).get_attribute("aria-sort") == "ascending"
    assert named("higher first") == 1 and named("lower first") == 0
    values = column_values(page, "#table-paired", medr)
    assert numbers(medr) == sorted(numbers(medr)) and values[-1] == ""  # missing MedR last
    headers.nth(medr).locator("button").click()
    assert headers.nth(medr).get_attribute("aria-sort") == "descending"
    assert numbers(medr) == sorted(numbers(medr), reverse=True)
    assert column_values(page, "#table-paired", medr)[-1] == ""
    headers.nth(model).locator("button").click()
    names = column_values(page, "#table-paired", model)
    assert names == sorted(names)
    assert headers.nth(medr).get_attribute("aria-sort") is None
    assert named("lower first") == 1
    assert headers.nth(model).locator("button").text_content() == "Model, Model, sort Z to A"
    assert visit.console_errors == []


def visible_rows(page, table: str) -> int:
    return page.locator(f"{table} tbody tr:visible").count()


def bar_rows(page, chart: str) -> list[str]:
    """The results a bar chart shows, top to bottom, and its height."""
    return page.eval_on_selector(chart, """svg => [...svg.querySelectorAll('g[data-entry]')]
        .filter(g => g.getAttribute('display') !== 'none')
        .sort((a, b) => a.transform.baseVal[0].matrix.f - b.transform.baseVal[0].matrix.f)
        .map(g => g.getAttribute('data-entry'))""")


def test_filters_move_tables_charts_count_and_address(browser, base_url, site, context):
    real = site[1]
    page, visit = open_page(context(base_url), base_url + "index.html")
    all_bars = bar_rows(page, "#bars-paired")
    height = float(page.get_attribute("#bars-paired", "height"))
    page.select_option("select[name=provenance]", "reproduced")
    assert visible_rows(page, "#table-paired") == sum(r["provenance"] == "reproduced" for r in real)
    assert visible_rows(page, "#synthetic-paired") == 1
    assert bar_rows(page, "#bars-paired") == [a for a in all_bars if "tiny-random" in a]
    assert float(page.get_attribute("#bars-paired", "height")) < height
    page.select_option("select[name=provenance]", "")
    page.select_option("select[name=family]", "xss")
    xss = sum(r["model"]["family"] == "xss" for r in real)
    assert visible_rows(page, "#table-paired") == sum(r["model"]["family"] == "xss" and "paired" in r["tasks"]
                                                      for r in real)
    assert visible_rows(page, "#table-overview") == xss
    assert visible_rows(page, "#synthetic-paired") == 0
    assert len(bar_rows(page, "#bars-paired")) == visible_rows(page, "#table-paired")
    page.select_option("select[name=modality]", "image")
    image_only = sum(r["model"]["family"] == "xss" and r["model"]["modalities"] == ["image"] for r in real)
    assert 0 < image_only == visible_rows(page, "#table-overview")
    assert page.locator("#filter-count").text_content() == f"{image_only} of {len(real)} results shown"
    assert page.locator('p.no-match[data-for="table-paired"]').is_visible() == \
        (visible_rows(page, "#table-paired") == 0)
    assert "family=xss" in page.url and "modality=image" in page.url
    page.select_option("select[name=family]", "")
    page.select_option("select[name=modality]", "")
    page.select_option("select[name=size]", "100M to 1B")  # siglip2: 882M parameters
    page.select_option("select[name=license]", "apache-2.0")
    page.select_option("select[name=open]", "yes")
    assert [name.split(" @")[0] for name in page.locator("#table-overview tbody tr:visible a.model")
            .all_text_contents()] == ["openclip/vit-l-16-siglip2-512"]
    page.select_option("select[name=size]", "under 100M")
    assert visible_rows(page, "#table-overview") == 0 and page.locator("p.no-match:visible").count() >= 4
    assert bar_rows(page, "#bars-paired") == []
    assert page.locator("#filter-count").text_content() == f"0 of {len(real)} results shown"
    for name in ("size", "license", "open"):
        page.select_option(f"select[name={name}]", "")
    page.fill("input[name=q]", "QWEN")
    assert page.locator("#table-overview tbody tr:visible a.model").all_text_contents() == \
        ["qwen3-vl/qwen3-vl-embedding-2b"]
    page.fill("input[name=q]", "")
    assert visible_rows(page, "#table-paired") == expected_rows(real, "paired")
    assert visit.console_errors == []


def test_an_address_with_state_restores_the_view(browser, base_url, site, context):
    real = site[1]
    page, visit = open_page(context(base_url), base_url + "index.html")
    page.select_option("select[name=family]", "xss")
    page.locator("#table-paired thead tr.labels th button").nth(2).click()  # provenance, A to Z
    page.locator("#table-paired thead tr.labels th button").nth(2).click()  # Z to A
    shown = column_values(page, "#table-paired", 1)
    address = page.url
    assert "family=xss" in address and "sort=table-paired.2.desc" in address
    again, _ = open_page(context(base_url), address)
    assert again.input_value("select[name=family]") == "xss"
    assert again.get_attribute("#table-paired thead tr.labels th >> nth=2", "aria-sort") == "descending"
    assert column_values(again, "#table-paired", 1) == shown
    assert visible_rows(again, "#table-overview") == sum(r["model"]["family"] == "xss" for r in real)
    assert visit.console_errors == []


def test_downloads_are_valid_json_and_csv(browser, base_url, site, context):
    results = site[1]
    page, _ = open_page(context(base_url), base_url + "index.html")
    links = page.eval_on_selector_all("#downloads a[download]", "nodes => nodes.map(n => n.href)")
    assert len(links) == 4
    for link in links:
        response = page.request.get(link)
        assert response.ok, link
        if link.endswith(".json"):
            document = json.loads(response.text())
            assert len(document["results"]) == len(results) + 1
        else:
            rows = list(csv.DictReader(io.StringIO(response.text())))
            assert rows and all(row["file"] for row in rows), link
            if link.endswith("/results.csv"):
                assert len(rows) == len(results) + 1


def test_the_page_works_from_file_urls(browser, site, context):
    folder, results = site
    prefix = folder.resolve().as_uri() + "/"
    ctx = context(prefix)
    page, visit = open_page(ctx, prefix + "index.html")
    assert page.locator("#table-paired tbody tr").count() == expected_rows(results, "paired")
    page.locator("#table-paired thead tr.labels th button").nth(0).click()  # '#': rank, best first
    ranks = [int(v) for v in column_values(page, "#table-paired", 0)]
    assert ranks == sorted(ranks)
    page.click("#table-paired a.model >> nth=0")
    assert page.url.startswith(prefix + "models/")
    assert page.locator("h1").count() == 1
    assert visit.console_errors == [] and ctx.outside == []


VIEW = """() => ({
    rows: Object.fromEntries([...document.querySelectorAll('table.board')].map(table => [table.id,
        [...table.tBodies[0].rows].filter(row => !row.hidden && row.offsetParent !== null)
            .map(row => [...row.cells].map(cell => cell.getAttribute('data-sort') ?? cell.textContent).join('|'))])),
    controls: Object.fromEntries([...document.querySelectorAll('#filters [name]')].map(c => [c.name, c.value])),
    sorted: [...document.querySelectorAll('th[aria-sort]')].map(
        th => th.closest('table').id + ' ' + th.getAttribute('data-col') + ' ' + th.getAttribute('aria-sort')),
    labels: [...document.querySelectorAll('button.sort')].map(button => button.textContent),
    count: document.getElementById('filter-count')?.textContent ?? null,
    bars: [...document.querySelectorAll('svg.chart g[data-entry]')].filter(g => g.getAttribute('display') !== 'none')
        .map(g => g.getAttribute('data-entry') + ' ' + g.getAttribute('transform')),
})"""


def test_a_file_url_with_state_restores_the_view(browser, site, context):
    """Opened from disk (file://, no server): filters, a search, sorts and the task section put in
    the address give, in a fresh browser, the same rows in the same order and the same controls."""
    folder, results = site
    prefix = folder.resolve().as_uri() + "/"
    page, visit = open_page(context(prefix, viewport=VIEWPORTS["desktop"]), prefix + "index.html")
    default = page.evaluate(VIEW)
    page.select_option("select[name=family]", "xss")
    page.select_option("select[name=provenance]", "reported")
    page.fill("input[name=q]", "<script")  # markup and a space-free search, kept as typed
    page.locator("#table-overview thead tr.labels th button").nth(1).click()  # model: A to Z
    page.locator("#table-overview thead tr.labels th button").nth(1).click()  # Z to A
    page.locator("#table-landform thead tr.labels th button").nth(2).click()
    page.click('header nav a:text-is("Task 2")')  # the task section goes into the address too
    page.wait_for_timeout(50)
    address = page.url
    state = page.evaluate(VIEW)
    assert address.startswith(prefix + "index.html?") and address.endswith("#landform"), address
    assert state["controls"] == {**default["controls"], "family": "xss", "provenance": "reported", "q": "<script"}
    assert len(state["sorted"]) == 2 and state["rows"] != default["rows"] and state["count"] != default["count"]
    assert 1 < len(state["rows"]["table-overview"]) < len(default["rows"]["table-overview"])

    again, revisit = open_page(context(prefix, viewport=VIEWPORTS["desktop"]), address)
    assert again.evaluate(VIEW) == state
    heading = again.eval_on_selector("#landform h2", "h => h.getBoundingClientRect().top")
    bar = again.eval_on_selector("#filters", "f => f.getBoundingClientRect().bottom")
    assert bar <= heading < VIEWPORTS["desktop"]["height"] / 2
    assert visit.console_errors == [] == revisit.console_errors


def test_a_model_page_file_url_with_a_sort_restores_it(browser, site, context):
    folder = site[0]
    prefix = folder.resolve().as_uri() + "/"
    page, visit = open_page(context(prefix), prefix + "models/openclip--tiny-random.html")
    default = page.evaluate(VIEW)
    page.locator("#result-1-landform-classes thead th button").nth(2).click()  # AP: best first
    page.locator("#result-1-landform-classes thead th button").nth(2).click()  # worst first
    state = page.evaluate(VIEW)
    assert state["rows"] != default["rows"] and state["sorted"] == ["result-1-landform-classes 2 ascending"]
    again, revisit = open_page(context(prefix), page.url)
    assert again.url.startswith(prefix + "models/openclip--tiny-random.html?")
    assert again.evaluate(VIEW) == state
    assert visit.console_errors == [] == revisit.console_errors


def test_rows_show_with_javascript_disabled(browser, base_url, site, context):
    results = site[1]
    page, _ = open_page(context(base_url, java_script_enabled=False), base_url + "index.html")
    for task, selector in TASK_TABLES.items():
        assert visible_rows(page, selector) == expected_rows(results, task)
    assert not page.locator("#filters").is_visible()
    assert re.search(r"\bno-js\b", page.locator("html").get_attribute("class"))


VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


def page_types(visits: dict) -> dict[str, str]:
    """One URL of each kind of page: the index, the methodology and submission pages, a model page
    with a reproduced result and one with reported results only, the comparison page."""
    models = sorted(url for url in visits if "/models/" in url)
    return {"index": next(url for url in visits if url.endswith("/index.html")),
            "methodology": next(url for url in visits if url.endswith("/methodology.html")),
            "submit": next(url for url in visits if url.endswith("/submit.html")),
            "model-reproduced": next(url for url in models if "tiny-random" in url),
            "model-reported": next(url for url in models if "siglip2" in url),
            "compare": next(url for url in visits if url.endswith("/compare.html"))}


@pytest.fixture(scope="module")
def views(crawl, browser, base_url, artifacts):
    """Each page type once per viewport: horizontal overflow, axe-core's violations, where the
    overview's first row is, how wide the task tables are, and a screenshot."""
    axe = axe_source()
    found = {}
    for viewport_name, viewport in VIEWPORTS.items():
        ctx = local_only_context(browser, base_url, viewport=viewport)
        for kind, url in page_types(crawl[0]).items():
            page, visit = open_page(ctx, url)
            view = page.evaluate("""() => ({
                overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
                firstRow: (row => row && {top: row.getBoundingClientRect().top, bottom: row.getBoundingClientRect().bottom,
                                          rank: row.cells[0].textContent, first: row.cells[0].getAttribute('data-sort')})(
                    document.querySelector('#table-overview tbody tr')),
                tables: Object.fromEntries([...document.querySelectorAll('.table-scroll')].map(
                    region => [region.firstElementChild.id, region.firstElementChild.scrollWidth
                               - region.clientWidth])),
            })""")
            view["charts"] = page.evaluate(CHART_TEXT)
            view["axe"] = run_axe(page, axe)
            page.screenshot(path=str(artifacts / f"{kind}-{viewport_name}.png"))
            page.screenshot(path=str(artifacts / f"{kind}-{viewport_name}-full.png"), full_page=True)
            if viewport_name == "phone":  # the desktop's walks are the crawl's
                view["focus"] = tab_through(page)
            view["errors"] = visit.console_errors
            found[viewport_name, kind] = view
            page.close()
        ctx.close()
    return found


# Every rule axe-core ships, those off by default included: experimental ones (such as
# label-content-name-mismatch), best practices, WCAG 2.2 (target-size) and AAA (enhanced contrast).
# (Given a list of rules, only those.)
AXE_RUN = """async only => (await axe.run(document, only ? {resultTypes: ['violations'], runOnly: {type: 'rule', values: only}}
        : {resultTypes: ['violations'], rules: Object.fromEntries(axe.getRules().map(rule => [rule.ruleId, {enabled: true}]))}))
    .violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,
        where: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary.split('\\n')[1])}))"""
# The rules a colour scheme can change the outcome of.
COLOUR_RULES = ["color-contrast", "color-contrast-enhanced", "link-in-text-block"]
IMPACTS = ("critical", "serious", "moderate", "minor")


def run_axe(page, axe: str, rules: list[str] | None = None) -> list[dict]:
    page.evaluate(axe)
    return page.evaluate(AXE_RUN, rules)


@pytest.fixture(scope="module")
def dark_axe(crawl, browser, base_url):
    """axe-core's colour rules on each page type in dark mode (prefers-color-scheme: dark): the
    scheme changes colours only, the same at every width."""
    axe, found = axe_source(), {}
    ctx = local_only_context(browser, base_url, viewport=VIEWPORTS["desktop"], color_scheme="dark")
    for kind, url in page_types(crawl[0]).items():
        page, _ = open_page(ctx, url)
        found["desktop", kind] = {"axe": run_axe(page, axe, COLOUR_RULES), "background": page.evaluate(
            "() => getComputedStyle(document.body).backgroundColor")}
        page.close()
    ctx.close()
    return found


def axe_counts(views: dict) -> dict:
    """Nodes found per impact, per colour scheme, viewport and page type."""
    return {f"{scheme} {viewport} {kind}": {impact: sum(v["nodes"] for v in view["axe"] if v["impact"] == impact)
                                            for impact in IMPACTS}
            for scheme, found in views.items() for (viewport, kind), view in found.items()}


def test_axe_finds_no_serious_or_critical_violation_on_any_page_type_size_or_scheme(views, dark_axe, artifacts):
    counts = axe_counts({"light": views, "dark": dark_axe})
    (artifacts / "axe-counts.json").write_text(json.dumps(counts, indent=1, sort_keys=True))
    assert len(counts) == (len(VIEWPORTS) + 1) * 6  # six page types at both sizes, and in dark mode
    serious = {place: [v for v in view["axe"] if v["impact"] in ("critical", "serious")]
               for place, view in [*views.items(), *dark_axe.items()]}
    assert {place: found for place, found in serious.items() if found} == {}
    # Nothing at all, whatever its impact, on a page in the default scheme.
    assert {place: view["axe"] for place, view in views.items() if view["axe"]} == {}
    assert {view["background"] for view in dark_axe.values()} == {"rgb(20, 24, 27)"}


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_no_page_scrolls_sideways_or_logs_an_error(views, viewport):
    for (name, kind), view in views.items():
        if name == viewport:
            assert view["overflow"] <= 0, (kind, view["overflow"])
            assert view["errors"] == [], kind


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_overview_first_row_is_on_the_first_screen(views, viewport):
    row = views[viewport, "index"]["firstRow"]
    assert row is not None and 0 < row["top"] and row["bottom"] <= VIEWPORTS[viewport]["height"]
    assert (row["rank"], row["first"]) == ("1", "0")  # the overview's first place (its order: the build tests)


def test_the_task_tables_fit_a_1280_px_window(views):
    # The content column is at most 1,200 px wide, so at 1,440 px it is as wide as at 1,280 px.
    tables = views["desktop", "index"]["tables"]
    assert {key: max(tables[key], 0) for key in ("table-overview", *[t[1:] for t in TASK_TABLES.values()])} == \
        dict.fromkeys(["table-overview", *[t[1:] for t in TASK_TABLES.values()]], 0)


# Where a table's model and first metric are once the page has scrolled down to the table (and
# never sideways): the boxes of the header and of the first row's cell, the scroll offsets, and
# the column headers that are not under the group header naming them (their tooltip's start).
FIRST_SCREEN = """([table, title]) => {
    const region = document.getElementById(table).closest('.table-scroll');
    region.scrollIntoView({block: 'start'});
    const shown = selector => [...region.querySelectorAll(selector)].filter(th => th.getClientRects().length);
    const header = shown('thead tr.labels th').find(th => th.title.startsWith(title));
    const row = region.querySelector('tbody tr');
    const box = node => (r => [r.left, r.top, r.right, r.bottom])(node.getBoundingClientRect());
    const groups = shown('thead tr.groups th');
    const misplaced = shown('thead tr.labels th').filter(th => groups.some(g => th.title.startsWith(g.textContent + ': ')
        && (box(th)[0] < box(g)[0] - 1 || box(th)[2] > box(g)[2] + 1))).map(th => th.title);
    return {header: box(header), cell: box(row.cells[header.cellIndex]), model: box(row.querySelector('a.model')),
            scrolled: [window.scrollX, region.scrollLeft], grouped: groups.length, misplaced};
}"""


def test_a_phone_shows_each_tables_model_and_first_numbers_without_scrolling_sideways(browser, base_url, context):
    # Each table with the tooltips of its first metric column and of the column it is ranked by
    # (as the column definitions name them).
    wanted = [(f"{kind}-{task.key}", f"{column.group}: {column.label}") for task in TASKS
              for column in {task.columns[0], task.headline_column} for kind in ("table", "synthetic")]
    wanted.append(("table-overview", f"Task 1, {TASKS[0].title}: {TASKS[0].headline_name}"))
    phone = VIEWPORTS["phone"]
    page, visit = open_page(context(base_url, viewport=phone), base_url + "index.html")
    outside, groups = {}, 0
    for table, title in wanted:
        seen = page.evaluate(FIRST_SCREEN, [table, title])
        for name in ("header", "cell", "model"):
            left, top, right, bottom = seen[name]
            if not (0 <= left < right <= phone["width"] and 0 <= top < bottom <= phone["height"]):
                outside[table, title, name] = seen[name]
        assert seen["scrolled"] == [0, 0], table
        assert seen["misplaced"] == [], table  # the group headers stay over their columns
        groups += seen["grouped"]
    assert outside == {}
    assert groups >= 2 * (2 + 1 + 2 * 3)  # task 1's two directions, task 2's means, task 3's three modes (twice)
    assert visit.console_errors == []


def test_section_links_land_below_the_sticky_filter_bar(browser, base_url, context):
    page, _ = open_page(context(base_url, viewport=VIEWPORTS["desktop"]), base_url + "index.html")
    for anchor in ("paired", "landform", "geolocalization", "about"):
        page.click(f'header nav a[href="#{anchor}"]')
        page.wait_for_timeout(50)
        heading = page.eval_on_selector(f"#{anchor} h2", "h => h.getBoundingClientRect().top")
        bar = page.eval_on_selector("#filters", "f => f.getBoundingClientRect().bottom")
        assert heading >= bar, anchor


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_chart_text_is_legible_inside_its_chart_and_no_two_labels_overlap(views, viewport):
    # Text drawn for the width it gets: at least 10 px tall on the phone as on the desktop.
    charted = {kind: view["charts"] for (name, kind), view in views.items() if name == viewport}
    assert charted["index"]["count"] >= 6 and charted["model-reproduced"]["count"] >= 1
    assert {kind: charts["smallest"] for kind, charts in charted.items()
            if charts["count"] and charts["smallest"] < 10} == {}
    assert {kind: charts["overlaps"][:5] for kind, charts in charted.items() if charts["overlaps"]} == {}
    assert {kind: charts["outside"][:5] for kind, charts in charted.items() if charts["outside"]} == {}


@pytest.mark.parametrize("drawing", ["wide", "narrow"])
def test_no_chart_label_overlaps_another_or_leaves_its_chart_on_any_page(crawl, drawing):
    visits, _ = crawl
    assert sum(visit.charts[drawing]["count"] for visit in visits.values()) >= 20
    assert {url: visit.charts[drawing]["overlaps"][:5] for url, visit in visits.items()
            if visit.charts[drawing]["overlaps"]} == {}
    assert {url: visit.charts[drawing]["outside"][:5] for url, visit in visits.items()
            if visit.charts[drawing]["outside"]} == {}
    assert {url: visit.charts[drawing]["smallest"] for url, visit in visits.items()
            if visit.charts[drawing]["count"] and visit.charts[drawing]["smallest"] < 10} == {}


def interval_in_file(result: dict, metric: str) -> list[float]:
    """The file's 95% interval of a metric named by its column key ('landform.map',
    'geolocalization.image.f1'): tasks.<task>.confidence.metrics.<path>."""
    task, *path = metric.split(".")
    node = result["tasks"][task]["confidence"]["metrics"]
    for part in path:
        node = node[part]
    return node


def scale_of(ticks: list[tuple[float, float]]) -> tuple[float, float]:
    """(offset, slope) of the linear axis through the (value, position) of the tick labels,
    checked to be linear."""
    (v0, p0), (v1, p1) = ticks[0], ticks[-1]
    slope = (p1 - p0) / (v1 - v0)
    assert len(ticks) >= 3 and all(abs(p0 + slope * (v - v0) - p) < 0.11 for v, p in ticks), ticks
    return p0 - slope * v0, slope


def test_whiskers_end_at_the_files_intervals(browser, base_url, site, context):
    results = {result["model"]["name"]: result for result in site[1]}
    page, _ = open_page(context(base_url), base_url + "index.html")
    charts = page.evaluate("""() => [...document.querySelectorAll('svg.chart')].map(svg => ({
        id: svg.id,
        ticks: [...svg.querySelectorAll('text.tick')].filter(t => t.textContent.endsWith('%')).map(t => ({
            value: parseFloat(t.textContent) / 100, x: +t.getAttribute('x'), y: +t.getAttribute('y'),
            vertical: t.getAttribute('text-anchor') === 'end'})),
        whiskers: [...svg.querySelectorAll('line.ci')].map(l => ({
            entry: l.closest('[data-entry]').getAttribute('data-entry'), metric: l.getAttribute('data-metric'),
            x1: +l.getAttribute('x1'), x2: +l.getAttribute('x2'), y1: +l.getAttribute('y1'), y2: +l.getAttribute('y2')}))
    }))""")
    checked = set()
    for chart in charts:
        for whisker in chart["whiskers"]:
            name = page.eval_on_selector(f'#table-overview tr[data-entry="{whisker["entry"]}"] a.model',
                                         "a => a.textContent")
            low, high = interval_in_file(results[name], whisker["metric"])
            vertical = chart["ticks"][0]["vertical"]  # the percent axis: y in a scatter, x in a bar chart
            axis = [(tick["value"], tick["y"] if vertical else tick["x"]) for tick in chart["ticks"]]
            offset, slope = scale_of(sorted(axis))
            ends = sorted((whisker["y1"], whisker["y2"]) if vertical else (whisker["x1"], whisker["x2"]))
            assert ends == pytest.approx(sorted([offset + slope * low, offset + slope * high]), abs=0.15), \
                (chart["id"], whisker)
            checked.add((chart["id"], whisker["metric"]))
    # Every interval of the reproduced result is drawn, in both drawings of each chart: the task 2
    # and task 3 bars (task 3's headline group: image queries) and the headline of the size charts.
    drawn = {"bars-landform": ["landform.map", "landform.r_precision", "landform.ndcg@10", "landform.hit@10"],
             "bars-geolocalization": ["geolocalization.image.f1", "geolocalization.image.auprc"],
             "size-landform": ["landform.map"], "size-geolocalization": ["geolocalization.image.f1"]}
    assert checked == {(chart + suffix, metric) for chart, metrics in drawn.items() for metric in metrics
                       for suffix in ("", "-narrow")}


def test_the_overview_shows_the_files_intervals(browser, base_url, site, context):
    reproduced = next(result for result in site[1] if result["provenance"] == "reproduced")
    page, _ = open_page(context(base_url, viewport=VIEWPORTS["phone"]), base_url + "index.html")
    row = page.locator("#table-overview tbody tr", has=page.locator("a.model", has_text="openclip/tiny-random"))
    cells = row.locator("td").all_inner_texts()
    labels = page.locator("#table-overview thead tr.labels th").evaluate_all(
        "ths => ths.map(th => th.querySelector('button').firstChild.textContent)")
    for label, metric in (("Task 2: mAP", "landform.map"), ("Task 3: Image-query F1", "geolocalization.image.f1")):
        low, high = interval_in_file(reproduced, metric)
        column = labels.index(label)
        assert cells[column].split("\n")[-1] == f"{low * 100:.2f}\u2013{high * 100:.2f}", (metric, cells[column])
    assert "\u2013" not in cells[labels.index("Task 1: Text \u2192 image R@1")]  # no per-pair ranks in the file: no interval
    assert row.locator(".ci-range").first.is_visible()


# Where the focused element is, once the browser (and the page's script) scrolled it into view: its
# first box must lie inside the window and be what the window shows there (not a sticky header,
# bar or column, not clipped by its scrolling region): hit-testing its centre and four points just
# inside its corners must find it. Each key press is checked when the next one arrives (a keydown
# listener on the window, before that key moves the focus on), the last one by `__focusDone`.
FOCUS_CHECK = """() => {
    let counter = 0;
    const log = [];
    const describe = node => node ? node.tagName.toLowerCase() + (node.id ? '#' + node.id : '')
        + (typeof node.className === 'string' && node.className ? '.' + node.className.trim().split(/\\s+/).join('.') : '')
        : 'nothing';
    const problem = element => {
        const what = describe(element) + ' "' + (element.textContent || '').trim().slice(0, 40) + '"';
        const box = element.getClientRects()[0];
        if (!box) return what + ' is not rendered';
        const [width, height] = [document.documentElement.clientWidth, document.documentElement.clientHeight];
        if (box.left < -0.5 || box.top < -0.5 || box.right > width + 0.5 || box.bottom > height + 0.5)
            return what + ' is outside the window: ' + [box.left, box.top, box.right, box.bottom].map(Math.round);
        const dx = Math.min(3, box.width / 4), dy = Math.min(3, box.height / 4);
        for (const [x, y] of [[(box.left + box.right) / 2, (box.top + box.bottom) / 2], [box.left + dx, box.top + dy],
                              [box.right - dx, box.top + dy], [box.left + dx, box.bottom - dy], [box.right - dx, box.bottom - dy]]) {
            const hit = document.elementFromPoint(x, y);
            if (!hit || !(hit === element || element.contains(hit)))
                return what + ' is under ' + describe(hit) + ' at ' + [x, y].map(Math.round);
        }
        return null;
    };
    const check = () => {
        const element = document.activeElement;
        if (!element || element === document.body) return;
        element.__seen = element.__seen || ++counter;
        const found = problem(element);
        if (found) log.push(found);
    };
    window.addEventListener('keydown', check, true);
    window.__focusDone = () => { check(); return [counter, log]; };
    return [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')]
        .filter(element => element.tabIndex >= 0 && !element.disabled && element.getClientRects().length).length;
}"""


def tab_through(page) -> tuple[int, int, list[str]]:
    """Tab through the whole page, then back: (focusable elements, elements focused, problems)."""
    focusable = page.evaluate(FOCUS_CHECK)
    for key in ("Tab", "Shift+Tab"):
        for _ in range(focusable + 1):
            page.keyboard.press(key)
    seen, problems = page.evaluate("window.__focusDone()")
    return focusable, seen, problems


def test_keyboard_focus_is_never_hidden_on_any_page_either_way(crawl, views):
    """Every page at a desktop size (the crawl's), and each page type on the phone: every focusable
    element is reached, and shown whole, Tab after Tab and Shift+Tab after Shift+Tab."""
    walks = {("desktop", url): visit.focus for url, visit in crawl[0].items()}
    walks.update({("phone", kind): view["focus"] for (viewport, kind), view in views.items() if viewport == "phone"})
    assert len(walks) == len(crawl[0]) + 6
    for place, (focusable, focused, _) in walks.items():
        assert focusable >= 10 and focused == focusable, (place, focusable, focused)
    assert {place: problems[:5] for place, (_, _, problems) in walks.items() if problems} == {}


def test_sticky_table_headers_stay_under_the_filter_bar(browser, base_url, context):
    """Scrolled so that each table's header row lies under the sticky filter bar, the bar's
    controls are still what the window shows where they are."""
    page, _ = open_page(context(base_url, viewport=VIEWPORTS["desktop"]), base_url + "index.html")
    covered = page.evaluate("""() => {
        const bar = document.getElementById('filters');
        const found = [];
        const below = [...document.querySelectorAll('#content table.board.filterable')]
            .filter(table => bar.compareDocumentPosition(table) & Node.DOCUMENT_POSITION_FOLLOWING);
        if (below.length < 5) return ['only ' + below.length + ' tables below the bar'];
        for (const table of below) {
            // The header row at the top of the window, under the bar stuck there.
            window.scrollTo(0, table.tHead.getBoundingClientRect().top + window.scrollY);
            const under = table.tHead.getBoundingClientRect();
            if (bar.getBoundingClientRect().top !== 0 || under.top > bar.getBoundingClientRect().bottom) {
                found.push(table.id + ': not placed under the bar');
                continue;
            }
            for (const control of bar.querySelectorAll('input, select, output')) {
                const box = control.getBoundingClientRect();
                const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
                if (!bar.contains(hit)) found.push(table.id + ': ' + control.name + ' under ' + hit.tagName);
            }
        }
        return found;
    }""")
    assert covered == []


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


# Under print media: each table row's text (what a printed page shows of it), and the controls and
# sort marks that are still shown.
PRINTED = """() => {
    const shown = element => element.getClientRects().length > 0;
    const rows = [...document.querySelectorAll('table')].flatMap(table => [...table.tBodies[0].rows]
        .filter(shown).map(row => table.id + '|' + [...row.cells].filter(shown).map(cell => cell.innerText).join(' ')));
    const controls = [...document.querySelectorAll('input, select, textarea, .filters label, .site-header nav')].filter(shown)
        .map(element => element.tagName);
    const marks = [...document.querySelectorAll('button.sort')].filter(button =>
        getComputedStyle(button, '::after').content !== 'none').length;
    const badges = [...document.querySelectorAll('.badge')].filter(shown).map(badge => getComputedStyle(badge).color);
    return {rows, controls, marks, badges};
}"""


def squeezed(text: str) -> str:
    """The text without white space, its ligatures (fi) as letters."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def test_printing_keeps_every_row_of_every_table_and_drops_the_controls(crawl, browser, base_url):
    """Each page type printed to PDF (the print stylesheet): every row of every table is in the
    PDF's text, in order; no control is printed, and badges print as dark text."""
    missing = {}
    ctx = local_only_context(browser, base_url)
    for kind, url in page_types(crawl[0]).items():
        page, _ = open_page(ctx, url)
        page.emulate_media(media="print")
        printed = page.evaluate(PRINTED)
        text = squeezed(pdf_text(page.pdf()))
        assert printed["controls"] == [] and printed["marks"] == 0, kind
        assert set(printed["badges"]) <= {"rgb(0, 0, 0)"}, kind
        position, lost = 0, []
        for row in printed["rows"]:
            found = text.find(squeezed(row.split("|", 1)[1]), position)
            if found < 0:
                lost.append(row[:120])
            else:
                position = found
        if lost:
            missing[kind] = (len(lost), len(printed["rows"]), lost[:3])
        assert len(printed["rows"]) >= (3 if kind not in ("methodology", "submit") else 0), kind
        page.close()
    ctx.close()
    assert missing == {}


def test_the_comparison_page_shows_two_chosen_results_side_by_side(browser, tmp_path, context):
    """Two runs with intervals (one much worse on task 2, equal on task 3) and a reported row: the
    address picks the pair and their order, the page marks the better value of each row, both of
    a tie, and the choice goes back into the address."""
    from fixtures.site_inputs import REPRODUCED, with_intervals

    first = json.loads(REPRODUCED.read_text("utf-8"))
    with_intervals(first)
    first["model"]["name"] = "openclip/first"
    second = json.loads(json.dumps(first))
    second["model"]["name"] = "openclip/second"
    for row in second["tasks"]["landform"]["per_class"]:
        row["ap"] = 0.05
    second["tasks"]["landform"]["metrics"]["map"] = 0.05
    with_intervals(second)  # task 2's mAP interval: [0.05, 0.05], far below the first's
    folder = tmp_path / "subs"
    (folder / "openclip").mkdir(parents=True)
    (folder / "baseline").mkdir()
    for name, result in (("first", first), ("second", second)):
        (folder / "openclip" / f"{name}.json").write_text(json.dumps(result))
    (folder / "baseline" / "random.json").write_bytes((REPO / "submissions" / "baseline" / "random__reported.json").read_bytes())
    build_site(folder, tmp_path / "site")
    prefix = (tmp_path / "site").resolve().as_uri() + "/"
    ids = {"first": "openclip--first--result-1", "second": "openclip--second--result-1",
           "random": "baseline--random--result-1"}
    page, visit = open_page(context(prefix), prefix + f"compare.html?a={ids['second']}&b={ids['first']}")
    shown = """table => [...document.querySelectorAll('#' + table + ' tr')].map(row => [...row.cells]
        .filter(cell => cell.getClientRects().length).map(cell => [cell.innerText.trim().split('\\n')[0],
                                                                  cell.classList.contains('best')]))"""
    rows = page.evaluate(shown, "compare-landform")
    assert [name for name, _ in rows[0][1:]] == ["openclip/second", "openclip/first"]
    low, high = first["tasks"]["landform"]["confidence"]["metrics"]["map"]
    mean_ap = next(row for row in page.evaluate("""() => [...document.querySelectorAll('#compare-landform tbody tr')]
        .map(row => [...row.cells].filter(cell => cell.getClientRects().length).map(cell => cell.innerText))""")
        if row[0].endswith("mAP"))
    assert mean_ap[1].split("\n") == ["5.00", "5.00\u20135.00"]
    assert mean_ap[2].split("\n") == [f'{first["tasks"]["landform"]["metrics"]["map"] * 100:.2f}',
                                        f"{low * 100:.2f}\u2013{high * 100:.2f}"]
    landform = {row[0][0]: [bold for _, bold in row[1:]] for row in rows[1:]}
    assert landform["Mean over classes: mAP"] == [False, True]  # the first is better, its interval apart
    modes = {row[0][0]: row[1:] for row in page.evaluate(shown, "compare-modes")[1:]}
    image_f1 = modes["Image query: F1"]
    assert [bold for _, bold in image_f1] == [True, True]  # equal: a tie, both bold and marked
    assert page.locator("#compare-modes td.tie .pair-tie").count() >= 2
    page.select_option("select[name=b]", ids["random"])
    assert page.url.endswith(f"compare.html?a={ids['second']}&b={ids['random']}")
    assert [name for name, _ in page.evaluate(shown, "compare-paired")[0][1:]] == ["openclip/second", "baseline/random"]
    again, revisit = open_page(context(prefix), page.url)
    assert again.evaluate(shown, "compare-paired") == page.evaluate(shown, "compare-paired")
    default, _ = open_page(context(prefix), prefix + "compare.html")  # the overview's first two
    index, _ = open_page(context(prefix), prefix + "index.html")
    leaders = index.locator("#table-overview tbody tr a.model").all_text_contents()[:2]
    assert [name for name, _ in default.evaluate(shown, "compare-headlines")[0][1:]] == leaders
    assert visit.console_errors == [] == revisit.console_errors
