"""Models without a pinned commit are resolved at first use and the commit is recorded."""

import dataclasses
import json

import pytest

import mars_zoo
from mars_zoo.errors import MarsZooError
from mars_zoo.model import ModelSpec
from mars_zoo.model_revisions import MODEL_REVISIONS_FILE, resolve_model_revision

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40
SPEC = ModelSpec(name="acme/m", family="acme", checkpoint="acme/m-weights", loader=lambda *a: None,
                 revision=mars_zoo.RESOLVE_AT_FIRST_USE, plugin="acme")


@pytest.fixture
def hub(monkeypatch):
    """The Hub's answer for the main branch, switchable; online mode."""
    from huggingface_hub import HfApi, constants

    state = {"sha": COMMIT_A, "asked": []}

    def model_info(self, repo_id, revision=None, **kwargs):
        state["asked"].append((repo_id, revision))
        return type("Info", (), {"sha": state["sha"]})()

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(HfApi, "model_info", model_info)
    return state


def test_a_pinned_revision_is_kept(tmp_path):
    spec = dataclasses.replace(SPEC, revision=COMMIT_B)
    assert resolve_model_revision(spec, tmp_path) is spec
    assert not (tmp_path / MODEL_REVISIONS_FILE).exists()


def test_first_use_records_the_main_commit_and_later_runs_keep_it(tmp_path, hub):
    assert resolve_model_revision(SPEC, tmp_path).revision == COMMIT_A
    assert hub["asked"] == [("acme/m-weights", "main")]
    assert json.loads((tmp_path / MODEL_REVISIONS_FILE).read_text()) == {"acme/m-weights": COMMIT_A}
    hub["sha"] = COMMIT_B  # main moves on upstream
    assert resolve_model_revision(SPEC, tmp_path).revision == COMMIT_A
    assert len(hub["asked"]) == 1  # the record answered; the Hub was not asked again


def test_hub_repo_is_what_gets_resolved(tmp_path, hub):
    spec = dataclasses.replace(SPEC, checkpoint="ViT-X@tag", hub_repo="acme/x-weights")
    assert resolve_model_revision(spec, tmp_path).revision == COMMIT_A
    assert hub["asked"] == [("acme/x-weights", "main")]


def test_offline_reads_the_main_ref_of_the_hugging_face_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    refs = tmp_path / "hf" / "models--acme--m-weights" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text(COMMIT_B)
    assert resolve_model_revision(SPEC, tmp_path / "cache").revision == COMMIT_B


def test_offline_without_a_cached_copy_names_the_model_and_the_fix(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(MarsZooError) as error:
        resolve_model_revision(SPEC, tmp_path / "cache")
    message = " ".join(str(error.value).split())
    assert "Model acme/m (plugin acme) has no pinned revision" in message
    assert "acme/m-weights" in message and "HF_HUB_OFFLINE=1 is set" in message
    assert "run it once where the Hub is reachable" in message
    assert not (tmp_path / "cache" / MODEL_REVISIONS_FILE).exists()  # nothing recorded


def test_a_run_hands_the_loader_the_recorded_commit_and_the_result_names_it(tmp_path, hub):
    import textwrap

    from mars_zoo.registry import load_registry
    from mars_zoo.reporting import Reporter
    from mars_zoo.runner import RunConfig, run

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "acme_unpinned.py").write_text(textwrap.dedent("""
        import mars_zoo
        from fake_models import FAKE_METADATA, FakeEncoder

        SEEN = []

        def _load(spec, device, precision):
            SEEN.append(spec.revision)
            return FakeEncoder("good")

        @mars_zoo.hookimpl
        def register_models(register):
            register(mars_zoo.ModelSpec(name="acme/unpinned", family="acme", checkpoint="acme/m-weights",
                                        loader=_load, revision=mars_zoo.RESOLVE_AT_FIRST_USE,
                                        **{**FAKE_METADATA, "random_weights": False}))
    """))
    registry = load_registry(plugins)
    config = RunConfig(model="acme/unpinned", out=tmp_path / "r.json", benchmark="mini", tasks=("landform",),
                       cache_dir=tmp_path / "cache")
    result, _ = run(config, registry, Reporter())
    module = registry.pm.get_plugin("acme_unpinned")
    assert module.SEEN == [COMMIT_A]
    assert result["model"]["revision"] == COMMIT_A and result["model"]["hub_repo"] == "acme/m-weights"
    assert json.loads((tmp_path / "cache" / MODEL_REVISIONS_FILE).read_text()) == {"acme/m-weights": COMMIT_A}
