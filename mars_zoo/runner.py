"""The runner: the only place that knows the order of the steps of an evaluation.

model name -> spec -> benchmark data -> (cached) embeddings -> metrics -> result file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from mars_zoo.cache import DEFAULT_SHARD_SIZE, EmbeddingCache, embeddings_dir
from mars_zoo.distributed import Ranks, check_shared_folder, rank_device
from mars_zoo.embed import Embedder, EmbedOptions
from mars_zoo.environment import check_precision, default_workers, describe, resolve_device
from mars_zoo.errors import MarsZooError
from mars_zoo.folders import ensure_folder
from mars_zoo.model import RESOLVE_AT_FIRST_USE, ModelSpec
from mars_zoo.model_revisions import model_revisions_path, resolve_model_revision, verify_model_revision
from mars_zoo.mteb_protocol import PROTOCOL as MTEB_PROTOCOL, check_mteb_run
from mars_zoo.protocol import PAIRED_DEFAULT_CAPTION, PAIRED_PROTOCOLS, TASK_NAMES, TEXT_TASKS
from mars_zoo.registry import Registry
from mars_zoo.reporting import Reporter
from mars_zoo.results import SCHEMA_VERSION, check_writable, harness, write_result
from mars_zoo.tasks.base import TaskContext
from mars_zoo.url_weights import with_weights_file
from mars_zoo.weights import with_own_weights


@dataclasses.dataclass
class RunConfig:
    """Everything `mars-zoo run` can set; the defaults are the official protocol."""

    model: str
    out: Path
    tasks: tuple[str, ...] | None = None  # None: every task the model's modalities allow
    benchmark: str = "marsretrieval"
    data_dir: Path | None = None
    tiles_dir: Path | None = None
    revisions: dict[str, str] = dataclasses.field(default_factory=dict)
    device: str = "auto"
    precision: str | None = None  # None: the model's recommended precision
    batch_size: int | None = None  # None: the model's recommended batch size
    workers: int | None = None  # None: 0 on the CPU, up to 8 on CUDA (shared among a node's ranks)
    seed: int = 0
    caption: str = PAIRED_DEFAULT_CAPTION
    pairs_source: str = "frozen"
    paired_protocol: str = PAIRED_PROTOCOLS[0]  # "mteb": task 1 as MTEB measures it (mars_zoo.mteb_protocol)
    cache_dir: Path | None = None  # None: $MARS_ZOO_CACHE or ~/.cache/mars-zoo
    no_cache: bool = False
    shard_size: int = DEFAULT_SHARD_SIZE
    weights: Path | None = None  # own weights of the model's architecture (see mars_zoo.weights)


def model_to_load(spec: ModelSpec, cache_dir: Path | None, weights: Path | None, reporter: Reporter) -> ModelSpec:
    """The spec that `run`, `check` and `search` load: its revision resolved (recorded at first
    use) and verified on the Hub, the place of its URL weights in the mars-zoo cache set, and own
    weights (--weights) hashed."""
    recorded_in = model_revisions_path(cache_dir) if spec.revision == RESOLVE_AT_FIRST_USE else None
    spec = verify_model_revision(resolve_model_revision(spec, cache_dir), recorded_in)
    if spec.revision_verified is False:
        reporter.warn(f"Revision {spec.revision} of {spec.repository} is not verified: the Hub could not be asked "
                      f"(offline?) and the Hugging Face cache does not hold it. The result records it as unverified.")
    spec = with_weights_file(spec, cache_dir)
    return spec if weights is None else with_own_weights(spec, weights)


def select_tasks(spec: ModelSpec, requested: tuple[str, ...] | None) -> tuple[str, ...]:
    if requested is None:
        return tuple(t for t in TASK_NAMES if spec.supports_text or t not in TEXT_TASKS)
    unknown = [t for t in requested if t not in TASK_NAMES]
    if unknown:
        raise MarsZooError(f"Unknown task(s) {', '.join(unknown)}; the tasks are {', '.join(TASK_NAMES)}.")
    needs_text = [t for t in requested if t in TEXT_TASKS]
    if needs_text and not spec.supports_text:
        raise MarsZooError(
            f"Model {spec.name!r} is image-only (modalities: {', '.join(spec.modalities)}), but task(s) "
            f"{', '.join(needs_text)} need text embeddings. Image-only models take part in "
            f"geolocalization (image queries) only: use --tasks geolocalization."
        )
    return tuple(t for t in TASK_NAMES if t in requested)


def check_paired_protocol(config: RunConfig, spec: ModelSpec) -> None:
    """A task 1 protocol that exists, and under MTEB's only what MTEB's tasks measure; checked
    before anything is loaded."""
    if config.paired_protocol not in PAIRED_PROTOCOLS:
        raise MarsZooError(f"Unknown task 1 protocol {config.paired_protocol!r}; the protocols are "
                           f"{', '.join(PAIRED_PROTOCOLS)}.")
    if config.paired_protocol == MTEB_PROTOCOL:
        check_mteb_run(spec, config.tasks, config.pairs_source, config.caption)


@contextlib.contextmanager
def _cache(config: RunConfig) -> Iterator[EmbeddingCache]:
    if config.no_cache:
        with tempfile.TemporaryDirectory(prefix="mars-zoo-nocache-") as tmp:
            yield EmbeddingCache(Path(tmp), config.shard_size)
    else:
        yield EmbeddingCache(ensure_folder(embeddings_dir(config.cache_dir), "the embedding cache"), config.shard_size)


def _task_module(name: str):
    from mars_zoo.tasks import geolocalization, landform, paired

    return {"paired": paired, "landform": landform, "geolocalization": geolocalization}[name]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _benchmark_record(name: str, synthetic: bool, sections: dict[str, Any]) -> dict[str, Any]:
    """A result is on the synthetic mini benchmark when any data it scored is, whatever
    the benchmark was called: a copy of the mini data passed as --data-dir stays mini."""
    refs = [section[key] for section in sections.values() for key in ("dataset", "gallery") if key in section]
    if synthetic or any(ref["synthetic"] for ref in refs):
        return {"name": "mini", "synthetic": True}
    return {"name": name, "synthetic": False}


def recommended_precision(spec: ModelSpec, device: str) -> str:
    """The precision a run uses when --precision is not given. A model recommends the
    dtype of its published GPU runs; fp16 has no autocast kernels on the CPU, so a CPU
    run of an fp16 model uses fp32 rather than failing."""
    if spec.precision == "fp16" and not device.startswith("cuda"):
        return "fp32"
    return spec.precision


def embed_options(
    spec: ModelSpec, device: str, precision: str | None, batch_size: int | None, workers: int | None, seed: int = 0,
    processes_on_node: int = 1,
) -> EmbedOptions:
    """How `spec` embeds on `device`: the settings given, else the model's recommendations
    (and the device's default number of decoding workers, shared among the node's
    `processes_on_node` ranks). Shared by `run` and `search`, so that both embed, and so
    key the cache, alike."""
    precision = precision or recommended_precision(spec, device)
    check_precision(precision, device)
    options = EmbedOptions(
        device=device,
        precision=precision,
        batch_size=batch_size or spec.batch_size,
        workers=default_workers(device, processes_on_node) if workers is None else workers,
        seed=seed,
    )
    if options.batch_size < 1 or options.workers < 0:
        raise MarsZooError("--batch-size must be at least 1 and --workers at least 0.")
    return options


def run(
    config: RunConfig, registry: Registry, reporter: Reporter, ranks: Ranks = Ranks()
) -> tuple[dict[str, Any] | None, Embedder]:
    """Evaluate one model and write its result file; returns the result and the
    embedder (whose stats count the model calls made). Among several ranks (torchrun),
    every rank embeds its share and only rank 0 scores, writes and returns the result;
    the others return None."""
    import numpy as np

    from mars_zoo.data.benchmark import open_benchmark
    from mars_zoo.uncertainty import add_confidence

    spec = registry.get(config.model)
    check_paired_protocol(config, spec)
    spec.require_available()  # before any data is read, not after
    spec = model_to_load(spec, config.cache_dir, config.weights, reporter)
    tasks = select_tasks(spec, config.tasks)
    device = rank_device(resolve_device(config.device), ranks)
    options = embed_options(spec, device, config.precision, config.batch_size, config.workers, config.seed,
                            ranks.local_world_size)
    check_writable(config.out)
    np.random.seed(config.seed)

    started_at, started = _now(), time.perf_counter()
    with _cache(config) as cache:
        check_shared_folder(ranks, cache.root)
        benchmark = open_benchmark(
            config.benchmark,
            data_dir=config.data_dir,
            tiles_dir=config.tiles_dir,
            revisions=config.revisions,
            cache_dir=config.cache_dir,
            reporter=reporter,
        )
        plugin = registry.pm.info(spec.plugin)
        embedder = Embedder(spec, registry.plugin_code(spec), options, cache, reporter, ranks)
        context = TaskContext(benchmark, embedder, device, config.caption, config.pairs_source, config.paired_protocol)
        # Every task's data is read before anything is embedded, so that missing data
        # (a gallery not passed with --tiles, say) fails in seconds, not after hours.
        data = {name: _task_module(name).load(context) for name in tasks}
        sections = {}
        for name in tasks:
            reporter.info(f"task: {name}")
            if ranks.leader:
                sections[name] = _task_module(name).run(context, data[name])
            else:
                _task_module(name).embed(context, data[name])
    dims = ranks.gather(embedder.check.dim)
    environment = describe(device)
    devices = ranks.gather(environment["device_name"])
    nodes = ranks.gather(ranks.node)
    if not ranks.leader:
        return None, embedder
    add_confidence(sections, config.seed)
    weights_dtype, compute_dtype = spec.run_dtypes(device, options.precision)

    result = {
        "schema_version": SCHEMA_VERSION,
        "provenance": "reproduced",
        "model": {
            **spec.metadata(),
            "embedding_dim": next((dim for dim in dims if dim is not None), None),
            "plugin_package": plugin.package,
            "plugin_version": plugin.version,
        },
        "benchmark": _benchmark_record(benchmark.name, benchmark.synthetic, sections),
        "harness": harness(),
        "environment": environment,
        "run": {
            "device": device,
            "precision": options.precision,
            "weights_dtype": weights_dtype,
            "compute_dtype": compute_dtype,
            "batch_size": options.batch_size,
            "seed": config.seed,
            "workers": options.workers,
            **({"world_size": ranks.world_size, "devices": devices, "nodes": nodes} if ranks.distributed else {}),
            "started_at": started_at,
            "finished_at": _now(),
            "wall_time_s": time.perf_counter() - started,
        },
        "tasks": sections,
    }
    write_result(result, config.out)
    return result, embedder
