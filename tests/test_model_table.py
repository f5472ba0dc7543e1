"""`mars-zoo list`: every model by family with its install status; the README's model table
is the registry's."""

import json
from pathlib import Path

from mars_zoo.cli import main
from mars_zoo.models.model_revisions import MODEL_REVISIONS_FILE
from mars_zoo.models.model_table import END, START, readme_block
from mars_zoo.models.plugin_manager import ALLOW_LIST_ENV
from mars_zoo.models.registry import load_registry

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_model_table_is_the_registry_s():
    readme = README.read_text(encoding="utf-8")
    written = readme[readme.index(START): readme.index(END) + len(END)]
    expected = readme_block(load_registry())
    assert written == expected, (
        "README.md's model table differs from the registry: run `mars-zoo list --markdown` and "
        "replace the section between the markers with its output."
    )


def test_markdown_lists_each_builtin_model_once_with_its_facts(capsys, monkeypatch):
    monkeypatch.setenv(ALLOW_LIST_ENV, "")  # the built-ins only, whatever plugins are installed
    assert main(["list", "--markdown"]) == 0
    out = capsys.readouterr().out
    registry = load_registry()
    for spec in registry:
        if spec.random_weights:
            continue
        row = next(line for line in out.splitlines() if line.startswith(f"| `{spec.name}` |"))
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert cells[1:6] == [spec.family, " + ".join(spec.modalities), f"{spec.embedding_dim:,}",
                              f"{spec.parameters:,}", spec.license]
        assert spec.revision[:12] in cells[6] or "first use" in cells[6]


def test_list_json_has_every_field_and_the_recorded_revision(capsys):
    from mars_zoo.core.folders import default_cache_dir

    registry = load_registry()
    unpinned = next(spec for spec in registry if spec.revision == "resolve-at-first-use")
    record = default_cache_dir() / MODEL_REVISIONS_FILE
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({unpinned.repository: "c" * 40}))
    try:
        assert main(["list", "--json"]) == 0
        rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    finally:
        record.unlink()
    assert set(rows) == {spec.name for spec in registry}
    for row in rows.values():
        assert {"revision", "recipe_notes", "hub_repo", "available", "install_hint"} <= set(row)
    assert rows[unpinned.name]["recorded_revision"] == "c" * 40
    assert rows[unpinned.name]["revision"] == "resolve-at-first-use"
