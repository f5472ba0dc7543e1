"""The runner: the only place that knows the order of the steps of an evaluation.

model name -> spec -> every task's plan of the benchmark data -> (cached) embeddings -> each
task's scores -> result file. It knows no task by name: the tasks are those the plugins
register (`mars_zoo.tasks.registry`), each run as `score(embed(plan))` (`mars_zoo.tasks.walk`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import Any

from mars_zoo.embedding.distributed import Ranks
from mars_zoo.embedding.embed import Embedder
from mars_zoo.embedding.environment import describe
from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.model import ModelSpec
from mars_zoo.tasks.mteb_protocol import PROTOCOL as MTEB_PROTOCOL, check_mteb_run, uses_instructions
from mars_zoo.core.protocol import PAIRED_DEFAULT_CAPTION, PAIRED_PROTOCOLS
from mars_zoo.models.registry import Registry
from mars_zoo.core.reporting import Reporter
from mars_zoo.results.files import SCHEMA_VERSION, check_writable, harness, write_result
from mars_zoo.pipeline.settings import Settings, set_up
from mars_zoo.tasks.spec import TaskSettings
from mars_zoo.models.weights import training_section


@dataclasses.dataclass(kw_only=True)
class RunConfig(Settings):
    """Everything `mars-zoo run` can set: the shared `Settings` and what only a run has;
    the defaults are the official protocol."""

    model: str
    out: Path
    tasks: tuple[str, ...] | None = None  # None: every task the model's modalities allow
    caption: str = PAIRED_DEFAULT_CAPTION
    pairs_source: str = "frozen"
    paired_protocol: str = PAIRED_PROTOCOLS[0]  # "mteb": task 1 as MTEB measures it (mars_zoo.tasks.mteb_protocol)


def check_paired_protocol(config: RunConfig, spec: ModelSpec) -> None:
    """A task 1 protocol that exists, and under MTEB's only what MTEB's tasks measure; checked
    before anything is loaded."""
    if config.paired_protocol not in PAIRED_PROTOCOLS:
        raise MarsZooError(f"Unknown task 1 protocol {config.paired_protocol!r}; the protocols are "
                           f"{', '.join(PAIRED_PROTOCOLS)}.")
    if config.paired_protocol == MTEB_PROTOCOL:
        check_mteb_run(spec, config.tasks, config.pairs_source, config.caption)


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

    from mars_zoo.tasks.registry import registered_tasks
    from mars_zoo.tasks.walk import agree, evaluate, make_plans

    spec = registry.get(config.model)
    check_paired_protocol(config, spec)
    tasks = registered_tasks(registry.pm).select(spec.name, spec.modalities, config.tasks)
    check_writable(config.out)
    np.random.seed(config.seed)

    started_at, started = _now(), time.perf_counter()
    with set_up(config, spec, registry, reporter, ranks) as (spec, device, options, benchmark, embedder):
        training = training_section(spec)  # own weights' training.json, checked before any task data is read
        plugin = registry.pm.info(spec.plugin)
        settings = TaskSettings(spec.modalities, device, config.seed, config.caption, config.pairs_source,
                                config.paired_protocol,
                                config.paired_protocol == MTEB_PROTOCOL and uses_instructions(spec))
        plans = make_plans(tasks, benchmark, settings)
        agree(plans, ranks)
        sections = {}
        for task in tasks:
            reporter.info(f"task: {task.name}")
            sections[task.name] = evaluate(task, plans[task.name], embedder, ranks.leader)
    dims = ranks.gather(embedder.check.dim)
    environment = describe(device)
    devices = ranks.gather(environment["device_name"])
    nodes = ranks.gather(ranks.node)
    if not ranks.leader:
        return None, embedder
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
    write_result(result, config.out, {task.name: f"Task {task.name!r} (plugin {task.plugin})"
                                      for task in tasks if not registered_tasks(registry.pm).builtin(task)})
    return result, embedder
