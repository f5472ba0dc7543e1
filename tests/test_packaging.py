"""The built-in plugins ship inside the wheel, not only in an editable checkout: every
module and data file of mars_zoo and of the four built-in plugin packages, importable
from the wheel alone, registering the same models, with the console script declared."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mars_zoo.models.plugin_manager import ALLOW_LIST_ENV, BUILTIN_PLUGINS, BUILTIN_TASK_PLUGINS
from mars_zoo.models.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent
# In the checkout, built-in plugin NAME lives in plugins/NAME and installs as BUILTIN_PLUGINS[NAME].
PLUGIN_FOLDERS = {module: ROOT / "plugins" / name for name, module in BUILTIN_PLUGINS.items()}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The names in the wheel built from this checkout, and the folder it is unpacked in. It is
    built from a copy without build/: setuptools would add what an earlier build left there."""
    root = tmp_path_factory.mktemp("wheel")
    source = shutil.copytree(ROOT, root / "source", symlinks=True,
                             ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root), str(source)],
        check=True, capture_output=True,
    )
    with zipfile.ZipFile(next(root.glob("mars_zoo-*.whl"))) as archive:
        names = set(archive.namelist())
        archive.extractall(root / "site")
    return names, root / "site"


def _shipped(folder: Path, package: str) -> set[str]:
    """What the wheel must hold of `folder`: every file but bytecode caches, as `package/...`."""
    return {f"{package}/{path.relative_to(folder).as_posix()}" for path in folder.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts}


def _in_wheel_python(code: str, site: Path, tmp_path: Path) -> str:
    """The output of `code` run with the unpacked wheel as the only source of mars_zoo, in
    its own caches, loading no installed third-party plugin."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
        env={"PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", ALLOW_LIST_ENV: "",
             "XDG_CACHE_HOME": str(tmp_path / "cache"), "HF_HOME": str(tmp_path / "hf")},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_wheel_carries_every_module_and_data_file_of_mars_zoo_and_the_builtin_plugins(wheel):
    names, site = wheel
    assert sorted(PLUGIN_FOLDERS) == ["mars_zoo_hf_encoders", "mars_zoo_mllm", "mars_zoo_openclip", "mars_zoo_st"]
    expected = _shipped(ROOT / "mars_zoo", "mars_zoo")
    for package, folder in PLUGIN_FOLDERS.items():
        expected |= _shipped(folder, package)
    assert {"mars_zoo_openclip/mars-zoo-tiny-random.json", "mars_zoo/schema/result-v1.schema.json",
            "mars_zoo/leaderboard/assets/leaderboard.js", "mars_zoo/leaderboard/PROTOCOL.md"} <= expected
    assert expected - names == set()
    # The methodology page's text: the repository's protocol document itself, not a link to it.
    shipped = (site / "mars_zoo" / "leaderboard" / "PROTOCOL.md").read_bytes()
    assert shipped == (ROOT / "leaderboard" / "PROTOCOL.md").read_bytes()
    entry_points = next(site.glob("mars_zoo-*.dist-info")) / "entry_points.txt"
    assert "mars-zoo = mars_zoo.cli:main" in entry_points.read_text().splitlines()


def test_the_builtin_plugins_import_and_register_from_the_wheel_alone(wheel, tmp_path, monkeypatch):
    _, site = wheel
    code = (
        "import importlib, json, pkgutil; from mars_zoo.models.registry import load_registry; "
        f"packages = {sorted(PLUGIN_FOLDERS)!r}; "
        "modules = [importlib.import_module(info.name) for package in ['mars_zoo', *packages] "
        "           for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + '.') "
        "           if not info.name.endswith('.__main__')]; "  # importing it would run the CLI
        "registry = load_registry(); "
        "files = [module.__file__ for module in modules] + [importlib.import_module(p).__file__ for p in packages]; "
        "print(json.dumps({'files': files, 'models': sorted(spec.name for spec in registry), "
        "                  'plugins': [[info.name, info.origin] for info in registry.pm.loaded]}))"
    )
    found = json.loads(_in_wheel_python(code, site, tmp_path))
    assert len(found["files"]) > len(PLUGIN_FOLDERS) + 20  # every submodule, not only the packages
    assert all(Path(file).is_relative_to(site) for file in found["files"])
    assert found["plugins"] == [[name, "builtin"] for name in {**BUILTIN_TASK_PLUGINS, **BUILTIN_PLUGINS}]
    monkeypatch.setenv(ALLOW_LIST_ENV, "")  # the checkout's built-ins, whatever else is installed
    assert found["models"] == sorted(spec.name for spec in load_registry())


@pytest.mark.parametrize("model", ["openclip/tiny-random", "st/tiny-random"])
def test_a_builtin_model_loads_from_the_wheel_alone(wheel, tmp_path, model):
    _, site = wheel
    code = ("import json; from mars_zoo.models.registry import load_registry; "
            f"encoder = load_registry().get({model!r}).load('cpu', 'fp32'); "
            "print(json.dumps(list(encoder.encode_text(['a crater']).shape)))")
    assert json.loads(_in_wheel_python(code, site, tmp_path)) == [1, load_registry().get(model).embedding_dim]
