"""A ModelSpec is checked when it is registered: every fact a result file needs, with one
error naming the plugin, the model, each bad field and its fix."""

import dataclasses
import re
import textwrap

import pytest

import mars_zoo
from mars_zoo.cli import main
from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.model import ModelSpec
from mars_zoo.models.registry import load_registry
from mars_zoo.models.spec_checks import check_spec, spec_problems

GOOD = ModelSpec(
    name="acme/vit-b", family="acme", checkpoint="acme/vit-b-mars",
    revision="0123456789abcdef0123456789abcdef01234567", loader=lambda *a: None,
    embedding_dim=512, parameters=150_000_000, license="apache-2.0",
    paper_url="https://example.org/paper", code_url="https://example.org/code",
)

# field -> (a bad value, a word the fix must contain)
BAD = {
    "parameters": (0, "parameter count"),
    "embedding_dim": (-3, "dimension"),
    "revision": ("main", "40-hex"),
    "license": (None, "licence"),
    "paper_url": ("ftp://example.org/x", "http(s)://"),
    "code_url": ("not a link", "http(s)://"),
    "precision": ("fp8", "'bf16'"),
    "modalities": (("image", "audio"), "('image', 'text')"),
    "batch_size": (0, "at least 1"),
    "image_size": (0, "pixels"),
    "hub_repo": ("not-a-repo", "org/name"),
}


def test_a_sound_spec_passes():
    assert spec_problems(GOOD) == []
    assert spec_problems(dataclasses.replace(GOOD, revision=mars_zoo.RESOLVE_AT_FIRST_USE)) == []
    # random weights: nothing to pin
    assert spec_problems(dataclasses.replace(GOOD, checkpoint="tiny@seed0", revision=None, random_weights=True)) == []


@pytest.mark.parametrize("field", sorted(BAD))
def test_each_bad_field_is_named_with_its_fix(field):
    value, fix = BAD[field]
    spec = dataclasses.replace(GOOD, **{field: value})
    with pytest.raises(MarsZooError) as error:
        check_spec(spec, "acme_plugin")
    message = str(error.value)
    assert "Plugin 'acme_plugin'" in message and "'acme/vit-b'" in message
    assert f"{field}" in message and fix in message, message
    assert [problem.field.split("[")[0] for problem in spec_problems(spec)] == [field]


@pytest.mark.parametrize("field, value", [
    ("name", "acme/../../x"), ("name", "acme/.."), ("name", "acme/a\\b"), ("hub_repo", "../../x"),
    ("hub_repo", "org/name/x"), ("revision", "../../x"), ("revision", "main"),
])
def test_names_that_would_leave_their_folder_are_refused_even_for_random_weights(field, value):
    """Names end up in file and folder names; a random-weights model pins nothing, but its name,
    repository and revision (if any) must still be plain."""
    tiny = dataclasses.replace(GOOD, checkpoint="tiny@seed0", revision=None, random_weights=True)
    assert [problem.field for problem in spec_problems(dataclasses.replace(tiny, **{field: value}))] == [field]


@pytest.mark.parametrize("declared, field, fix", [
    (mars_zoo.DeclaredTraining("Mars pairs\nand more", "https://example.org/paper"), "declared_training.data",
     "one line"),
    (mars_zoo.DeclaredTraining("Mars pairs", "javascript:alert(1)"), "declared_training.source", "http(s)://"),
    ("fine-tuned on Mars pairs", "declared_training", "DeclaredTraining(data, source)"),
])
def test_declared_training_is_checked_as_results_record_it(declared, field, fix):
    assert spec_problems(dataclasses.replace(GOOD, declared_training=mars_zoo.DeclaredTraining(
        "Mars image-text pairs", "https://example.org/paper"))) == []
    spec = dataclasses.replace(GOOD, declared_training=declared)
    assert [problem.field for problem in spec_problems(spec)] == [field]
    with pytest.raises(MarsZooError, match=r"declared_training.*fix: .*" + re.escape(fix)):
        check_spec(spec, "acme_plugin")


def test_name_must_carry_the_declared_family():
    problems = spec_problems(dataclasses.replace(GOOD, name="other/vit-b"))
    assert [problem.field for problem in problems] == ["name"]
    assert spec_problems(dataclasses.replace(GOOD, name="acme-vit-b"))  # no family/ prefix at all


def test_a_checkpoint_that_is_no_hub_id_needs_hub_repo():
    spec = dataclasses.replace(GOOD, checkpoint="ViT-B-16@laion")
    assert [problem.field for problem in spec_problems(spec)] == ["hub_repo"]
    assert spec_problems(dataclasses.replace(spec, hub_repo="laion/CLIP-ViT-B-16")) == []


def test_every_builtin_model_is_sound():
    registry = load_registry()
    assert len(registry) >= 6
    for spec in registry:
        assert spec_problems(spec) == [], spec.name


def test_a_plugin_registering_zero_parameters_fails_at_listing_not_after_embedding(tmp_path, capsys):
    """Without the check such a model registers, embeds everything and only fails when
    its result file is validated."""
    (tmp_path / "acme_zero.py").write_text(textwrap.dedent("""
        import mars_zoo

        @mars_zoo.hookimpl
        def register_models(register):
            register(mars_zoo.ModelSpec(
                name="acme/zero", family="acme", checkpoint="acme/zero",
                revision="0123456789abcdef0123456789abcdef01234567", loader=lambda *a: None,
                embedding_dim=8, parameters=0, license="mit"))
    """))
    for command in (["list", "--json"], ["run", "acme/zero", "--benchmark", "mini"]):
        assert main([*command, "--plugins-dir", str(tmp_path)]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "Plugin 'acme_zero' registered model 'acme/zero'" in err
        assert "parameters must be >= 1, got 0" in err and "declare the model's parameter count" in err
        assert "Traceback" not in err


SHA256 = "9a3c1e0f" * 8
BY_URL = dataclasses.replace(GOOD, revision=None, url_weights=mars_zoo.UrlWeights(
    "https://github.com/acme/vit-b/releases/download/v1/vit-b.safetensors", SHA256))


@pytest.mark.parametrize("url", [BY_URL.url_weights.url, "http://example.org/w.pt", "file:///srv/weights/w.pt"])
def test_weights_declared_by_url_and_sha256_need_no_hub_revision(url):
    spec = dataclasses.replace(BY_URL, url_weights=mars_zoo.UrlWeights(url, SHA256))
    assert spec_problems(spec) == []
    assert spec_problems(dataclasses.replace(spec, checkpoint="ViT-B-16@laion")) == []  # no hub_repo needed


# what is wrong with a url_weights declaration -> (the field named, a word its fix must contain)
BAD_URL_WEIGHTS = {
    "ftp scheme": (dict(url_weights=mars_zoo.UrlWeights("ftp://example.org/w.pt", SHA256)),
                   "url_weights.url", "https://, http:// or file://"),
    "no scheme": (dict(url_weights=mars_zoo.UrlWeights("example.org/w.pt", SHA256)), "url_weights.url", "URL"),
    "short sha256": (dict(url_weights=mars_zoo.UrlWeights(BY_URL.url_weights.url, SHA256[:40])),
                     "url_weights.sha256", "64 lowercase hex"),
    "upper-case sha256": (dict(url_weights=mars_zoo.UrlWeights(BY_URL.url_weights.url, SHA256.upper())),
                          "url_weights.sha256", "sha256sum"),
    "and a revision": (dict(revision="0123456789abcdef0123456789abcdef01234567"), "url_weights", "not both"),
    "and a hub_repo": (dict(hub_repo="acme/vit-b"), "url_weights", "not both"),
    "and random weights": (dict(random_weights=True), "url_weights", "not both"),
    "as a tuple": (dict(url_weights=("https://example.org/w.pt", SHA256)), "url_weights", "UrlWeights"),
}


@pytest.mark.parametrize("case", sorted(BAD_URL_WEIGHTS))
def test_a_bad_url_weights_declaration_is_named_with_its_fix(case):
    changes, field, fix = BAD_URL_WEIGHTS[case]
    spec = dataclasses.replace(BY_URL, **changes)
    assert [problem.field for problem in spec_problems(spec)] == [field]
    with pytest.raises(MarsZooError) as error:
        check_spec(spec, "acme_plugin")
    assert field in str(error.value) and fix in str(error.value), str(error.value)
