"""The runner: the only place that knows the order of the steps of an evaluation.

model name -> spec -> benchmark data -> (cached) embeddings -> metrics -> result file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import Any

from mars_zoo.distributed import Ranks
from mars_zoo.embed import Embedder
from mars_zoo.environment import describe
from mars_zoo.errors import MarsZooError
from mars_zoo.model import ModelSpec
from mars_zoo.mteb_protocol import PROTOCOL as MTEB_PROTOCOL, check_mteb_run
from mars_zoo.protocol import PAIRED_DEFAULT_CAPTION, PAIRED_PROTOCOLS, TASK_NAMES, TEXT_TASKS
from mars_zoo.registry import Registry
from mars_zoo.reporting import Reporter
from mars_zoo.results import SCHEMA_VERSION, check_writable, harness, write_result
from mars_zoo.settings import Settings, set_up
from mars_zoo.tasks.base import TaskContext
from mars_zoo.weights import training_section


@dataclasses.dataclass(kw_only=True)
class RunConfig(Settings):
    """Everything `mars-zoo run` can set: the shared `Settings` and what only a run has;
    the defaults are the official protocol."""

    model: str
    out: Path
    tasks: tuple[str, ...] | None = None  # None: every task the model's modalities allow
    caption: str = PAIRED_DEFAULT_CAPTION
    pairs_source: str = "frozen"
    paired_protocol: str = PAIRED_PROTOCOLS[0]  # "mteb": task 1 as MTEB measures it (mars_zoo.mteb_protocol)


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


def run(
    config: RunConfig, registry: Registry, reporter: Reporter, ranks: Ranks = Ranks()
) -> tuple[dict[str, Any] | None, Embedder]:
    """Evaluate one model and write its result file; returns the result and the
    embedder (whose stats count the model calls made). Among several ranks (torchrun),
    every rank embeds its share and only rank 0 scores, writes and returns the result;
    the others return None."""
    import numpy as np

    from mars_zoo.uncertainty import add_confidence

    spec = registry.get(config.model)
    check_paired_protocol(config, spec)
    tasks = select_tasks(spec, config.tasks)
    check_writable(config.out)
    np.random.seed(config.seed)

    started_at, started = _now(), time.perf_counter()
    with set_up(config, spec, registry, reporter, ranks) as (spec, device, options, benchmark, embedder):
        training = training_section(spec)  # own weights' training.json, checked before any task data is read
        plugin = registry.pm.info(spec.plugin)
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
        "training": training,
    }
    write_result(result, config.out)
    return result, embedder
