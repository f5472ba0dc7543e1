"""The leaderboard tells zero-shot weights from fine-tuned ones and from contaminated ones: a
marker per result in the overview, a filter, a badge beside the name of weights trained on Mars
data, the training record on the model's page and the marker in the CSV download."""

from __future__ import annotations

import copy
import csv
import io
import json
import re

import pytest

from fixtures.site_inputs import REPRODUCED
from mars_zoo.leaderboard.build import build_site
from test_leaderboard_build import table_of
from training_support import EXAMPLE, FINGERPRINT, contaminated_report, fine_tuned, training_record

BASE = json.loads(REPRODUCED.read_text("utf-8"))
TINY = "openclip/tiny-random"


def _published(name: str, training: dict | None, revision: str) -> dict:
    result = copy.deepcopy(BASE)
    result["model"].update(name=name, revision=revision)
    result.pop("training", None)
    if training is not None:
        result["training"] = training
    return result


def _unchecked() -> dict:
    record = training_record()
    record["contamination"] = None
    return record


# shown name -> (result, the marker the overview shows, the filter's value)
CASES = {
    TINY: (_published(TINY, {"kind": "zero-shot"}, "1" * 40), "zero-shot", "zero-shot"),
    "openclip/marscope-v1": (_published("openclip/marscope-v1", {
        "kind": "declared", "data": "Mars image-text pairs", "source": "https://arxiv.org/abs/2601.15949"}, "2" * 40),
        "fine-tuned (declared)", "fine-tuned (declared)"),
    "openclip/older-run": (_published("openclip/older-run", None, "3" * 40), "not stated", "not stated"),
    f"{TINY} (fine-tuned: clean)": (fine_tuned(BASE, training_record(), "clean", "a" * 64),
                                     "fine-tuned, clean", "fine-tuned, clean"),
    f"{TINY} (fine-tuned: dirty)": (fine_tuned(BASE, training_record(contamination=contaminated_report(),
                                                                      allowed_contaminated=True), "dirty", "b" * 64),
                                     "contaminated: 9", "contaminated"),  # 3 images + 2 captions + 4 images
    f"{TINY} (fine-tuned: unchecked)": (fine_tuned(BASE, _unchecked(), "unchecked", "c" * 64),
                                         "fine-tuned, unchecked", "fine-tuned, unchecked"),
    f"{TINY} (fine-tuned: unknown)": (fine_tuned(BASE, None, "unknown", "d" * 64),
                                       "fine-tuned, unrecorded", "fine-tuned, unrecorded"),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("training-site")
    folder = root / "submissions" / "openclip"
    folder.mkdir(parents=True)
    for index, (result, _, _) in enumerate(CASES.values()):
        (folder / f"result-{index}.json").write_text(json.dumps(result), "utf-8")
    return build_site(root / "submissions", root / "site")


def test_the_overview_marks_every_result_and_its_rows_carry_the_filter_value(files):
    labels, rows = table_of(files["index.html"], "table-overview")
    column = labels.index("Training")
    assert {name: row[column][0] for name, row in rows.items()} == {name: case[1] for name, case in CASES.items()}
    assert {name: row[column][1]["data-sort"] for name, row in rows.items()} == \
        {name: case[2] for name, case in CASES.items()}
    page = files["index.html"].decode("utf-8")  # the script filters every table's rows by this attribute
    for name, (_, _, value) in CASES.items():
        assert re.search(rf'data-training="{re.escape(value)}"[^>]*data-name="{re.escape(name.lower())}"', page), name


def test_the_filter_bar_offers_every_marker(files):
    page = files["index.html"].decode("utf-8")
    select = re.search(r'<select name="training">(.*?)</select>', page).group(1)
    assert re.findall(r'<option value="([^"]*)"', select) == ["", *sorted({case[2] for case in CASES.values()})]


def test_weights_trained_on_mars_data_carry_the_marker_beside_their_name(files):
    page = files["index.html"].decode("utf-8")
    _, rows = table_of(files["index.html"], "table-landform")
    marked = {name for name, row in rows.items() if "badge-training" in _model_cell(page, name)}
    assert marked == {name for name, case in CASES.items() if case[2] not in ("zero-shot", "not stated")}


def _model_cell(page: str, name: str) -> str:
    """The HTML of the landform table's model cell of `name`."""
    table = page[page.index('id="table-landform"'):]
    table = table[:table.index("</table>")]
    row = next(row for row in table.split("<tr ")[1:] if f'data-name="{name.lower()}"' in row)
    return row[row.index('class="model-cell"'):].split("</td>")[0]


def test_the_model_page_shows_the_training_record_and_the_contamination_counts(files):
    page = next(data.decode("utf-8") for path, data in files.items()
                if path.startswith("models/") and "fine-tuned: dirty" in data.decode("utf-8"))
    assert "<h3>Training</h3>" in page and FINGERPRINT in page
    table = page[page.index("Benchmark items found in the training data, per task"):]
    table = table[:table.index("</table>")]
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in table.split("<tr")[1:]]
    assert [cell for cell in cells if cell] == [["geolocalization", "0", "0"], ["landform", "4", "0"],
                                                ["paired", "3", "2"]]
    assert json.dumps(EXAMPLE, sort_keys=True).replace('"', "&quot;") in page
    assert "trained with --allow-contaminated" in page
    declared = next(data.decode("utf-8") for path, data in files.items() if path.startswith("models/openclip--marscope"))
    assert 'href="https://arxiv.org/abs/2601.15949"' in declared and "Mars image-text pairs" in declared


def test_the_csv_download_has_the_marker_and_the_items_found(files):
    rows = {row["model.name"] + (f" ({row['model.revision'][:1]})" if row["model.revision"] else ""): row
            for row in csv.DictReader(io.StringIO(files["data/results.csv"].decode()))}
    found = {row["model.revision"][:1]: (row["training"], row["training.found_items"]) for row in rows.values()}
    assert found == {"1": ("zero-shot", ""), "2": ("fine-tuned (declared)", ""), "3": ("not stated", ""),
                     "a": ("fine-tuned, clean", "0"), "b": ("contaminated", "9"),
                     "c": ("fine-tuned, unchecked", ""), "d": ("fine-tuned, unrecorded", "")}
