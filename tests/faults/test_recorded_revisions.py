"""Fault corpus, recorded revisions: `<cache>/model-revisions.json` edited by hand or
damaged. Only a 40-hex commit is read from it; anything else (a branch name, a path, a
short commit, a list, a number, a folder in its place) is refused in one paragraph naming
the file, the model and its repository, and the fix, before the model is loaded or the
file rewritten.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from boundary_helpers import assert_clean_error, cli

MODEL, REPOSITORY = "acme/unpinned", "acme/unpinned-weights"
# A model of an unpinned repository whose loader records that it ran: it must not.
PLUGIN = textwrap.dedent(f"""
    import mars_zoo
    from fake_models import FAKE_METADATA

    def _load(spec, device, precision):
        raise AssertionError(f"loaded at revision {{spec.revision!r}}")

    @mars_zoo.hookimpl
    def register_models(register):
        register(mars_zoo.ModelSpec(name="{MODEL}", family="acme", checkpoint="{REPOSITORY}", loader=_load,
                                    revision=mars_zoo.RESOLVE_AT_FIRST_USE,
                                    **{{**FAKE_METADATA, "random_weights": False}}))
""")
SUBJECT = f"Model {MODEL} (plugin acme_unpinned):"
ENTRY_FIX = f'Fix: delete the entry "{REPOSITORY}" (or the whole file)'
FILE_FIX = "Fix: delete it; each unpinned repository is then resolved"

# case: (what model-revisions.json holds, what the message says besides the file's path)
CASES = {
    "entry-main": ({REPOSITORY: "main"}, [SUBJECT, f'records "main" as the commit of repository {REPOSITORY}',
                                          ENTRY_FIX]),
    "entry-path": ({REPOSITORY: "../x"}, [SUBJECT, f'records "../x" as the commit of repository {REPOSITORY}',
                                          ENTRY_FIX]),
    "entry-short-hex": ({REPOSITORY: "3f2a9c1"}, [SUBJECT, 'records "3f2a9c1"', "only a 40-hex commit", ENTRY_FIX]),
    "entry-list": ({REPOSITORY: ["a" * 40]}, [SUBJECT, f'records ["{"a" * 40}"] as the commit', ENTRY_FIX]),
    "entry-number": ({REPOSITORY: 20240601}, [SUBJECT, "records 20240601 as the commit", ENTRY_FIX]),
    "entry-null": ({REPOSITORY: None}, [SUBJECT, "records null as the commit", ENTRY_FIX]),
    "file-a-list": (["a" * 40], ["holds a JSON list where an object of repository: commit is expected", FILE_FIX]),
    "file-a-number": (7, ["holds a JSON int where an object", FILE_FIX]),
    "file-not-json": ("{", ["is not valid JSON", FILE_FIX]),
    "file-a-folder": (None, ["is a folder", "Fix: move the folder away"]),
}


@pytest.fixture
def unpinned_plugin(plugins_dir):
    (plugins_dir / "acme_unpinned.py").write_text(PLUGIN)
    return plugins_dir


def _write(record, content) -> None:
    if content is None:
        record.mkdir()
    else:
        record.write_text(content if isinstance(content, str) else json.dumps(content))


@pytest.mark.parametrize("content, words", CASES.values(), ids=CASES)
def test_run_refuses_a_recorded_revision_that_is_not_a_commit(capsys, tmp_path, unpinned_plugin, content, words):
    cache = tmp_path / "cache"
    cache.mkdir()
    record = cache / "model-revisions.json"
    _write(record, content)
    outcome = cli(capsys, "run", MODEL, "--plugins-dir", unpinned_plugin, "--benchmark", "mini", "--tasks", "landform",
                  "--cache-dir", cache, "--out", tmp_path / "result.json")
    assert_clean_error(outcome, 2, str(record), *words)
    assert not (tmp_path / "result.json").exists()
    if content is not None:
        assert record.read_text() == (content if isinstance(content, str) else json.dumps(content))  # not rewritten


def test_list_refuses_a_recorded_revision_that_is_not_a_commit(capsys, tmp_path, unpinned_plugin, monkeypatch):
    monkeypatch.setenv("MARS_ZOO_CACHE", str(tmp_path))
    _write(tmp_path / "model-revisions.json", {REPOSITORY: "main"})
    outcome = cli(capsys, "list", "--json", "--plugins-dir", unpinned_plugin)
    assert_clean_error(outcome, 2, f'{SUBJECT} {tmp_path / "model-revisions.json"} records "main"', ENTRY_FIX)
