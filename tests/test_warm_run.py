"""A run whose embeddings are all cached loads no heavy library: no torch, no datasets,
no model library. Checked in a fresh interpreter, where sys.modules tells the truth."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

HEAVY = ("torch", "datasets", "transformers", "open_clip", "sentence_transformers", "peft", "cv2")

# Runs the CLI, then prints which heavy top-level packages ended up imported.
PROBE = (
    "import json, sys\n"
    "from mars_zoo.cli import main\n"
    "code = main(sys.argv[1:])\n"
    f"print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))\n"
    "sys.exit(code)\n"
)


def _metrics(path):
    result = json.loads(path.read_text())
    return {name: section["metrics"] for name, section in result["tasks"].items()}


def _probe(args):
    """Runs `mars-zoo ARGS` in a fresh interpreter; returns the heavy packages it imported
    and its output, whitespace folded (it wraps at the terminal's width)."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), " ".join(done.stdout.split())


def test_a_warm_run_imports_no_heavy_library_and_scores_the_same(tmp_path):
    args = ["run", "openclip/tiny-random", "--benchmark", "mini", "--device", "auto",
            "--cache-dir", str(tmp_path / "cache")]
    # The first run embeds everything, so it must load torch: the probe can see it.
    imported, _ = _probe([*args, "--out", str(tmp_path / "cold.json")])
    assert "torch" in imported
    imported, output = _probe([*args, "--out", str(tmp_path / "warm.json")])
    assert imported == []
    assert "model calls: 0 image batches, 0 text batches" in output
    assert _metrics(tmp_path / "warm.json") == _metrics(tmp_path / "cold.json")
    cold, warm = (json.loads((tmp_path / name).read_text()) for name in ("cold.json", "warm.json"))
    assert warm["environment"] == cold["environment"]


def test_a_warm_run_reads_no_cache_shard(plugins_dir, mini_dir, tmp_path, monkeypatch, capsys):
    """Shards are recorded as verified when written, so even the first warm run reads
    none of them; without that record a run reads (and hashes) every one."""
    import mars_zoo.embedding.cache
    from mars_zoo.cli import main

    reads = []
    read_shard = mars_zoo.embedding.cache._read_shard
    monkeypatch.setattr(mars_zoo.embedding.cache, "_read_shard", lambda path: reads.append(path) or read_shard(path))
    cache = tmp_path / "cache"
    shutil.copytree(mini_dir, cache / mini_dir.name)  # the session's mini benchmark, not a new one
    args = ["run", "fake/good", "--benchmark", "mini", "--plugins-dir", str(plugins_dir), "--device", "cpu",
            "--cache-shard-size", "64", "--cache-dir", str(cache)]
    assert main([*args, "--out", str(tmp_path / "cold.json")]) == 0
    shards = sorted(cache.glob("embeddings/*/*/shard-*.npy"))
    assert len(shards) > 10 and reads == []  # nothing was cached: nothing to check
    for name, forget in (("warm-1", False), ("warm-2", True), ("warm-3", False)):
        if forget:
            for record in cache.glob(f"embeddings/*/*/{mars_zoo.embedding.cache.VERIFIED_NAME}"):
                record.unlink()
        reads.clear()
        capsys.readouterr()
        assert main([*args, "--out", str(tmp_path / f"{name}.json")]) == 0
        assert "model calls: 0 image batches, 0 text batches" in " ".join(capsys.readouterr().out.split())
        assert _metrics(tmp_path / f"{name}.json") == _metrics(tmp_path / "cold.json")
        assert sorted(reads) == (shards if forget else []), name
