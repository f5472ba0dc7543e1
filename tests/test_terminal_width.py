"""The CLI's tables and error paragraphs at 80 and 40 columns: no line wider than the
terminal, no value broken across lines, and `mars-zoo list` one model a line.

The consoles are set to a width and told they write to a terminal (no colour), so the
output is what a user at that width sees, whatever runs the tests.
"""

import re

import pytest
from rich.cells import cell_len

from mars_zoo.cli import main
from mars_zoo.cli.run import print_summary
from mars_zoo.models.registry import load_registry
from mars_zoo.core.reporting import console, console_err

WIDTHS = (80, 40)


@pytest.fixture
def terminal(monkeypatch):
    """`terminal(width)`: both consoles write to a colourless terminal of `width` columns."""
    def set_width(width: int) -> None:
        for each in (console, console_err):
            monkeypatch.setattr(each, "_width", width)
            monkeypatch.setattr(each, "_force_terminal", True)
            monkeypatch.setattr(each, "_color_system", None)
    return set_width


def assert_fits(text: str, width: int) -> list[str]:
    lines = text.splitlines()
    wide = [line for line in lines if cell_len(line.rstrip()) > width]
    assert not wide, f"lines wider than {width} columns: {wide}"
    return lines


def assert_tokens(values, text: str) -> None:
    """Each value is a whole token of some line (a value cut across lines is not)."""
    tokens = {token for line in text.splitlines() for token in line.split()}
    broken = [value for value in values if value not in tokens]
    assert not broken, f"broken or missing: {broken}"


@pytest.mark.parametrize("width", WIDTHS)
def test_list_prints_one_model_a_line_within_the_width(capsys, terminal, width):
    terminal(width)
    assert main(["list"]) == 0
    lines = assert_fits(capsys.readouterr().out, width)
    names = [spec.name for spec in load_registry()]
    for name in names:
        holding = [line for line in lines if name in line.split()]
        assert len(holding) == 1, (name, holding)
        assert line_models(holding[0], names) == [name]
    assert f"not shown at {width} columns" in "\n".join(lines)


def line_models(line: str, names) -> list[str]:
    return [token for token in line.split() if token in names]


def test_list_drops_the_least_needed_columns_first(capsys, terminal):
    """At 80 columns the name, modalities, dimension, parameters and status fit; the family
    (the name's prefix), revision, licence and checkpoint are named as left out."""
    terminal(80)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.split()[:1] == ["model"])
    assert header.split() == ["model", "modalities", "dim", "params", "status"]
    assert "not shown at 80 columns: family, revision, licence, checkpoint" in " ".join(out.split())


def test_list_wide_shows_every_column(capsys, terminal):
    terminal(200)
    assert main(["list", "--wide"]) == 0
    out = capsys.readouterr().out
    for header in ("family", "checkpoint", "licence", "revision", "status"):
        assert header in out
    assert "not shown" not in out


def test_models_of_a_family_are_grouped_by_a_blank_line(capsys, terminal):
    terminal(80)
    assert main(["list"]) == 0
    registry = load_registry()
    names = [spec.name for spec in registry]
    out = capsys.readouterr().out
    assert f"{len(registry)} registered models in {len({spec.family for spec in registry})} families" in out
    groups: list[list[str]] = []
    for line in out.splitlines():
        models = line_models(line, names)
        if models and groups:
            groups[-1].append(models[0].split("/")[0])
        elif not line.strip() and groups and groups[-1]:
            groups.append([])
        elif models:
            groups.append([models[0].split("/")[0]])
    assert [group[0] for group in groups] == sorted({spec.family for spec in registry})
    assert all(len(set(group)) == 1 for group in groups)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", [["plugins"], ["data", "info"]])
def test_listings_fit(capsys, terminal, width, command):
    terminal(width)
    assert main(command) == 0
    assert_fits(capsys.readouterr().out, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_check_table_fits(capsys, terminal, width):
    terminal(width)
    assert main(["check", "openclip/tiny-random"]) == 0
    out = capsys.readouterr().out
    assert_fits(out, width)
    assert "checks passed" in out


def percent(value: float) -> str:
    return f"{100 * value:.2f}"


@pytest.mark.parametrize("width", WIDTHS)
def test_run_summary_keeps_every_headline_number_whole(capsys, terminal, width, mini_run):
    terminal(width)
    print_summary(mini_run)
    out = capsys.readouterr().out
    assert_fits(out, width)
    tasks = mini_run["tasks"]
    headline = [percent(tasks["paired"]["metrics"][d]["r1"]) for d in ("t2i", "i2t")]
    headline.append(percent(tasks["landform"]["metrics"]["map"]))
    headline += [percent(row["f1"]) for row in tasks["geolocalization"]["per_landform"]]
    headline += [row["landform"] for row in tasks["geolocalization"]["per_landform"]]
    assert_tokens(headline, out)


@pytest.mark.parametrize("width", WIDTHS)
def test_search_hits_fit(capsys, terminal, width, tmp_path, mini_dir):
    terminal(width)
    assert main(["search", "openclip/tiny-random", "craters", "--benchmark", "mini",
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert_fits(out, width)
    tiles = re.findall(r"\b\d+\s+(\S+_\S+)", out)  # rank, then the tile's name
    assert tiles, out


@pytest.mark.parametrize("width", WIDTHS)
def test_an_error_is_one_paragraph_wrapped_at_spaces(capsys, terminal, width):
    terminal(width)
    assert main(["run", "openclip/no-such-model", "--benchmark", "mini"]) != 0
    err = capsys.readouterr().err
    lines = assert_fits(err, width)
    assert len(lines) > 1  # a message longer than the terminal wraps...
    assert any("'openclip/no-such-model'" in line for line in lines)  # ...between words


def test_an_error_written_to_a_file_is_one_line(capsys):
    assert main(["run", "openclip/no-such-model", "--benchmark", "mini"]) != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "openclip/no-such-model" in err
