"""The plugin system: discovery order, entry points, plugin directories, the
allow-list, shadowing, misspelled hooks, and what listing imports."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.plugin_manager import PluginInfo, build_plugin_manager
from mars_zoo.models.registry import Registry

TESTS = Path(__file__).parent
HEAVY_MODULES = ("torch", "open_clip", "transformers", "sentence_transformers", "datasets")


def mars_zoo_cli(*args, env_extra=None, pythonpath=None):
    import os

    env = dict(os.environ, **(env_extra or {}))
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "mars_zoo", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture
def fake_registry():
    """A registry with the throwaway fake plugin registered in-process, the way a
    plugin author tests a plugin without installing it."""
    import fake_models

    pm = build_plugin_manager()
    pm.add(fake_models, PluginInfo("fake", "test", "tests", "0"))
    return Registry(pm)


def make_distribution(root: Path, name: str, module_source: str, version: str = "1.2.3") -> Path:
    """A minimal installed distribution (module + dist-info with an entry point)
    in `root`, found by importlib.metadata once `root` is on the path."""
    module = name.replace("-", "_")
    (root / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[mars_zoo]\n{name.split('-')[0]} = {module}\n")
    return root


ACME = """
    import mars_zoo

    def _load(spec, device, precision):
        raise NotImplementedError

    @mars_zoo.hookimpl
    def register_models(register):
        register(mars_zoo.ModelSpec(name="acme/tiny", family="acme", checkpoint="acme/tiny",
                                    revision="0123456789abcdef0123456789abcdef01234567", loader=_load,
                                    embedding_dim=8, parameters=100, license="mit"))
"""


def test_builtins_register_the_paper_models_and_the_random_baseline(fake_registry):
    names = {spec.name for spec in fake_registry if spec.family == "openclip"}
    assert names == {
        "openclip/dfn2b-clip-vit-l-14",
        "openclip/vit-l-16-siglip-384",
        "openclip/vit-l-16-siglip2-512",
        "openclip/pe-core-l-14-336",
        "openclip/marscope-v1",
        "openclip/tiny-random",
    }
    assert fake_registry.get("openclip/tiny-random").random_weights
    assert fake_registry.get("fake/good").plugin == "fake"
    assert [info.origin for info in fake_registry.pm.loaded][0] == "builtin"


def test_listing_imports_no_model_library():
    code = (
        "import json, sys; from mars_zoo.cli import main; main(['list', '--json']); "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY_MODULES!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
    models = json.loads(out[: out.rindex("]", 0, out.rstrip().rindex("\n")) + 1])
    assert any(m["name"] == "openclip/tiny-random" and m["available"] for m in models)


def test_entry_point_plugin_is_discovered(tmp_path):
    site = make_distribution(tmp_path, "acme-mars-plugin", ACME)
    plugins = mars_zoo_cli("plugins", "--json", pythonpath=site)
    assert plugins.returncode == 0, plugins.stderr
    rows = {row["name"]: row for row in json.loads(plugins.stdout)}
    assert rows["acme"]["origin"] == "entry-point"
    assert (rows["acme"]["package"], rows["acme"]["version"]) == ("acme-mars-plugin", "1.2.3")
    assert rows["acme"]["hooks"] == ["register_models"]
    listed = mars_zoo_cli("list", "--json", pythonpath=site)
    assert "acme/tiny" in {row["name"] for row in json.loads(listed.stdout)}


def test_allow_list_limits_entry_points(tmp_path):
    site = make_distribution(tmp_path, "acme-mars-plugin", ACME)
    for allowed, expected in (("", False), ("acme", True), ("other,acme", True), ("other", False)):
        result = mars_zoo_cli("plugins", "--json", pythonpath=site, env_extra={"MARS_ZOO_LOAD_PLUGINS": allowed})
        names = {row["name"] for row in json.loads(result.stdout)}
        assert ("acme" in names) is expected, allowed
        assert "openclip" in names


def test_installed_plugin_cannot_shadow_a_builtin_model(tmp_path):
    shadow = ACME.replace('name="acme/tiny", family="acme"', 'name="openclip/tiny-random", family="openclip"')
    site = make_distribution(tmp_path, "evil-mars-plugin", shadow)
    result = mars_zoo_cli("list", pythonpath=site)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "'evil'" in message and "'openclip/tiny-random'" in message and "already registered" in message


def test_plugins_dir_files_are_loaded(tmp_path):
    shutil.copy(TESTS / "fake_models.py", tmp_path / "fake_models.py")
    result = mars_zoo_cli("list", "--json", "--plugins-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["fake/good"]["plugin"] == "fake_models"
    assert rows["fake/image-only"]["modalities"] == ["image"]


def test_misspelled_hook_is_refused(tmp_path):
    (tmp_path / "typo.py").write_text(
        "import mars_zoo\n\n@mars_zoo.hookimpl\ndef register_model(register):\n    pass\n"
    )
    with pytest.raises(MarsZooError, match="register_model"):
        build_plugin_manager(tmp_path)


HELPED_PLUGIN = """
    import mars_zoo

    from ._helpers import FAMILY


    def _load(spec, device, precision):
        from ._late import VALUE  # imported when the model loads, long after the folder did

        return VALUE


    @mars_zoo.hookimpl
    def register_models(register):
        register(mars_zoo.ModelSpec(name=FAMILY + "/model", family=FAMILY, checkpoint="x", loader=_load,
                                    license="mit", embedding_dim=4, parameters=1, random_weights=True))
"""


def write_helped_plugin(directory: Path, family: str) -> None:
    directory.mkdir()
    (directory / "plugin.py").write_text(textwrap.dedent(HELPED_PLUGIN))
    (directory / "_helpers.py").write_text(f"FAMILY = {family!r}\n")
    (directory / "_late.py").write_text(f"VALUE = 'late {family}'\n")


def test_two_plugin_folders_in_one_process_keep_their_own_helpers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for family in ("one", "two"):
        write_helped_plugin(tmp_path / family, family)
    registries = {family: Registry(build_plugin_manager(Path(family))) for family in ("one", "two")}
    monkeypatch.chdir(tmp_path / "one")  # relative --plugins-dir paths must not matter any more
    for family, registry in registries.items():
        [spec] = [spec for spec in registry if spec.family in registries]
        assert spec.name == f"{family}/model"
        assert spec.loader(spec, "cpu", "fp32") == f"late {family}"
    assert not {"_helpers", "_late", "plugin"} & set(sys.modules)  # nothing under a top-level name


def test_a_folder_loaded_again_in_one_process_reads_its_edited_files(tmp_path):
    write_helped_plugin(tmp_path / "dir", "before")
    assert "before/model" in Registry(build_plugin_manager(tmp_path / "dir"))
    (tmp_path / "dir" / "_helpers.py").write_text("FAMILY = 'after-the-edit'\n")
    assert "after-the-edit/model" in Registry(build_plugin_manager(tmp_path / "dir"))


def test_a_plugins_version_covers_its_helpers_and_its_files_are_listed(tmp_path):
    write_helped_plugin(tmp_path / "dir", "helped")
    directory = tmp_path / "dir"
    (directory / "tools").mkdir()
    (directory / "tools" / "names.py").write_text("NAME = 'x'\n")
    (directory / "README.md").write_text("notes\n")

    def info() -> PluginInfo:
        return build_plugin_manager(directory).info("plugin")

    first = info()
    assert first.files[0] == str(directory / "plugin.py")
    assert sorted(first.files[1:]) == sorted(str(directory / name) for name in ("_helpers.py", "_late.py", "tools/names.py"))
    (directory / "README.md").write_text("other notes\n")  # not code
    assert info().version == first.version
    versions = [first.version]
    for edited in ("plugin.py", "_helpers.py", "_late.py", "tools/names.py"):
        with open(directory / edited, "a") as handle:
            handle.write(f"# {edited} edited\n")
        versions.append(info().version)
        assert len(set(versions)) == len(versions), edited


def test_a_file_without_a_hook_is_reported_to_the_library_users_reporter(tmp_path):
    from mars_zoo.core.reporting import Reporter

    class Recorder(Reporter):
        def __init__(self):
            self.warnings = []

        def warn(self, message):
            self.warnings.append(message)

    (tmp_path / "idle.py").write_text("VALUE = 1\n")
    recorder = Recorder()
    pm = build_plugin_manager(tmp_path, recorder)
    assert pm.info("idle").origin == "plugins-dir"
    [warning] = recorder.warnings
    assert warning.startswith(f"Plugin 'idle' (--plugins-dir file {tmp_path / 'idle.py'}) registers nothing")


def test_a_hook_of_a_later_version_marked_optional_is_ignored(tmp_path):
    (tmp_path / "ahead.py").write_text(textwrap.dedent(ACME) + textwrap.dedent("""
        @mars_zoo.hookimpl(optionalhook=True)
        def register_datasets(register):
            raise AssertionError("never called")
    """))
    assert "acme/tiny" in Registry(build_plugin_manager(tmp_path))


def test_plugin_that_registers_something_else_is_named(tmp_path):
    (tmp_path / "sloppy.py").write_text(
        "import mars_zoo\n\n@mars_zoo.hookimpl\ndef register_models(register):\n    register('acme/x')\n"
    )
    with pytest.raises(MarsZooError, match="Plugin 'sloppy' registered 'acme/x'"):
        Registry(build_plugin_manager(tmp_path))


def test_plugin_import_error_names_the_file(tmp_path):
    (tmp_path / "broken.py").write_text("raise ImportError('needs acme-sdk')\n")
    with pytest.raises(MarsZooError, match="broken.py failed to import: ImportError: needs acme-sdk"):
        build_plugin_manager(tmp_path)


def test_unavailable_dependency_lists_with_hint_and_refuses_to_load():
    from mars_zoo.models.model import ModelSpec

    spec = ModelSpec(name="acme/x", family="acme", checkpoint="x", loader=lambda *a: None,
                     requires=("surely-not-installed-dist",), install_hint="pip install acme-extra",
                     plugin="acme")
    assert spec.missing_requirements() == ["surely-not-installed-dist"]
    with pytest.raises(MarsZooError, match="pip install acme-extra"):
        spec.load("cpu", "fp32")


def test_unknown_model_suggests_close_names(fake_registry):
    with pytest.raises(MarsZooError, match="Did you mean 'openclip/tiny-random'"):
        fake_registry.get("openclip/tiny-randon")
    with pytest.raises(MarsZooError, match="'openclip/tiny-random'"):
        fake_registry.get("tiny-random")


def test_model_with_missing_package_lists_as_unavailable_and_run_gives_the_hint(tmp_path):
    (tmp_path / "needy.py").write_text(textwrap.dedent("""
        import mars_zoo

        def _load(spec, device, precision):
            import acme_sdk_that_is_not_installed  # noqa: F401

        @mars_zoo.hookimpl
        def register_models(register):
            register(mars_zoo.ModelSpec(name="needy/x", family="needy", checkpoint="needy/x", loader=_load,
                                        revision=mars_zoo.RESOLVE_AT_FIRST_USE, embedding_dim=8,
                                        parameters=100, license="mit",
                                        requires=("acme-sdk-that-is-not-installed",),
                                        install_hint="pip install acme-sdk-that-is-not-installed"))
    """))
    listed = mars_zoo_cli("list", "--json", "--plugins-dir", str(tmp_path))
    row = next(row for row in json.loads(listed.stdout) if row["name"] == "needy/x")
    assert row["available"] is False and row["install_hint"] == "pip install acme-sdk-that-is-not-installed"
    ran = mars_zoo_cli("run", "needy/x", "--benchmark", "mini", "--tasks", "landform", "--plugins-dir",
                       str(tmp_path), "--out", str(tmp_path / "r.json"))
    assert ran.returncode == 2 and "Traceback" not in ran.stderr
    assert "pip install acme-sdk-that-is-not-installed" in " ".join(ran.stderr.split())
