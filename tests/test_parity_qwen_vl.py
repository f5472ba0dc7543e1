"""The Qwen-VL family of the parity harness (benchmarks/parity_qwen_vl.py): what it asks of
`--remote-code`, the `scirpts` package it makes for the published Qwen3-VL-Embedding import,
and the fp32 it imposes on the published wrappers that hard-code bf16.

The harness itself needs the published checkout, the repositories' remote code and PyPI
(benchmarks/README.md gives the command); these are the parts of it that run here.
"""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def family():
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        return importlib.import_module("parity_qwen_vl")


def _complete(folder: Path, model: dict) -> None:
    """`model`'s repository folder holding every file the published side runs."""
    for path in model["code"]:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text("")
    (folder / "config.json").write_text(json.dumps({"auto_map": {"AutoModel": "x.Y"}}))


def test_missing_remote_code_is_named_per_repository_with_its_files_and_the_download(family, tmp_path):
    names = list(family.MODELS)
    problems = family.remote_code_problems(names, None)
    assert len(problems) == len(names) == 4
    gme = next(problem for problem in problems if problem.startswith(family.GME_REPO))
    assert "modeling_gme_qwen2vl.py and a config.json with auto_map" in gme and "hf download" in gme
    qwen3 = next(problem for problem in problems if problem.startswith(family.QWEN3_REPO))
    assert "scripts/qwen3_vl_embedding.py" in qwen3 and "auto_map" not in qwen3
    for model in family.MODELS.values():
        _complete(tmp_path / model["repo"], model)
    assert family.remote_code_problems(names, tmp_path) == []
    (tmp_path / family.GME_REPO / "config.json").write_text("{}")  # AutoModel could not find the class
    assert [problem.split(":")[0] for problem in family.remote_code_problems(names, tmp_path)] == [family.GME_REPO]


def test_the_published_qwen3_import_finds_the_repository_script(family, tmp_path):
    """The published module imports `scirpts.Qwen3VLEmbedder`; the package made for it
    re-exports the class of the repository's script."""
    code = tmp_path / "code"
    (code / "scripts").mkdir(parents=True)
    (code / family.QWEN3_SCRIPT).write_text("class Qwen3VLEmbedder:\n    source = 'the script'\n")
    (path,) = family._published_path(tmp_path / "work", family.MODELS["qwen3-vl/qwen3-vl-embedding-2b"], code)
    done = subprocess.run([sys.executable, "-c", "from scirpts import Qwen3VLEmbedder; print(Qwen3VLEmbedder.source)"],
                          env={"PYTHONPATH": path}, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "the script", done.stderr


def _product_dtype() -> torch.dtype:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return (torch.ones(2, 2) @ torch.ones(2, 2)).dtype


def test_autocast_to_bf16_is_disabled_only_where_the_entry_asks_for_fp32(family):
    with family.published_context({"published_fp32": "bf16 autocast"}):
        assert _product_dtype() == torch.float32
    assert _product_dtype() == torch.bfloat16  # restored
    with family.published_context({}):
        assert _product_dtype() == torch.bfloat16


def test_bf16_weights_load_in_fp32_only_where_the_entry_asks_for_it(family):
    from transformers import AutoModelForImageTextToText

    from mars_zoo.core.folders import default_cache_dir

    from mllm_support import registry

    folder = registry().get("ops-mm/tiny-random").loader.tiny.folder(default_cache_dir())

    def dtype(entry: dict) -> torch.dtype:
        with family.published_context(entry):
            model = AutoModelForImageTextToText.from_pretrained(folder, torch_dtype=torch.bfloat16)
        return next(model.parameters()).dtype

    assert dtype({"published_fp32": "bf16 weights"}) == torch.float32
    assert dtype({}) == torch.bfloat16
