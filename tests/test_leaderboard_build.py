"""`mars-zoo leaderboard build`: deterministic, escaped, http(s)-only links, synthetic apart."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fixtures.site_inputs import MINI, REPO, make_submissions, results_in, xss_names
from mars_zoo.cli import main
from mars_zoo.core.errors import MarsZooError
from mars_zoo.leaderboard.build import MARKER, build_site
from mars_zoo.leaderboard.columns import PROTOCOL_BADGES
from mars_zoo.leaderboard.html import safe_url
from mars_zoo.leaderboard.serve import make_server

ALLOWED_TAGS = {
    "html", "head", "meta", "title", "link", "script", "body", "header", "nav", "main", "footer", "section",
    "p", "a", "ul", "ol", "li", "h1", "h2", "h3", "h4", "strong", "span", "code", "form", "label", "select",
    "option", "output", "div", "table", "caption", "thead", "tbody", "tr", "th", "td", "button", "dl", "dt",
    "dd", "svg", "text", "rect", "line", "polyline", "polygon", "circle", "input", "g", "time", "pre", "wbr",
}


class PageScan(HTMLParser):
    """Every start tag with its attributes, and the text, of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def scan(data: bytes) -> PageScan:
    parser = PageScan()
    parser.feed(data.decode("utf-8"))
    return parser


class TableScan(HTMLParser):
    """The header labels and the body cells (text and attributes) of one table, by id. The text
    is what a wide screen shows: without the provenance mark that narrow screens show under a
    model's name, nor what only screen readers read."""

    def __init__(self, table_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.table_id = table_id
        self.inside = self.body = False  # inside the table, inside its body
        self.labels: list[str] = []
        self.rows: list[list[tuple[str, dict[str, str | None]]]] = []
        self.cell: list | None = None
        self.mark = 0  # the depth of spans inside a provenance mark

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "span" and (self.mark or {"provenance-mark", "sr-only"} & set((attributes.get("class") or "").split())):
            self.mark += 1
        elif tag == "table":
            self.inside = attributes.get("id") == self.table_id
        elif self.inside and tag == "tbody":
            self.body = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = ["", attributes, tag]

    def handle_endtag(self, tag):
        if tag == "span" and self.mark:
            self.mark -= 1
        elif tag == "table":
            self.inside = self.body = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            text, attributes, kind = self.cell
            if kind == "td" and self.body:
                self.rows[-1].append((text.strip(), attributes))
            elif attributes.get("data-col") is not None:
                self.labels.append(text.strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None and not self.mark:
            self.cell[0] += data


def submitted(name: str) -> dict:
    """A result from the real submissions folder, to modify."""
    return json.loads((REPO / "submissions" / name).read_text("utf-8"))


def build_one(tmp_path: Path, result: dict) -> dict[str, bytes]:
    """The site of a submissions folder that holds only `result`."""
    folder = tmp_path / "subs" / result["model"]["family"]
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(result))
    return build_site(tmp_path / "subs", tmp_path / "out")


def model_name(cell_text: str) -> str:
    """The model's name in a model cell's text: before its revision and a protocol badge."""
    name = cell_text.split(" @ ")[0]
    return next((name.removesuffix(" " + label) for label in PROTOCOL_BADGES.values()
                 if name.endswith(" " + label)), name)


def table_of(data: bytes, table_id: str) -> tuple[list[str], dict[str, list[tuple[str, dict]]]]:
    """The labels of a task table and its body rows keyed by the model's name."""
    parser = TableScan(table_id)
    parser.feed(data.decode("utf-8"))
    model = parser.labels.index("Model")
    return parser.labels, {model_name(row[model][0]): row for row in parser.rows if row}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaderboard")
    submissions = make_submissions(root)
    files = build_site(submissions, root / "site", include=[MINI])
    return root, submissions, files


def tree(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_every_page_has_the_navigation_and_the_favicon_and_writes_an_absent_value_one_way(site, tmp_path):
    _, _, files = site
    pages = {path: data.decode() for path, data in files.items() if path.endswith(".html")}
    assert {"compare.html", "submit.html", "methodology.html"} <= set(pages)
    for path, page in pages.items():
        prefix = "../" if path.startswith("models/") else ""
        nav = page[page.index('<nav aria-label="Sections">'):page.index("</nav>")]
        for target, label in (("compare.html", "Compare"), ("methodology.html", "Methodology"), ("submit.html", "Submit")):
            assert f'<a href="{prefix}{target}">{label}</a>' in nav, (path, target)
        [icon] = re.findall(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
        assert icon == f"{prefix}assets/favicon.svg" and files["assets/favicon.svg"].startswith(b"<svg ")
        # Cells without a value, and bars without one, read "\u2013" (n/a where it cannot exist), nothing else.
        empty = re.findall(r'<td data-sort=""[^>]*class="[^"]*\bmissing\b[^"]*"[^>]*>(.*?)</td>', page)
        assert set(empty) <= {"\u2013", "n/a"}, (path, set(empty) - {"\u2013", "n/a"})
        assert not re.search(r"<(td|dd|text)\b[^>]*>(\?|None|null|nan|NaN|N/A)</", page), path
    index = pages["index.html"]
    assert index.count(">\u2013<") > 20 and "n/a</text>" not in index
    # Without a submission guide the Submit page still says how to submit.
    folder = tmp_path / "subs"
    shutil.copytree(REPO / "submissions" / "baseline", folder / "baseline")
    page = build_site(folder, tmp_path / "out")["submit.html"].decode()
    assert "mars-zoo validate FILE" in page


def test_two_builds_are_byte_identical(site, tmp_path):
    root, submissions, files = site
    again = build_site(submissions, tmp_path / "again", include=[MINI])
    assert tree(root / "site") == tree(tmp_path / "again") == files
    build_site(submissions, tmp_path / "again", include=[MINI])  # replaces its own earlier output
    assert tree(tmp_path / "again") == again


def test_site_layout(site):
    _, submissions, files = site
    names = {result["model"]["name"] for result in results_in(submissions)}
    pages = [path for path in files if path.startswith("models/")]
    assert len(pages) == len(names)
    assert {"index.html", "assets/style.css", "assets/leaderboard.js", "data/results.json", "data/results.csv",
            "data/landform_per_class.csv", "data/geolocalization_per_landform.csv", MARKER} <= set(files)


def test_every_page_is_escaped_and_links_only_to_the_site_or_http(site):
    _, _, files = site
    for path, data in files.items():
        if not path.endswith(".html"):
            continue
        page = scan(data)
        for tag, attributes in page.tags:
            assert tag in ALLOWED_TAGS, (path, tag)
            assert not [name for name in attributes if name.startswith("on")], (path, tag, attributes)
            assert "style" not in attributes and "srcdoc" not in attributes, (path, tag)
            if tag == "script":
                assert attributes["src"].endswith("assets/leaderboard.js"), path
            for name in ("href", "src"):
                value = attributes.get(name)
                if value is None:
                    continue
                if "://" in value or value.startswith("//") or ":" in value.split("/")[0]:
                    assert safe_url(value) == value and value.startswith(("http://", "https://")), (path, value)
                    assert tag == "a" and attributes["rel"] == "noopener noreferrer nofollow"
        assert sum(tag == "script" for tag, _ in page.tags) == 1, path


def test_payloads_appear_as_text(site):
    _, _, files = site
    index_text = "".join(scan(files["index.html"]).text)
    for name in xss_names():
        assert name in index_text


def test_synthetic_results_are_apart_and_unranked(site):
    _, submissions, files = site
    index = files["index.html"].decode()
    synthetic_at = index.index('<section id="synthetic" class="synthetic">')
    mini_row = 'href="models/openclip--tiny-random.html#result-2"'
    assert index.count(mini_row) == 3  # one row per task, all in the synthetic section
    assert index.index(mini_row) > synthetic_at
    assert "SYNTHETIC" in index[synthetic_at:]
    synthetic_tables = index[synthetic_at:].split('<section id="downloads">')[0]
    assert 'data-col="0" data-type="number" data-better="lower"><button type="button" class="sort">#' \
        not in synthetic_tables
    exported = json.loads(files["data/results.json"])["results"]
    assert [item["synthetic"] for item in exported].count(True) == 1
    assert len(exported) == len(results_in(submissions)) + 1


def test_csv_downloads_match_the_results_and_defuse_formulas(site, tmp_path):
    _, submissions, files = site
    rows = list(csv.DictReader(io.StringIO(files["data/results.csv"].decode())))
    assert len(rows) == len(results_in(submissions)) + 1
    siglip = next(row for row in rows if row["model.name"] == "openclip/vit-l-16-siglip2-512")
    assert (siglip["paired.t2i.r1"], siglip["paired.t2i.medr"], siglip["provenance"]) == ("0.1273", "78", "reported")
    result = submitted("baseline/random__reported.json")
    result["model"]["checkpoint"] = "=HYPERLINK(\"http://evil.example\")"
    built = build_one(tmp_path, result)
    [row] = csv.DictReader(io.StringIO(built["data/results.csv"].decode()))
    assert row["model.checkpoint"] == "'=HYPERLINK(\"http://evil.example\")"


def test_medr_is_shown_rounded_half_to_even_and_kept_raw_in_the_downloads(tmp_path):
    """The published code prints int(round(medr)); a median of an even count can end in .5."""
    result = submitted("openclip/vit-l-16-siglip2-512__reported.json")
    result["tasks"]["paired"]["metrics"]["t2i"]["medr"] = 77.5
    result["tasks"]["paired"]["metrics"]["i2t"]["medr"] = 76.5
    files = build_one(tmp_path, result)
    name = result["model"]["name"]
    for page, table_id in (("index.html", "table-paired"), ("models/openclip--vit-l-16-siglip2-512.html",
                                                            "result-1-paired")):
        parser = TableScan(table_id)
        parser.feed(files[page].decode())
        medr = [cell for row in parser.rows for label, cell in zip(parser.labels, row) if label == "MedR"]
        assert [(text, attributes["title"]) for text, attributes in medr] == \
            [("78", "77.5 before rounding"), ("76", "76.5 before rounding")], page
    labels, rows = table_of(files["index.html"], "table-paired")
    assert [rows[name][index][1]["data-sort"] for index, label in enumerate(labels) if label == "MedR"] == \
        ["77.5", "76.5"]
    [row] = csv.DictReader(io.StringIO(files["data/results.csv"].decode()))
    assert (row["paired.t2i.medr"], row["paired.i2t.medr"]) == ("77.5", "76.5")
    [exported] = json.loads(files["data/results.json"])["results"]
    assert exported["result"]["tasks"]["paired"]["metrics"]["t2i"]["medr"] == 77.5


PUBLISHED, MTEB = "img2dataset-center-crop-512-jpeg95", "mteb-original-bytes"


def test_task_1_shows_how_the_images_were_prepared(site, tmp_path):
    """Reproduced and reported task 1 rows were measured on differently prepared images:
    the table, the model pages and the CSV say which."""
    _, _, files = site
    labels, rows = table_of(files["index.html"], "table-paired")
    column = labels.index("Image preparation")
    assert rows["openclip/vit-l-16-siglip2-512"][column][0] == MTEB
    assert rows["openclip/tiny-random"][column][0] == PUBLISHED
    assert "rows are ranked only among rows of the same preparation" in "".join(scan(files["index.html"]).text)
    page_text = "".join(scan(files["models/openclip--tiny-random.html"]).text)
    assert "Image preparationimg2dataset-center-crop-512-jpeg95" in page_text
    csv_rows = {row["file"]: row for row in csv.DictReader(io.StringIO(files["data/results.csv"].decode()))}
    assert csv_rows["openclip/tiny-random__unpinned.json"]["paired.image_preparation"] == "img2dataset-center-crop-512-jpeg95"

    result = submitted("baseline/random__reported.json")
    del result["tasks"]["paired"]["image_preparation"]  # optional in a reported result
    built = build_one(tmp_path, result)
    labels, rows = table_of(built["index.html"], "table-paired")
    cell = rows["baseline/random"][labels.index("Image preparation")]
    assert (cell[0], cell[1]["data-sort"]) == ("\u2013", "")
    assert "Image preparationnot stated" in "".join(scan(built["models/baseline--random.html"]).text)


def test_task_1_ranks_rows_only_among_rows_of_the_same_preparation(site):
    """The paper's protocol and MTEB's give different task 1 numbers: each row's rank counts only
    the rows measured under its own preparation, the paper's rows come first, and the others
    carry a badge that says why they are ranked apart."""
    _, submissions, files = site
    parser = TableScan("table-paired")
    parser.feed(files["index.html"].decode())
    model, preparation = parser.labels.index("Model"), parser.labels.index("Image preparation")
    results = [r for r in results_in(submissions) if "paired" in r["tasks"]]
    expected = {}
    for group in (PUBLISHED, MTEB):
        values = [r["tasks"]["paired"]["metrics"]["t2i"]["r1"] for r in results
                  if r["tasks"]["paired"].get("image_preparation") == group]
        best_first = sorted((v for v in values if v is not None), reverse=True)
        for r in results:
            if r["tasks"]["paired"].get("image_preparation") == group:
                r1 = r["tasks"]["paired"]["metrics"]["t2i"]["r1"]
                expected[r["model"]["name"]] = ("\u2013" if r1 is None else str(1 + best_first.index(r1)),
                                                group != PUBLISHED)
    shown = {model_name(row[model][0]): (row[0][0], row[model][0].endswith(" MTEB"))
             for row in parser.rows if row}
    assert shown == expected
    assert sum(mark for _, mark in expected.values()) >= 2 and ("1", False) in expected.values()
    groups = [row[preparation][0] for row in parser.rows if row]
    assert groups == sorted(groups, key=lambda value: value != PUBLISHED)  # the paper's rows first
    sort_values = [int(row[0][1]["data-sort"]) for row in parser.rows if row and row[0][1]["data-sort"]]
    assert sort_values == sorted(sort_values)  # sorting by '#' gives back the grouped order
    apart = next(row for row in parser.rows if row and row[preparation][0] == MTEB)
    assert apart[0][1]["title"].startswith("Ranked only among the task 1 results measured under MTEB's protocol")


def test_a_model_page_compares_a_reported_row_with_the_run_of_the_same_protocol(tmp_path):
    """A reported MTEB row is compared with the reproduced run measured under MTEB's protocol, not
    with the run under the paper's; where only differently measured runs exist, task 1 is not
    compared."""
    reported = submitted("openclip/vit-l-16-siglip2-512__reported.json")
    papers = json.loads((REPO / "tests" / "fixtures" / "valid" / "reproduced.json").read_text("utf-8"))
    papers["model"]["name"] = reported["model"]["name"]
    mtebs = json.loads(json.dumps(papers))
    mtebs["tasks"] = {"paired": mtebs["tasks"]["paired"]}
    mtebs["tasks"]["paired"]["image_preparation"] = MTEB
    for metrics in mtebs["tasks"]["paired"]["metrics"].values():  # MTEB rounds its recall
        metrics.update(r1=round(metrics["r1"], 5), r10=round(metrics["r10"], 5))
    folder = tmp_path / "subs" / "openclip"
    folder.mkdir(parents=True)
    page = "models/openclip--vit-l-16-siglip2-512.html"
    (folder / "a.json").write_text(json.dumps(papers))
    (folder / "b.json").write_text(json.dumps(reported))
    _, rows = summary_of(build_site(tmp_path / "subs", tmp_path / "out1")[page])
    assert rows[-1] == ["Reproduced \u2212 reported (points)", "", "\u2013", "\u2013", "\u2013"]
    (folder / "c.json").write_text(json.dumps(mtebs))
    _, rows = summary_of(build_site(tmp_path / "subs", tmp_path / "out2")[page])
    new, old = (r["tasks"]["paired"]["metrics"]["t2i"]["r1"] for r in (mtebs, reported))  # task 1's headline
    assert rows[-1] == ["Reproduced \u2212 reported (points)", "", f"{(new - old) * 100:+.2f}", "\u2013", "\u2013"]


def test_invalid_files_stop_the_build_and_keep_the_old_site(site, tmp_path):
    _, submissions, _ = site
    out = tmp_path / "site"
    build_site(submissions, out)
    before = tree(out)
    bad = REPO / "tests" / "fixtures" / "malformed" / "javascript_paper_url.json"
    with pytest.raises(MarsZooError, match=r"javascript_paper_url\.json: model\.paper_url: must be an http"):
        build_site(submissions, out, include=[bad])
    assert tree(out) == before


def test_build_refuses_to_replace_a_folder_it_did_not_make(site, tmp_path):
    _, submissions, _ = site
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(MarsZooError, match="no leaderboard build made"):
        build_site(submissions, tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_build_never_imports_plugins_or_model_libraries(site, tmp_path):
    _, submissions, _ = site
    code = (
        "import sys\n"
        "from mars_zoo.leaderboard.build import build_site\n"
        f"build_site({str(submissions)!r}, {str(tmp_path / 'out')!r})\n"
        "loaded = {'torch', 'open_clip', 'transformers', 'mars_zoo.models.registry', 'mars_zoo_openclip'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_cli_build_and_serve(site, tmp_path, capsys):
    _, submissions, _ = site
    out = tmp_path / "cli-site"
    assert main(["leaderboard", "build", "--submissions", str(submissions), "--include", str(MINI),
                 "--out", str(out)]) == 0
    assert "Built the leaderboard from" in capsys.readouterr().err
    server = make_server(out, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200 and response.read() == (out / "index.html").read_bytes()
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(MarsZooError, match="No built site"):
        make_server(tmp_path / "nothing", 0)


def summary_of(data: bytes) -> tuple[list[str], list[list[str]]]:
    parser = TableScan("summary")
    parser.feed(data.decode("utf-8"))
    return parser.labels, [[text for text, _ in row] for row in parser.rows if row]


def test_a_model_page_opens_on_a_summary(tmp_path):
    reproduced = json.loads((REPO / "tests" / "fixtures" / "valid" / "reproduced.json").read_text("utf-8"))
    reproduced["model"].update(hub_repo="timm/tiny", revision="0123456789abcdef0123456789abcdef01234567",
                               random_weights=False, recipe_notes="Images resized to 64 px <b>first</b>.")
    reported = submitted("openclip/vit-l-16-siglip2-512__reported.json")
    reported["model"] = {**reported["model"], "name": reproduced["model"]["name"]}
    reported["tasks"]["paired"]["image_preparation"] = PUBLISHED  # as a row the paper itself reports
    image_only = json.loads(json.dumps(reproduced))
    image_only["model"].update(name="openclip/eyes-only", modalities=["image"])
    geo = image_only["tasks"] = {"geolocalization": image_only["tasks"]["geolocalization"]}
    geo["geolocalization"]["metrics"] = {"image": geo["geolocalization"]["metrics"]["image"]}
    geo["geolocalization"]["per_landform"] = [row for row in geo["geolocalization"]["per_landform"]
                                              if row["mode"] == "image"]
    folder = tmp_path / "subs" / "openclip"
    folder.mkdir(parents=True)
    for name, result in (("a.json", reproduced), ("b.json", reported), ("c.json", image_only)):
        (folder / name).write_text(json.dumps(result))
    files = build_site(tmp_path / "subs", tmp_path / "out")
    page = files["models/openclip--tiny-random.html"].decode()
    labels, rows = summary_of(files["models/openclip--tiny-random.html"])
    assert labels == ["Result", "Overview rank", "Task 1: Text \u2192 image R@1", "Task 2: mAP", "Task 3: Image-query F1"]
    t2i = reported["tasks"]["paired"]["metrics"]["t2i"]["r1"]
    ours = 0.33199821984868716
    image_f1 = f'{reproduced["tasks"]["geolocalization"]["metrics"]["image"]["f1"] * 100:.2f}'
    # Task 1: the run ranks 1, the reported row 2 (both under the paper's protocol); task 2: the run alone;
    # task 3 (image queries): the run and the image-only model tie at rank 1. Means: run 1 over 3 tasks,
    # image-only 1 over 1 (fewer tasks: after the run), reported 2 over 1.
    assert rows == [["reported", "3 of 3 (mean rank 2.00 over 1 of 3 tasks, partial)", f"{t2i * 100:.2f}", "\u2013",
                     "\u2013"],
                    ["reproduced", "1 of 3 (mean rank 1.00 over 3 of 3 tasks)", "33.20", "49.02", image_f1],
                    ["Reproduced \u2212 reported (points)", "", f"{(ours - t2i) * 100:+.2f}", "\u2013", "\u2013"]]
    assert page.index('id="summary"') < page.index("<h3>Model</h3>")
    assert 'href="https://huggingface.co/timm/tiny/tree/0123456789abcdef0123456789abcdef01234567"' in page
    assert "Images resized to 64 px &lt;b&gt;first&lt;/b&gt;." in page
    assert "run.started" not in page and "environment.python" not in page
    for entry in ("result-1", "result-2"):
        copy = json.loads(files[f"data/results/openclip--tiny-random--{entry}.json"])
        assert copy == (reported if entry == "result-1" else reproduced)
        assert f'href="../data/results/openclip--tiny-random--{entry}.json"' in page
    eyes = files["models/openclip--eyes-only.html"].decode()
    assert eyes.count("Not applicable: an image-only model") == 2  # tasks 1 and 2
    assert summary_of(files["models/openclip--eyes-only.html"])[1][0] == \
        ["reproduced", "2 of 3 (mean rank 1.00 over 1 of 3 tasks, partial)", "n/a", "n/a", image_f1]


# Each task's headline metric, as the protocol names it, by its path under tasks.<task>.metrics.
HEADLINE_PATHS = {"paired": ("t2i", "r1"), "landform": ("map",), "geolocalization": ("image", "f1")}
OVERVIEW_LABELS = ["#", "Model", "Provenance", "Training", "Mean rank", "Task 1: Text \u2192 image R@1", "Task 2: mAP",
                   "Task 3: Image-query F1"]


def headline_of(result: dict, task: str) -> float | None:
    node = result["tasks"].get(task, {}).get("metrics", {})
    for part in HEADLINE_PATHS[task]:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def expected_overview(results: list[dict]) -> dict[str, tuple[list[int], float | None]]:
    """Model name -> (its rank in each task it was measured on, their mean), computed here: a task's
    rank counts the results of the same protocol (task 1's image preparation) with a better value."""
    def pool(result, task):
        return result["tasks"][task].get("image_preparation") if task == "paired" else None

    ranks = {result["model"]["name"]: [] for result in results}
    for task in HEADLINE_PATHS:
        measured = [r for r in results if headline_of(r, task) is not None]
        for result in measured:
            better = sum(headline_of(other, task) > headline_of(result, task) for other in measured
                         if pool(other, task) == pool(result, task))
            ranks[result["model"]["name"]].append(1 + better)
    return {name: (found, sum(found) / len(found) if found else None) for name, found in ranks.items()}


def test_the_overview_ranks_every_result_by_its_mean_rank_over_the_tasks_it_was_measured_on(tmp_path):
    folder = make_submissions(tmp_path)
    files = build_site(folder, tmp_path / "out")
    labels, rows = table_of(files["index.html"], "table-overview")
    assert labels == OVERVIEW_LABELS
    expected = expected_overview(results_in(folder))
    keys = {name: (mean, -len(found)) for name, (found, mean) in expected.items() if mean is not None}
    places = {name: str(1 + sum(other < key for other in keys.values())) for name, key in keys.items()}
    assert {name: row[0][0] for name, row in rows.items()} == {name: places.get(name, "\u2013") for name in expected}
    assert [keys[name] for name in rows if name in keys] == sorted(keys.values())  # the table's order
    assert list(rows)[:len(keys)] == [name for name in rows if name in keys]  # unranked rows last
    for name, row in rows.items():
        found, mean = expected[name]
        text = row[OVERVIEW_LABELS.index("Mean rank")][0]
        if mean is None:
            assert text == "\u2013", name
        else:
            assert text.startswith(f"{mean:.2f}{len(found)} of 3 tasks"), (name, text)
            assert text.endswith("partial") == (len(found) < 3), (name, text)
    assert len({len(found) for found, _ in expected.values()}) >= 3  # full and partial coverage both present
    task_1 = OVERVIEW_LABELS.index("Task 1: Text \u2192 image R@1")
    assert any(row[task_1][0].endswith("MTEB") for row in rows.values())  # ranked among MTEB's rows, marked
    assert "How the overview ranks:" in "".join(scan(files["index.html"]).text)


def test_the_real_submissions_put_the_best_model_first_and_the_random_baseline_last(tmp_path):
    files = build_site(REPO / "submissions", tmp_path / "out")
    _, rows = table_of(files["index.html"], "table-overview")
    results = results_in(REPO / "submissions")
    best_first = sorted(results, key=lambda result: -headline_of(result, "paired"))
    assert list(rows) == [result["model"]["name"] for result in best_first]
    assert list(rows)[-1] == "baseline/random" and [row[0][0] for row in rows.values()] == ["1", "2", "3"]


def test_one_headline_metric_per_task_in_the_overview_the_task_table_and_the_chart(site):
    """The overview shows, the task table marks and is ranked by, and the chart is ordered by the
    same metric: the overview's number of every result is the one of its task table's marked column."""
    _, submissions, files = site
    index = files["index.html"].decode()
    overview_labels, overview = table_of(files["index.html"], "table-overview")
    for number, (task, path) in enumerate(HEADLINE_PATHS.items(), 1):
        marked = re.findall(rf'<table id="table-{task}".*?</thead>', index, re.S)[0]
        [(title, column)] = re.findall(r'<th scope="col" title="([^"]+)" data-col="(\d+)"[^>]*class="num headline"',
                                       marked)
        label = {"paired": "R@1", "landform": "mAP", "geolocalization": "F1"}[task]
        assert title.split(": ")[1].startswith(label) and "rows are ranked by it" in title, title
        chart = re.findall(rf'<svg [^>]*id="bars-{task}".*?</svg>', index, re.S)[0]
        assert f"ranked by {label}</text>" in chart.replace("\u2026", "")
        _, table = table_of(files["index.html"], f"table-{task}")
        column = int(column)
        shown = overview_labels.index(next(text for text in overview_labels if text.startswith(f"Task {number}:")))
        compared = 0
        for name, row in table.items():
            if name in overview and row[column][1].get("data-sort"):
                assert overview[name][shown][1]["data-sort"] == row[column][1]["data-sort"], (task, name)
                compared += 1
        assert compared >= 3, task


def test_the_about_section_dates_the_submissions_from_git_or_from_the_files(tmp_path):
    from mars_zoo.leaderboard.context import BIBTEX

    folder = make_submissions(tmp_path / "plain")
    no_git = build_site(folder, tmp_path / "out1")["index.html"].decode()
    finished = max(r["run"]["finished_at"][:10] for r in results_in(folder) if "run" in r)
    assert f'Last updated: <time datetime="{finished}">' in no_git
    assert "No changelog: the site was built from a submissions folder outside a git repository." in no_git
    assert BIBTEX.replace("{", "").split("\n")[0] in no_git.replace("{", "")
    assert "https://huggingface.co/datasets/Cerru02/Mars-VL-Pairs-MTEB/tree/f0084ab0ba2f584b15dc72a82502b38ee490f58d" in no_git
    assert '<a href="submit.html">How to submit a result</a>' in no_git

    repo = tmp_path / "repo"
    folder = make_submissions(repo)
    environment = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a",
                   "GIT_COMMITTER_EMAIL": "a@b", "HOME": str(tmp_path)}

    def git(*args, date="2026-01-02T03:04:05Z"):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                       env={**environment, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date,
                            "PATH": "/usr/bin:/bin"})

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "first")
    (folder / "baseline" / "random__reported.json").unlink()
    git("add", "-A")
    git("commit", "-qm", "second", date="2026-02-03T00:00:00Z")
    first = build_site(folder, tmp_path / "out2")["index.html"]
    page = first.decode()
    assert 'Last updated: <time datetime="2026-02-03">' in page
    assert '<li><time datetime="2026-02-03">2026-02-03</time>: removed baseline/random__reported.json</li>' in page
    assert "2026-01-02</time>: added baseline/random__reported.json; added openclip/" in page
    assert build_site(folder, tmp_path / "out2")["index.html"] == first


def contrast_on_white(colour: str) -> float:
    """WCAG 2 contrast ratio of a #rrggbb colour against white."""
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


def test_chart_marks_contrast_with_their_background(tmp_path):
    files = build_site(make_submissions(tmp_path), tmp_path / "out", include=[MINI])
    pages = [data.decode() for name, data in files.items() if name.endswith(".html")]
    fills = {colour for page in pages for colour in re.findall(r'<(?:rect|circle|polygon|polyline|line)[^>]*?'
                                                               r'(?:fill|stroke)="(#[0-9a-f]{6})"', page)}
    assert fills and {colour: contrast_on_white(colour) for colour in fills if contrast_on_white(colour) < 3} == {}
    from mars_zoo.leaderboard.svg import style

    assert len({style(index) for index in range(36)}) == 36  # past six colours the dashes tell series apart


def many_models(folder: Path, names: list[str]) -> Path:
    """A submissions folder of the reproduced result under each of `names` (same scores, so every
    chart holds one curve or point per name)."""
    reproduced = json.loads((REPO / "tests" / "fixtures" / "valid" / "reproduced.json").read_text("utf-8"))
    for index, name in enumerate(names):
        result = json.loads(json.dumps(reproduced))
        result["model"].update(name=name, family=name.split("/")[0])
        (folder / result["model"]["family"]).mkdir(parents=True, exist_ok=True)
        (folder / result["model"]["family"] / f"{index}.json").write_text(json.dumps(result))
    return folder


def chart_marks(index: str) -> list[dict[str, tuple]]:
    """Per chart with marks of models: data-entry -> how its curve (stroke, dash) or point (shape, fill)
    looks, and the entries that have a direct label."""
    charts = []
    for chart in re.findall(r"<svg .*?</svg>", index, re.S):
        looks: dict[str, tuple] = {}
        for match in re.finditer(r'<polyline ([^>]*)>', chart):
            attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', match.group(1)))
            if "data-entry" in attributes:
                looks[attributes["data-entry"]] = ("curve", attributes["stroke"], attributes.get("stroke-dasharray"))
        for entry, attributes in re.findall(r'<g data-entry="([^"]+)">(?:<g>.*?</g>)?<(?:circle|rect|polygon) ([^>]*)>',
                                            chart):
            point = dict(re.findall(r'([\w-]+)="([^"]*)"', attributes))
            looks[entry] = ("point", point["class"], point["fill"])
        labelled = set(re.findall(r'<g data-entry="([^"]+)"><line [^>]*class="leader"', chart))
        if looks:
            charts.append({"looks": looks, "labelled": labelled})
    return charts


def test_more_than_seven_models_stay_apart_and_each_keeps_its_colour_across_builds(tmp_path):
    names = [f"fam{index % 3}/model-{index}" for index in range(11)]
    first = build_site(many_models(tmp_path / "a", names), tmp_path / "out-a")["index.html"].decode()
    # Another build: some models gone, others added.
    others = names[3:9] + ["new/one", "new/two", "zzz/three"]
    second = build_site(many_models(tmp_path / "b", others), tmp_path / "out-b")["index.html"].decode()
    colours = []
    for index, count in ((first, len(names)), (second, len(others))):
        charts = chart_marks(index)
        kinds = {next(iter(chart["looks"].values()))[0] for chart in charts}
        assert kinds == {"curve", "point"} and all(len(chart["looks"]) == count for chart in charts)
        for chart in charts:
            # No two curves (colour and dash) or points (shape and colour) of a chart look alike,
            # and each is named by a direct label.
            assert len(set(chart["looks"].values())) == count, chart["looks"]
            assert chart["labelled"] == set(chart["looks"])
        colours.append({entry.split("#")[0]: looks[-1] if looks[0] == "point" else looks[1]
                        for chart in charts for entry, looks in chart["looks"].items()})
    shared = set(colours[0]) & set(colours[1])
    assert len(shared) == 6 and {page: colours[0][page] for page in shared} == {page: colours[1][page] for page in shared}
    assert len(set(colours[0].values())) >= 4  # the palette is used, not one colour for all
