"""Models without a pinned commit are resolved at first use and the commit is recorded; a
pinned commit is verified on the Hub (a local fake of its API here) before the model loads."""

import dataclasses
import json
import textwrap

import pytest

import mars_zoo
from local_servers import fake_hub, local_server, online_against
from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.model import ModelSpec
from mars_zoo.models.model_revisions import MODEL_REVISIONS_FILE, resolve_model_revision, verify_model_revision

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

    from mars_zoo.models.registry import load_registry
    from mars_zoo.core.reporting import Reporter
    from mars_zoo.pipeline.runner import RunConfig, run

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


PINNED = dataclasses.replace(SPEC, revision=COMMIT_A)
MADE_UP = "0" * 40


def _asked(commit, repo="acme/m-weights"):
    return f"/api/models/{repo}/revision/{commit}"


def test_a_commit_the_hub_has_is_verified(monkeypatch):
    with fake_hub({"acme/m-weights": {COMMIT_A}}) as hub:
        online_against(monkeypatch, hub)
        assert verify_model_revision(PINNED).revision_verified is True
    assert hub.model_info_requests() == [_asked(COMMIT_A)]


@pytest.mark.parametrize("recorded", [False, True])
def test_a_made_up_revision_is_refused_with_the_fix_for_where_it_came_from(monkeypatch, tmp_path, recorded):
    record = tmp_path / MODEL_REVISIONS_FILE
    with fake_hub({"acme/m-weights": {COMMIT_A}}) as hub:
        online_against(monkeypatch, hub)
        with pytest.raises(MarsZooError) as error:
            verify_model_revision(dataclasses.replace(PINNED, revision=MADE_UP), record if recorded else None)
    assert hub.model_info_requests() == [_asked(MADE_UP)]
    assert error.value.exit_code == 2
    message = " ".join(str(error.value).split())
    assert f"Model acme/m (plugin acme) is pinned to revision {MADE_UP} of acme/m-weights" in message
    assert "the Hub has no such commit of that repository (RevisionNotFoundError)" in message
    if recorded:
        assert f"Fix: remove the entry 'acme/m-weights' from {record}" in message
    else:
        assert "Fix: plugin acme must pin a commit that exists" in message and "RESOLVE_AT_FIRST_USE" in message


def test_a_repository_the_hub_does_not_have_is_refused(monkeypatch):
    with fake_hub({"acme/other": {COMMIT_A}}) as hub:
        online_against(monkeypatch, hub)
        with pytest.raises(MarsZooError) as error:
            verify_model_revision(PINNED)
    message = " ".join(str(error.value).split())
    assert "the Hub has no model repository acme/m-weights (RepositoryNotFoundError)" in message
    assert "set HF_TOKEN if the repository is private, or correct the checkpoint" in message


def test_offline_the_revision_is_unverified_and_the_hub_is_not_asked(monkeypatch):
    with fake_hub({"acme/m-weights": {COMMIT_A}}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)  # HF_HUB_OFFLINE=1 stays set, as in every other test
        assert verify_model_revision(PINNED).revision_verified is False
    assert hub.model_info_requests() == []


def test_an_unreachable_hub_leaves_the_revision_unverified(monkeypatch):
    with local_server() as gone:
        pass  # its port is closed now: connections are refused
    online_against(monkeypatch, gone)
    assert verify_model_revision(PINNED).revision_verified is False


@pytest.mark.parametrize("online", [False, True])
def test_a_commit_in_the_hugging_face_cache_is_verified_without_asking(monkeypatch, tmp_path, online):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    (tmp_path / "hf" / "models--acme--m-weights" / "snapshots" / COMMIT_A).mkdir(parents=True)
    with fake_hub({}) as hub:  # a Hub that would refuse it
        if online:
            online_against(monkeypatch, hub)
        assert verify_model_revision(PINNED).revision_verified is True
    assert hub.model_info_requests() == []


def test_random_weights_and_weights_at_a_url_name_no_commit_to_verify(monkeypatch):
    by_url = dataclasses.replace(PINNED, revision=None, url_weights=mars_zoo.UrlWeights("https://x.org/w.pt", "e" * 64))
    with fake_hub({}) as hub:
        online_against(monkeypatch, hub)
        for spec in (dataclasses.replace(PINNED, random_weights=True), by_url):
            assert verify_model_revision(spec).revision_verified is None
    assert hub.model_info_requests() == []


PINNED_PLUGIN = """
    import mars_zoo
    from fake_models import FAKE_METADATA, FakeEncoder

    @mars_zoo.hookimpl
    def register_models(register):
        register(mars_zoo.ModelSpec(name="acme/pinned", family="acme", checkpoint="acme/m-weights",
                                    loader=lambda spec, device, precision: FakeEncoder("good"),
                                    revision="{revision}", **{{**FAKE_METADATA, "random_weights": False}}))
"""


def test_a_run_offline_records_the_revision_unverified_and_the_leaderboard_says_so(tmp_path, capsys):
    from mars_zoo.cli import main
    from mars_zoo.leaderboard.build import build_site
    from mars_zoo.results.validation import validate_file

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "acme_pinned.py").write_text(textwrap.dedent(PINNED_PLUGIN.format(revision=COMMIT_A)))
    out = tmp_path / "r.json"
    assert main(["run", "acme/pinned", "--benchmark", "mini", "--tasks", "landform", "--no-cache",
                 "--out", str(out), "--plugins-dir", str(plugins)]) == 0
    assert f"Revision {COMMIT_A} of acme/m-weights is not verified" in " ".join(capsys.readouterr().err.split())
    assert validate_file(out) == []
    model = json.loads(out.read_text())["model"]
    assert model["revision"] == COMMIT_A and model["revision_verified"] is False
    (tmp_path / "submissions").mkdir()
    files = build_site(tmp_path / "submissions", tmp_path / "site", include=[out])
    page = files["models/acme--pinned.html"].decode()
    assert "revision not verified" in page
    verified = json.loads(out.read_text())
    verified["model"]["revision_verified"] = True
    (tmp_path / "verified.json").write_text(json.dumps(verified))
    files = build_site(tmp_path / "submissions", tmp_path / "site", include=[tmp_path / "verified.json"])
    assert "revision not verified" not in files["models/acme--pinned.html"].decode()


def test_the_hub_endpoint_is_the_one_the_environment_names_when_asked(monkeypatch):
    """huggingface_hub reads HF_ENDPOINT once, at import; mars-zoo's Hub calls read it when made."""
    from huggingface_hub import constants

    from mars_zoo.data.hub import hub_api

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    assert hub_api().endpoint == "http://127.0.0.1:9"
    monkeypatch.delenv("HF_ENDPOINT")
    assert hub_api().endpoint == constants.ENDPOINT


# What may stand in model-revisions.json besides a commit: each would reach the loader (or
# a folder) as the revision, or end in a crash.
NOT_A_COMMIT = {
    "branch": "main",
    "path": "../x",
    "short-hex": "abc1234",
    "upper-case-hex": "A" * 40,
    "list": [COMMIT_A],
    "number": 7,
    "null": None,
}


@pytest.mark.parametrize("value", NOT_A_COMMIT.values(), ids=NOT_A_COMMIT)
def test_a_recorded_entry_that_is_not_a_commit_is_refused_naming_the_file_model_and_fix(tmp_path, hub, value):
    record = tmp_path / MODEL_REVISIONS_FILE
    record.write_text(json.dumps({"acme/m-weights": value, "other/repo": COMMIT_B}))
    before = record.read_bytes()
    with pytest.raises(MarsZooError) as error:
        resolve_model_revision(SPEC, tmp_path)
    message = " ".join(str(error.value).split())
    assert (f"Model acme/m (plugin acme): {record} records {json.dumps(value)} as the commit of repository "
            f"acme/m-weights") in message
    assert 'delete the entry "acme/m-weights" (or the whole file)' in message and "40-hex commit" in message
    assert record.read_bytes() == before and hub["asked"] == []  # nothing resolved, nothing rewritten


def test_an_entry_of_another_repository_does_not_stop_this_one(tmp_path, hub):
    record = tmp_path / MODEL_REVISIONS_FILE
    record.write_text(json.dumps({"acme/m-weights": COMMIT_B, "other/repo": "main"}))
    assert resolve_model_revision(SPEC, tmp_path).revision == COMMIT_B


@pytest.mark.parametrize("content, holds", [("[]", "a JSON list"), ("42", "a JSON int"), ("{", "is not valid JSON"),
                                            (b"\xff\xfe", "is not valid JSON")])
def test_a_record_file_that_is_not_an_object_is_refused(tmp_path, hub, content, holds):
    record = tmp_path / MODEL_REVISIONS_FILE
    record.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(MarsZooError) as error:
        resolve_model_revision(SPEC, tmp_path)
    message = " ".join(str(error.value).split())
    assert str(record) in message and holds in message and "Fix: delete it" in message


def test_a_folder_in_place_of_the_record_is_refused(tmp_path, hub):
    (tmp_path / MODEL_REVISIONS_FILE).mkdir()
    with pytest.raises(MarsZooError, match=r"model-revisions\.json is a folder.*Fix: move the folder away"):
        resolve_model_revision(SPEC, tmp_path)
