"""A cache entry answers only for what it is: every input that decides an embedding, changed
alone, through the real `Embedder`, leads to another entry and a recomputation; nothing
else does (the device index, the layout asked for, re-importing unchanged plugin code)."""

from __future__ import annotations

import dataclasses
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mars_zoo.embedding.cache import EmbeddingCache
from mars_zoo.data.image_sources import FileImageSource
from mars_zoo.data.types import DatasetRef
from mars_zoo.embedding.embed import Embedder, EmbedOptions
from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.model import ModelSpec
from mars_zoo.models.registry import load_registry
from mars_zoo.core.reporting import Reporter

IDS = ("a", "b", "c", "d", "e")
DATA = DatasetRef("test/images", "r1", "train", "here")
BASE_OPTIONS = EmbedOptions(device="cpu", precision="fp32", batch_size=2)


@pytest.fixture
def images(tmp_path) -> list[Path]:
    paths = []
    for index in range(len(IDS)):
        path = tmp_path / "images" / f"{index}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (8, 8), (40 * index, 255 - 30 * index, 7 * index)).save(path)
        paths.append(path)
    return paths


@dataclasses.dataclass
class Inputs:
    """Everything an image embedding may depend on, as `Embedder.images` receives it."""

    spec: ModelSpec
    code: str
    options: EmbedOptions = BASE_OPTIONS
    ids: tuple[str, ...] = IDS
    dataset: DatasetRef = DATA
    preprocessing: str = "none"
    subset: str | None = None


def embed(root: Path, paths: list[Path], inputs: Inputs) -> tuple[int, np.ndarray]:
    """(model calls made, embeddings) of the images through a fresh `Embedder` on the cache at `root`."""
    embedder = Embedder(inputs.spec, inputs.code, inputs.options, EmbeddingCache(root, shard_size=2), Reporter())
    embeddings = embedder.images(FileImageSource(paths, list(inputs.ids), "fix"), inputs.dataset, "test images",
                                 preprocessing=inputs.preprocessing, subset=inputs.subset)
    return embedder.stats.calls["image"], embeddings


def entries(root: Path) -> set[Path]:
    return {manifest.parent for manifest in root.glob("*/*/manifest.json")}


def changed(**fields):
    return lambda inputs: dataclasses.replace(inputs, **fields)


def changed_spec(**fields):
    return lambda inputs: dataclasses.replace(inputs, spec=dataclasses.replace(inputs.spec, **fields))


def changed_options(**fields):
    return lambda inputs: dataclasses.replace(inputs, options=dataclasses.replace(inputs.options, **fields))


def on_cuda(precision: str):
    return changed_options(device="cuda", precision=precision)


# case: (the inputs before, the change). Each change alone must lead to a new entry.
MUTATIONS = {
    "model": (None, changed_spec(name="fake/renamed")),
    "plugin": (None, changed_spec(plugin="other_plugin")),
    "checkpoint": (None, changed_spec(checkpoint="fake:other")),
    "weights-revision": (None, changed_spec(revision="1" * 40)),
    "own-weights": (None, changed_spec(weights="/w.pt", weights_sha256="2" * 64)),
    "device-kind": (None, changed_options(device="cuda")),
    # the same run on CUDA at bf16, the family declaring bf16 weights there instead of fp32
    "weights-dtype": (on_cuda("bf16"), changed_spec(weights_at_precision_on_cuda=True)),
    "compute-dtype": (None, changed_options(precision="bf16")),
    "preprocessing": (None, changed(preprocessing="center-crop")),
    "dataset-id": (None, changed(dataset=dataclasses.replace(DATA, id="test/other"))),
    "dataset-revision": (None, changed(dataset=dataclasses.replace(DATA, revision="r2"))),
    "split": (None, changed(dataset=dataclasses.replace(DATA, split="test"))),
    "subset": (None, changed(subset="pitted_cones")),
    "item-ids": (None, changed(ids=("a", "b", "c", "d", "f"))),
}
# What must NOT lead to a new entry: how a run is laid out or which GPU it ran on.
SAME = {
    "nothing": changed(),
    "device-index": changed_options(device="cuda:1"),
    "batch-size": changed_options(batch_size=3),
}


@pytest.fixture
def fake(plugins_dir) -> Inputs:
    registry = load_registry(plugins_dir)
    spec = registry.get("fake/good")
    return Inputs(spec, registry.plugin_code(spec))


@pytest.mark.filterwarnings("ignore:CUDA is not available")
@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_every_input_of_an_embedding_has_an_entry_of_its_own(case, fake, images, tmp_path):
    before, change = MUTATIONS[case]
    inputs = before(fake) if before else fake
    root = tmp_path / "cache"
    calls, first = embed(root, images, inputs)
    assert calls == 3 and embed(root, images, inputs)[0] == 0  # batches of 2 in shards of 2
    seen = entries(root)
    calls, _ = embed(root, images, change(inputs))
    assert calls == 3, f"{case}: served from the entry of other inputs"
    assert len(entries(root) - seen) == 1


@pytest.mark.filterwarnings("ignore:CUDA is not available")
@pytest.mark.parametrize("case", sorted(SAME))
def test_what_does_not_change_an_embedding_reuses_the_entry(case, fake, images, tmp_path):
    root = tmp_path / "cache"
    inputs = on_cuda("fp32")(fake) if case == "device-index" else fake
    _, first = embed(root, images, inputs)
    seen = entries(root)
    calls, again = embed(root, images, SAME[case](inputs))
    assert calls == 0 and entries(root) == seen
    np.testing.assert_array_equal(again, first)


def test_texts_never_answer_for_images_of_the_same_ids(fake, images, tmp_path):
    root = tmp_path / "cache"
    embed(root, images, fake)
    embedder = Embedder(fake.spec, fake.code, BASE_OPTIONS, EmbeddingCache(root, shard_size=2), Reporter())
    embedder.texts(list(IDS), "texts named like the images")
    assert embedder.stats.calls["text"] == 3


def test_editing_a_plugins_dir_file_recomputes(plugins_dir, images, tmp_path):
    root = tmp_path / "cache"
    registry = load_registry(plugins_dir)
    spec = registry.get("fake/good")
    assert embed(root, images, Inputs(spec, registry.plugin_code(spec)))[0] == 3
    registry = load_registry(plugins_dir)  # the file loaded again, unchanged: same code
    assert embed(root, images, Inputs(spec, registry.plugin_code(spec)))[0] == 0
    with (plugins_dir / "fake_models.py").open("a") as plugin:
        plugin.write("\n# an edit that a version number would not show\n")
    registry = load_registry(plugins_dir)
    assert embed(root, images, Inputs(spec, registry.plugin_code(spec)))[0] == 3


def test_editing_a_helper_beside_a_plugins_dir_file_recomputes(plugins_dir, images, tmp_path):
    """A plugin may import any `_*.py` helper of its folder, so a helper is part of its code."""
    root = tmp_path / "cache"
    helper = plugins_dir / "_shared.py"
    helper.write_text("SCALE = 1\n")
    registry = load_registry(plugins_dir)
    spec = registry.get("fake/good")
    assert embed(root, images, Inputs(spec, registry.plugin_code(spec)))[0] == 3
    helper.write_text("SCALE = 2\n")
    registry = load_registry(plugins_dir)
    assert embed(root, images, Inputs(spec, registry.plugin_code(spec)))[0] == 3


PACKAGE_INIT = """
    import mars_zoo
    from mars_zoo import ModelSpec

    def _load(spec, device, precision):
        from acmepkg.encoder import AcmeEncoder

        return AcmeEncoder()

    @mars_zoo.hookimpl
    def register_models(register):
        register(ModelSpec(name="acme/model", family="acme", checkpoint="acme:model", loader=_load,
                           batch_size=2, embedding_dim=3, parameters=1, license="mit", random_weights=True))
"""
PACKAGE_ENCODER = """
    import numpy as np
    import torch

    from mars_zoo import Encoder

    SCALE = 1.0

    class AcmeEncoder(Encoder):
        def encode_image(self, images):
            means = [np.asarray(image, dtype=np.float64).mean(axis=(0, 1)) * SCALE + 1.0 for image in images]
            return torch.tensor(np.stack(means), dtype=torch.float32)
"""


def _installed_package(site: Path) -> Path:
    """An installed distribution `acme-embedders` 1.0: the package `acmepkg` (its plugin
    module, and the encoder in a module of its own) with an entry point in `mars_zoo`."""
    package = site / "acmepkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(PACKAGE_INIT))
    (package / "encoder.py").write_text(textwrap.dedent(PACKAGE_ENCODER))
    info = site / "acme_embedders-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-embedders\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[mars_zoo]\nacme = acmepkg\n")
    return package


def _fresh_process_registry(monkeypatch):
    """The registry a new process would build: the package's modules imported anew."""
    for name in [name for name in sys.modules if name == "acmepkg" or name.startswith("acmepkg.")]:
        monkeypatch.delitem(sys.modules, name)
    registry = load_registry()
    assert registry.pm.info("acme").version == "1.0"
    return registry


def test_editing_a_module_of_an_installed_package_recomputes_under_the_same_version(images, tmp_path,
                                                                                      monkeypatch):
    package = _installed_package(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("MARS_ZOO_LOAD_PLUGINS", "acme")
    root = tmp_path / "cache"

    def run(registry) -> tuple[int, np.ndarray]:
        spec = registry.get("acme/model")
        return embed(root, images, Inputs(spec, registry.plugin_code(spec)))

    calls, before = run(_fresh_process_registry(monkeypatch))
    assert calls == 3
    assert run(_fresh_process_registry(monkeypatch))[0] == 0
    encoder = package / "encoder.py"
    encoder.write_text(encoder.read_text().replace("SCALE = 1.0", "SCALE = -1.0"))  # other embeddings, same version
    calls, after = run(_fresh_process_registry(monkeypatch))
    assert calls == 3 and not np.allclose(after, before)


class Widening:
    """An encoder whose text embeddings are wider than its image embeddings would be."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def encode_text(self, texts):
        import torch

        return torch.ones((len(texts), self.dim)) + torch.arange(self.dim)

    def encode_image(self, images):
        import torch

        return torch.ones((len(images), self.dim)) + torch.arange(self.dim)


def test_entries_of_different_dimensions_never_meet_even_without_a_declared_dimension(images, tmp_path):
    """A spec that declares no dimension (built in-process, not registered): its cached text
    entry of 32 dimensions and its image embeddings of 16 are refused, naming both entries."""
    root = tmp_path / "cache"

    def embedder(dim: int) -> Embedder:
        spec = ModelSpec(name="test/widening", family="test", checkpoint="x", loader=lambda *a: Widening(dim),
                         random_weights=True, plugin="test")
        return Embedder(spec, "code", BASE_OPTIONS, EmbeddingCache(root), Reporter())

    texts = ["a text", "another"]
    embedder(32).texts(texts, "texts")
    later = embedder(16)
    later.texts(texts, "texts")  # cached, 32 wide
    with pytest.raises(MarsZooError) as caught:
        later.images(FileImageSource(images, list(IDS), "fix"), DATA, "images")
    message = str(caught.value)
    assert "32-dimensional text" in message and "16-dimensional image" in message
    assert all(str(folder) in message for folder in entries(root))
    assert "--no-cache" in message


def test_the_key_is_known_without_torch(plugins_dir):
    """The identity of an entry (the plugin's code and the declared dtypes included) is
    derived without importing torch, so a warm run stays torch-free."""
    import subprocess

    code = (
        "import sys\n"
        "from mars_zoo.models.registry import load_registry\n"
        "from mars_zoo.embedding.embed import entry_identity, EmbedOptions\n"
        f"registry = load_registry({str(plugins_dir)!r})\n"
        "for name in ('openclip/tiny-random', 'gme/tiny-random', 'fake/good'):\n"
        "    spec = registry.get(name)\n"
        "    entry_identity(spec, registry.plugin_code(spec), EmbedOptions('cuda', 'bf16'), 'text', ['x'])\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_code_of_a_package_is_all_its_files_but_bytecode(tmp_path, monkeypatch):
    from mars_zoo.models.plugin_code import code_sha256

    package = _installed_package(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    def code() -> str:
        for name in [name for name in sys.modules if name.split(".")[0] == "acmepkg"]:
            monkeypatch.delitem(sys.modules, name)
        import acmepkg.encoder

        return code_sha256(acmepkg.encoder.AcmeEncoder())  # judged by the package it belongs to

    first = code()
    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "stale.cpython-311.pyc").write_bytes(b"bytecode")
    assert code() == first
    (package / "prompts.json").write_text('{"template": "a photo of {}"}')  # data the code reads
    second = code()
    assert second != first
    shutil.move(package / "prompts.json", package / "renamed.json")  # same bytes, another name
    assert code() not in (first, second)
