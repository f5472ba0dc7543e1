"""Fault corpus, named weights: weights declared by URL that do not arrive as declared, and Hub
revisions the Hub does not have (or cannot be asked about).

Every case runs the real CLI on a plugin in a --plugins-dir whose model names its weights by URL
and sha256 (served by a local HTTP server on 127.0.0.1) or by a Hub repository and commit (asked
of a local fake of the Hub's API). A fault is one error paragraph naming the model, what is wrong
and the fix, exit 2, no traceback, no result written and no weights file kept; where the Hub
cannot be asked, the run goes on and its result says the revision is unverified.
"""

from __future__ import annotations

import hashlib
import json
import textwrap

import pytest

from boundary_helpers import assert_clean_error, cli
from local_servers import Answer, fake_hub, local_server, online_against
from mars_zoo.core.folders import default_cache_dir
from mars_zoo.results.validation import validate_file

PREVIOUS = '{"a result": "written before"}\n'
BODY = b"weights of the fault corpus " * 40
SHA256 = hashlib.sha256(BODY).hexdigest()
OTHER = b"other bytes than declared"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
MADE_UP = "0" * 40
REPO = "acme/model-weights"

PLUGIN = """
    import mars_zoo
    from fake_models import FAKE_METADATA, FakeEncoder

    def load(spec, device, precision):
        if spec.url_weights:
            open(spec.weights_file, "rb").close()  # the harness hands over the checked file
        return FakeEncoder("good")

    @mars_zoo.hookimpl
    def register_models(register):
        register(mars_zoo.ModelSpec(name="acme/model", family="acme", checkpoint="{repo}", loader=load,
                                    {declaration}, **{{**FAKE_METADATA, "random_weights": False}}))
"""


def _plugin(tmp_path, declaration: str):
    directory = tmp_path / "plugins"
    directory.mkdir()
    (directory / "acme_weights.py").write_text(textwrap.dedent(PLUGIN.format(repo=REPO, declaration=declaration)))
    return directory


def _by_url(url: str, sha256: str = SHA256) -> str:
    return f"url_weights=mars_zoo.UrlWeights({url!r}, {sha256!r})"


def _run(capsys, tmp_path, directory):
    out = tmp_path / "result.json"
    out.write_text(PREVIOUS)
    outcome = cli(capsys, "run", "acme/model", "--benchmark", "mini", "--tasks", "landform", "--no-cache",
                  "--out", out, "--plugins-dir", directory)
    return outcome, out


# (case id, what the server answers on /w.pt (None: nothing), what the message must say)
DOWNLOAD_CASES = [
    ("wrong-sha256-served", Answer(OTHER),
     ["acme/model (plugin acme_weights) downloaded from {url} are not the declared file",
      f"their sha256 is {hashlib.sha256(OTHER).hexdigest()}", f"the plugin declares {SHA256}",
      "The download was deleted, not loaded"]),
    ("server-404", None, ["cannot be downloaded from {url}: the server answered HTTP 404 Not Found",
                          f"put the file, with sha256 {SHA256}"]),
    ("truncated-download", Answer(BODY, cut_at=100),
     [f"cannot be downloaded from {{url}}: the download stopped after 100 of the {len(BODY)} bytes"]),
]


@pytest.mark.parametrize("answer, needles", [case[1:] for case in DOWNLOAD_CASES],
                         ids=[case[0] for case in DOWNLOAD_CASES])
def test_weights_that_do_not_arrive_as_declared_are_refused_and_not_kept(tmp_path, capsys, answer, needles):
    with local_server() as server:
        if answer is not None:
            server.routes["/w.pt"] = answer
        url = f"{server.url}/w.pt"
        outcome, out = _run(capsys, tmp_path, _plugin(tmp_path, _by_url(url)))
    assert server.requests == ["/w.pt"]
    assert_clean_error(outcome, 2, *(needle.format(url=url) for needle in needles))
    assert out.read_text() == PREVIOUS
    kept = default_cache_dir() / "weights" / SHA256
    assert not kept.exists() or list(kept.iterdir()) == []  # neither the file nor a temporary


def test_a_file_url_to_no_file_is_one_named_error(tmp_path, capsys):
    url = (tmp_path / "nowhere" / "w.pt").as_uri()
    outcome, out = _run(capsys, tmp_path, _plugin(tmp_path, _by_url(url)))
    assert_clean_error(outcome, 2, f"cannot be downloaded from {url}", "No such file or directory",
                       "check the network (or the path of a file:// URL)")
    assert out.read_text() == PREVIOUS


@pytest.mark.parametrize("declaration, needles", [
    (_by_url("ftp://example.org/w.pt"), ["url_weights.url must be an https://, http:// or file:// URL",
                                         "give the file's https://, http:// or file:// URL"]),
    (_by_url("https://example.org/w.pt", SHA256.upper()), ["url_weights.sha256 must be 64 lowercase hex digits"]),
    (_by_url("https://example.org/w.pt") + f", revision={COMMIT!r}",
     ["url_weights names the weights by their URL and sha256, so revision=", "not both"]),
], ids=["non-http-scheme", "upper-case-sha256", "url-and-revision"])
def test_a_bad_url_declaration_is_refused_at_registration(tmp_path, capsys, declaration, needles):
    outcome = cli(capsys, "list", "--json", "--plugins-dir", _plugin(tmp_path, declaration))
    assert_clean_error(outcome, 2, "Plugin 'acme_weights' registered model 'acme/model' with invalid metadata",
                       *needles)
    assert outcome.out == ""


@pytest.mark.parametrize("hub_commits, needles", [
    ({REPO: {COMMIT}}, [f"Model acme/model (plugin acme_weights) is pinned to revision {MADE_UP} of {REPO}",
                        "the Hub has no such commit of that repository (RevisionNotFoundError)",
                        "Fix: plugin acme_weights must pin a commit that exists"]),
    ({"acme/elsewhere": {MADE_UP}}, [f"the Hub has no model repository {REPO} (RepositoryNotFoundError)",
                                     "correct the checkpoint (or hub_repo) of plugin acme_weights"]),
], ids=["made-up-revision", "repository-not-found"])
def test_a_revision_the_hub_does_not_have_is_refused_before_loading(tmp_path, capsys, monkeypatch, hub_commits,
                                                                    needles):
    directory = _plugin(tmp_path, f"revision={MADE_UP!r}")
    with fake_hub(hub_commits) as hub:
        online_against(monkeypatch, hub)
        outcome, out = _run(capsys, tmp_path, directory)
    assert hub.model_info_requests() == [f"/api/models/{REPO}/revision/{MADE_UP}"]
    assert_clean_error(outcome, 2, *needles)
    assert out.read_text() == PREVIOUS


@pytest.mark.parametrize("online", [False, True], ids=["offline-unverified", "online-verified"])
def test_a_revision_is_recorded_verified_only_when_the_hub_confirmed_it(tmp_path, capsys, monkeypatch, online):
    directory = _plugin(tmp_path, f"revision={COMMIT!r}")
    with fake_hub({REPO: {COMMIT}}) as hub:
        if online:
            online_against(monkeypatch, hub)
        outcome, out = _run(capsys, tmp_path, directory)
    assert outcome.code == 0, outcome.err
    assert hub.model_info_requests() == ([f"/api/models/{REPO}/revision/{COMMIT}"] if online else [])
    assert validate_file(out) == []
    model = json.loads(out.read_text())["model"]
    assert model["revision"] == COMMIT and model["revision_verified"] is online
    assert ("is not verified" in " ".join(outcome.err.split())) is not online
