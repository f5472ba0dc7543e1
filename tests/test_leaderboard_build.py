"""`mars-zoo leaderboard build`: deterministic, escaped, http(s)-only links, synthetic apart."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fixtures.site_inputs import MINI, REPO, make_submissions, results_in, xss_names
from mars_zoo.cli import main
from mars_zoo.errors import MarsZooError
from mars_zoo.leaderboard.build import MARKER, build_site
from mars_zoo.leaderboard.columns import PROTOCOL_BADGES
from mars_zoo.leaderboard.html import safe_url
from mars_zoo.leaderboard.serve import make_server

ALLOWED_TAGS = {
    "html", "head", "meta", "title", "link", "script", "body", "header", "nav", "main", "footer", "section",
    "p", "a", "ul", "ol", "li", "h1", "h2", "h3", "h4", "strong", "span", "code", "form", "label", "select",
    "option", "output", "div", "table", "caption", "thead", "tbody", "tr", "th", "td", "button", "dl", "dt",
    "dd", "svg", "text", "rect", "line", "polyline", "circle", "input", "g", "time", "pre", "wbr",
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
    model's name."""

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
        if tag == "span" and (self.mark or "provenance-mark" in (attributes.get("class") or "").split()):
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
    new, old = (sum(r["tasks"]["paired"]["metrics"][d]["r1"] for d in ("t2i", "i2t")) / 2 for r in (mtebs, reported))
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
        "loaded = {'torch', 'open_clip', 'transformers', 'mars_zoo.registry', 'mars_zoo_openclip'} & set(sys.modules)\n"
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
    assert labels == ["Result", "Cross-task rank", "Task 1: Mean R@1", "Task 2: mAP", "Task 3: Text F1"]
    cells = rows
    t2i, i2t = reported["tasks"]["paired"]["metrics"]["t2i"]["r1"], reported["tasks"]["paired"]["metrics"]["i2t"]["r1"]
    ours = (0.33199821984868716 + 0.32843791722296395) / 2
    assert cells == [["reported", "not ranked (1 of 3 headline numbers)", f"{(t2i + i2t) * 50:.2f}", "\u2013", "\u2013"],
                     ["reproduced", "1 of 1", "33.02", "49.02", "0.72"],
                     ["Reproduced \u2212 reported (points)", "", f"{(ours - (t2i + i2t) / 2) * 100:+.2f}",
                      "\u2013", "\u2013"]]
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
        ["reproduced", "not ranked (0 of 3 headline numbers)", "n/a", "n/a", "n/a"]


def test_the_overview_ranks_across_tasks_only_results_with_all_three(tmp_path):
    folder = make_submissions(tmp_path)
    files = build_site(folder, tmp_path / "out")
    labels, rows = table_of(files["index.html"], "table-overview")
    assert labels == ["#", "Model", "Provenance", "Training", "Task 1: Mean R@1", "Task 2: mAP", "Task 3: Text F1", "Measured"]

    def headlines(result):
        metrics = {task: body["metrics"] for task, body in result["tasks"].items()}
        paired = metrics.get("paired", {})
        t2i, i2t = paired.get("t2i", {}).get("r1"), paired.get("i2t", {}).get("r1")
        return [None if t2i is None or i2t is None else (t2i + i2t) / 2, metrics.get("landform", {}).get("map"),
                metrics.get("geolocalization", {}).get("text", {}).get("f1")]

    def under_the_papers_protocol(result):  # task 1 absent, or measured as the paper measures it
        paired = result["tasks"].get("paired")
        return headlines(result)[0] is None or paired.get("image_preparation") == PUBLISHED

    results = {r["model"]["name"]: headlines(r) for r in results_in(folder)}
    comparable = {r["model"]["name"]: headlines(r) for r in results_in(folder) if under_the_papers_protocol(r)}
    ranks = {name: [] for name in comparable}
    for task in range(3):
        values = sorted((v[task] for v in comparable.values() if v[task] is not None), reverse=True)
        for name, v in comparable.items():
            ranks[name].append(None if v[task] is None else 1 + values.index(v[task]))
    means = {name: sum(r) / 3 for name, r in ranks.items() if None not in r}
    expected = {name: str(1 + sorted(means.values()).index(mean)) for name, mean in means.items()}
    shown = {name: row[0][0] for name, row in rows.items()}
    assert {name: rank for name, rank in shown.items() if rank != "\u2013"} == expected
    assert len(expected) >= 2 and len(shown) - len(expected) >= 3  # some results lack a task
    complete_apart = [name for name, v in results.items() if None not in v and name not in comparable]
    assert complete_apart  # a result with every number, task 1 under MTEB's protocol: unranked, and why
    assert all(rows[name][0][1]["title"] == "not ranked: a task measured under another protocol than the paper's"
               for name in complete_apart)
    for name, row in rows.items():
        assert row[labels.index("Measured")][0] == f"{sum(v is not None for v in results[name])} of 3"
    order = list(rows)
    assert all(order.index(a) < order.index(b) for a in expected for b in set(shown) - set(expected))


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


def test_chart_marks_contrast_and_no_two_curves_of_a_chart_look_alike(tmp_path):
    import re

    files = build_site(make_submissions(tmp_path), tmp_path / "out", include=[MINI])
    pages = [data.decode() for name, data in files.items() if name.endswith(".html")]
    fills = {colour for page in pages for colour in re.findall(r'<(?:rect|circle|polyline|line)[^>]*?'
                                                               r'(?:fill|stroke)="(#[0-9a-f]{6})"', page)}
    assert fills and {colour: contrast_on_white(colour) for colour in fills if contrast_on_white(colour) < 3} == {}
    charts = re.findall(r"<svg .*?</svg>", files["index.html"].decode())
    curves = 0
    for chart in charts:
        styles = re.findall(r'<polyline[^>]*stroke="([^"]+)"(?: stroke-width="2")?(?: stroke-dasharray="([^"]+)")?',
                            chart)
        assert len(styles) == len(set(styles)), chart[:200]
        curves = max(curves, len(styles))
    assert curves >= 3
    from mars_zoo.leaderboard.svg import style

    assert len({style(index) for index in range(24)}) == 24  # past six colours the dashes tell them apart
