"""The protocol document (leaderboard/PROTOCOL.md): inside the repository, in agreement with
the code's constants, naming only files that exist, and rendered, escaped, as the site's
methodology page."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from mars_zoo.core import protocol
from mars_zoo.leaderboard.build import render_site
from mars_zoo.leaderboard.methodology import protocol_text, render_markdown

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "leaderboard" / "PROTOCOL.md"


def test_the_package_carries_the_repository_document():
    assert protocol_text() == DOCUMENT.read_text(encoding="utf-8")


def test_the_prompt_templates_are_the_code_s():
    listed = re.findall(r"^  \d\. `(.+)`$", DOCUMENT.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert tuple(listed) == protocol.PROMPT_TEMPLATES


def test_the_numbers_of_the_document_are_the_code_s():
    text = " ".join(DOCUMENT.read_text(encoding="utf-8").split())
    assert f"K_max = {protocol.GEO_K_MAX:,}" in text
    assert f"tolerance r = {protocol.GEO_RADIUS_DEG}°" in text
    assert (f"px = (lon + 180) / 360 · {protocol.GEO_MAP_WIDTH_PX} + {protocol.GEO_MAP_SHIFT_X_PX}, "
            f"py = (90 − lat) / 180 · {protocol.GEO_MAP_HEIGHT_PX} + {protocol.GEO_MAP_SHIFT_Y_PX}") in text
    assert f"(e_i · t) / {protocol.GEO_HYBRID_TEMPERATURE}" in text
    assert f"q = {protocol.GEO_HYBRID_IMAGE_WEIGHT} v + {protocol.GEO_HYBRID_TEXT_WEIGHT} t" in text
    assert f"shorter side is {protocol.PAIRED_IMAGE_SIZE} px" in text
    assert f"JPEG at quality {protocol.PAIRED_JPEG_QUALITY}" in text


def test_every_file_the_document_names_exists():
    named = set(re.findall(r"`((?:mars_zoo|tests|leaderboard|plugins)/[\w./-]+)`", DOCUMENT.read_text(encoding="utf-8")))
    assert len(named) > 10
    assert sorted(path for path in named if not (ROOT / path).exists()) == []


def test_nothing_refers_to_documents_outside_the_repository():
    """Every Markdown file named in the tracked code, tests and docs is one of the repository's."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    documents = {Path(path).name for path in tracked if path.endswith(".md")}
    outside = []
    for path in tracked:
        if not path.endswith((".py", ".md", ".toml", ".js", ".css", ".yml", ".txt")):
            continue
        text = (ROOT / path).read_text(encoding="utf-8", errors="replace")
        for name in re.findall(r"\b([A-Z][A-Z0-9_-]*\.md)\b", text):
            if name not in documents:
                outside.append(f"{path}: {name}")
        if re.search(r"\.\./shared\b", text):
            outside.append(f"{path}: a path outside the repository")
    assert outside == []


def test_the_methodology_page_links_every_heading_and_lists_them_in_its_contents():
    from mars_zoo.leaderboard.methodology import methodology_page

    page = methodology_page("0").decode("utf-8")
    headings = re.findall(r'<h([23]) id="([^"]+)">(.*?) <a href="#([^"]+)" class="anchor"', page)
    written = re.findall(r"^(#{2,3}) (.+)$", DOCUMENT.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert [(str(len(hashes)), text.replace("`", "")) for hashes, text in written] == \
        [(level, re.sub(r"<[^>]+>", "", text)) for level, _, text, _ in headings]
    assert all(own == target for _, own, _, target in headings) and len({own for _, own, _, _ in headings}) == \
        len(headings)
    contents = page[page.index('<nav class="toc"'):page.index("</nav>", page.index('<nav class="toc"'))]
    assert re.findall(r'href="#([^"]+)"', contents) == [own for _, own, _, _ in headings]
    assert page.index('<nav class="toc"') < page.index("<h2 ")


def test_the_site_has_a_methodology_page_linked_from_every_page(tmp_path):
    from fixtures.site_inputs import REPRODUCED
    from mars_zoo.leaderboard.entries import make_entries
    from mars_zoo.results.submissions import validate_paths

    entries = make_entries(validate_paths([REPRODUCED], known_models=None).results)
    files = render_site(entries, version="0")
    page = files["methodology.html"].decode("utf-8")
    assert re.search(r'<h1 id="the-marsretrieval-evaluation-protocol">The MarsRetrieval evaluation protocol ', page)
    assert '<h2 id="task-3-global-geo-localization">Task 3: global geo-localization <a href="#task-3-global-geo-' \
           'localization" class="anchor" aria-label="Link to the section Task 3: global geo-localization">#</a></h2>' \
        in page
    for template in protocol.PROMPT_TEMPLATES:
        assert f"<code>{template}</code>" in page
    assert 'href="assets/style.css"' in page and "Content-Security-Policy" in page
    assert 'href="methodology.html"' in files["index.html"].decode("utf-8")
    model_pages = [name for name in files if name.startswith("models/")]
    assert model_pages and all(b'href="../methodology.html"' in files[name] for name in model_pages)


def test_markup_in_the_document_is_shown_as_text():
    html = render_markdown('# A\n\n<script>alert(1)</script> <b onclick="x()">b</b>\n\n'
                           '[bad](javascript:alert(1)) [good](https://example.org/?a=1&b=2)')
    assert "<script" not in html and "<b " not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "javascript:" not in html.replace("[bad](javascript:alert(1))", "")
    assert ('<a href="https://example.org/?a=1&amp;b=2" rel="noopener noreferrer nofollow" '
            'class="external">good</a>') in html
