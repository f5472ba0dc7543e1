"""`--cache-dir DIR` is where a command keeps everything it derives: tiny models, the
revisions it records (a model's, an adapter's base model's), weights fetched from a URL,
the mini benchmark, dataset copies and their indexes, embeddings. Every reader and loader
is handed that folder; none may fall back to the default cache on its own.

The commands run in one fresh process whose HOME, MARS_ZOO_CACHE, XDG_CACHE_HOME and
HF_HOME all point at folders of the test, so that a default decided anywhere, by mars-zoo
or by a library it calls, leaves a file there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from hub_cache import cache_model

BASE_REPO, BASE_COMMIT = "acme/tiny-qwen2-vl", "c" * 40  # the base model an adapter names
UNPINNED_REPO, UNPINNED_COMMIT = "acme/unpinned-weights", "d" * 40
ADAPTER_MODEL = "b3/tiny-random"  # a LoRA adapter on a tiny base, both built at first use
# Variables that would place a library's cache apart from HF_HOME: unset, so HF_HOME rules.
OTHER_CACHE_VARIABLES = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_DATASETS_CACHE", "TRANSFORMERS_CACHE",
                         "HF_MODULES_CACHE", "TORCH_HOME")

PLUGIN = """
import mars_zoo
from ._fake_models import FAKE_METADATA, FakeEncoder


def _load(spec, device, precision):
    return FakeEncoder("good")


@mars_zoo.hookimpl
def register_models(register):
    metadata = {**FAKE_METADATA, "random_weights": False}
    register(mars_zoo.ModelSpec(name="acme/url", family="acme", checkpoint="acme-url", loader=_load,
                                url_weights=mars_zoo.UrlWeights(URL, SHA256), **metadata))
    register(mars_zoo.ModelSpec(name="acme/unpinned", family="acme", checkpoint=UNPINNED_REPO, loader=_load,
                                revision=mars_zoo.RESOLVE_AT_FIRST_USE, **metadata))
"""

# Runs the commands given as JSON, one after the other, in this one process (torch and the
# plugins imported once); stops at the first that fails.
DRIVER = """
import json, sys
from mars_zoo.cli import main
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    if code:
        sys.exit(f"exit {code}: mars-zoo {' '.join(argv)}")
"""


def _files(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def _adapter_weights(tmp_path: Path, hub: Path) -> Path:
    """A --weights folder holding the tiny adapter of ADAPTER_MODEL, its config naming the
    Hub repository BASE_REPO as its base, and that base in the Hugging Face cache `hub`."""
    from mars_zoo.models.registry import load_registry

    adapter = load_registry().get(ADAPTER_MODEL).loader.tiny.folder(tmp_path / "built")
    base = Path(json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"])
    cache_model(hub, BASE_REPO, BASE_COMMIT, {path.name: path for path in base.iterdir()})
    weights = tmp_path / "adapter"
    shutil.copytree(adapter, weights)
    config = json.loads((weights / "adapter_config.json").read_text())
    (weights / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": BASE_REPO}))
    return weights


def _plugins(tmp_path: Path) -> Path:
    """A --plugins-dir with a model whose weights are a file at a URL, and a model whose
    revision is resolved at first use."""
    release = tmp_path / "release" / "acme.bin"
    release.parent.mkdir()
    release.write_bytes(b"weights named by their sha256 " * 8)
    directory = tmp_path / "plugins"
    directory.mkdir()
    shutil.copy(Path(__file__).parent / "fake_models.py", directory / "_fake_models.py")
    constants = (f"URL = {release.as_uri()!r}\nSHA256 = {hashlib.sha256(release.read_bytes()).hexdigest()!r}\n"
                 f"UNPINNED_REPO = {UNPINNED_REPO!r}\n")
    (directory / "acme.py").write_text(constants + textwrap.dedent(PLUGIN))
    return directory


def test_every_loader_and_reader_keeps_to_the_cache_dir(tmp_path):
    elsewhere = {name: tmp_path / name.lower() for name in ("HOME", "MARS_ZOO_CACHE", "XDG_CACHE_HOME", "HF_HOME")}
    for folder in elsewhere.values():
        folder.mkdir()
    hub = elsewhere["HF_HOME"] / "hub"
    weights = _adapter_weights(tmp_path, hub)
    cache_model(hub, UNPINNED_REPO, UNPINNED_COMMIT, {})
    placed = _files(elsewhere["HF_HOME"])
    plugins, cache, out = _plugins(tmp_path), tmp_path / "chosen-cache", tmp_path / "out"
    common = ["--benchmark", "mini", "--device", "cpu", "--cache-dir", str(cache)]
    commands = [
        ["run", ADAPTER_MODEL, "--weights", str(weights), "--tasks", "landform", "--out", str(out / "adapter.json"),
         *common],
        ["run", "acme/url", "--plugins-dir", str(plugins), "--tasks", "landform", "--out", str(out / "url.json"),
         *common],
        ["run", "acme/unpinned", "--plugins-dir", str(plugins), "--out", str(out / "unpinned.json"), *common],
        ["search", "acme/unpinned", "craters", "--plugins-dir", str(plugins), "--out", str(out / "search"),
         "--json", *common],
    ]
    env = {name: value for name, value in os.environ.items() if name not in OTHER_CACHE_VARIABLES}
    env.update({name: str(folder) for name, folder in elsewhere.items()}, HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    assert {name: _files(folder) for name, folder in elsewhere.items() if name != "HF_HOME"} == {
        "HOME": [], "MARS_ZOO_CACHE": [], "XDG_CACHE_HOME": []}
    assert _files(elsewhere["HF_HOME"]) == placed  # no library cache of its own either
    kept = {path.split(os.sep)[0] for path in _files(cache)}
    assert {"tiny-models", "weights", "embeddings", "mini-v1", "datasets"} <= kept
    tiny = [path.name for path in (cache / "tiny-models").iterdir()]
    assert len(tiny) == 2 and all(name.startswith("mllm--tiny-qwen2-vl-") for name in tiny)  # adapter and base
    recorded = json.loads((cache / "model-revisions.json").read_text())
    assert recorded == {BASE_REPO: BASE_COMMIT, UNPINNED_REPO: UNPINNED_COMMIT}
