"""How a command reads the benchmark, loads a model and embeds with it: the settings that
`run`, `search` and `check` share, and the one function that turns them into a model
ready to embed (`set_up`).

Both commands must embed alike, or `search` would miss the cache entries a `run` wrote:
so what decides an embedding (device, precision, batch size, workers, seed), where the
cache is, and how the model is prepared (revision resolved and verified, URL weights
placed, own weights hashed) lives here once, and each command adds only what is its own
(`RunConfig`: tasks and task 1's protocol; `SearchConfig`: the query).
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, NamedTuple

from mars_zoo.embedding.cache import DEFAULT_SHARD_SIZE, EmbeddingCache, embeddings_dir
from mars_zoo.embedding.distributed import Ranks, check_shared_folder, rank_device
from mars_zoo.embedding.embed import Embedder, EmbedOptions
from mars_zoo.embedding.environment import check_precision, default_workers, resolve_device
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.folders import default_cache_dir, ensure_folder
from mars_zoo.models.model import RESOLVE_AT_FIRST_USE, ModelSpec
from mars_zoo.models.model_revisions import model_revisions_path, resolve_model_revision, verify_model_revision
from mars_zoo.core.reporting import Reporter
from mars_zoo.models.url_weights import with_weights_file
from mars_zoo.models.weights import with_own_weights

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mars_zoo.data.benchmark import Benchmark
    from mars_zoo.models.registry import Registry


@dataclasses.dataclass(kw_only=True)
class Settings:
    """Where the data comes from, how the model is loaded and embeds, and where its
    embeddings are cached; the defaults are the official protocol. A None left in an
    embedding setting means the model's recommendation (`embed_options`)."""

    benchmark: str = "marsretrieval"
    data_dir: Path | None = None
    tiles_dir: Path | None = None
    revisions: dict[str, str] = dataclasses.field(default_factory=dict)  # dataset -> Hub revision
    device: str = "auto"
    precision: str | None = None  # None: the model's recommended precision
    batch_size: int | None = None  # None: the model's recommended batch size
    workers: int | None = None  # None: 0 on the CPU, up to 8 on CUDA (shared among a node's ranks)
    seed: int = 0
    # The mars-zoo cache of everything the command derives; None is resolved here, once,
    # to `default_cache_dir()`, and the folder is handed to every reader and loader from here.
    cache_dir: Path | None = None
    no_cache: bool = False  # embeddings in a temporary folder, computed afresh
    shard_size: int = DEFAULT_SHARD_SIZE
    weights: Path | None = None  # own weights of the model's architecture (see mars_zoo.models.weights)

    def __post_init__(self) -> None:
        if self.cache_dir is None:
            self.cache_dir = default_cache_dir()


class Setup(NamedTuple):
    """A model ready to embed as its settings say, and the benchmark it embeds: what
    `set_up` yields. The encoder itself is loaded by the embedder at its first model
    call, so a run whose embeddings are all cached never loads it."""

    spec: ModelSpec  # as prepared by `prepare_spec`
    device: str  # resolved: "cpu", "cuda:N", ...
    options: EmbedOptions
    benchmark: "Benchmark"
    embedder: Embedder


def prepare_spec(settings: Settings, spec: ModelSpec, reporter: Reporter) -> ModelSpec:
    """The spec that `run`, `check` and `search` load: its revision resolved (recorded at
    first use) and verified on the Hub, the place of its URL weights in the mars-zoo cache
    set, own weights (`settings.weights`) hashed, and the cache folder its loader keeps
    what it builds or records in (`ModelSpec.cache_dir`)."""
    cache_dir = settings.cache_dir
    recorded_in = model_revisions_path(cache_dir) if spec.revision == RESOLVE_AT_FIRST_USE else None
    spec = verify_model_revision(resolve_model_revision(spec, cache_dir), recorded_in)
    if spec.revision_verified is False:
        reporter.warn(f"Revision {spec.revision} of {spec.repository} is not verified: the Hub could not be asked "
                      f"(offline?) and the Hugging Face cache does not hold it. The result records it as unverified.")
    spec = dataclasses.replace(with_weights_file(spec, cache_dir), cache_dir=cache_dir)
    return spec if settings.weights is None else with_own_weights(spec, settings.weights)


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
    `processes_on_node` ranks)."""
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


@contextlib.contextmanager
def _embedding_cache(settings: Settings) -> Iterator[EmbeddingCache]:
    if settings.no_cache:
        with tempfile.TemporaryDirectory(prefix="mars-zoo-nocache-") as tmp:
            yield EmbeddingCache(Path(tmp), settings.shard_size)
    else:
        yield EmbeddingCache(ensure_folder(embeddings_dir(settings.cache_dir), "the embedding cache"),
                             settings.shard_size)


@contextlib.contextmanager
def set_up(
    settings: Settings, spec: ModelSpec, registry: "Registry", reporter: Reporter, ranks: Ranks = Ranks()
) -> Iterator[Setup]:
    """The registered `spec` made ready to embed as `settings` say, with the embedding
    cache and the benchmark opened; `ranks` are the processes of a distributed run (each
    on its own GPU, sharing the cache). Everything a command can get wrong about the
    model, the device or the cache fails here, before any data is read or embedded. A
    command checks its own arguments against the registered spec before calling it."""
    from mars_zoo.data.benchmark import open_benchmark

    spec.require_available()
    spec = prepare_spec(settings, spec, reporter)
    device = rank_device(resolve_device(settings.device), ranks)
    options = embed_options(spec, device, settings.precision, settings.batch_size, settings.workers, settings.seed,
                            ranks.local_world_size)
    with _embedding_cache(settings) as cache:
        check_shared_folder(ranks, cache.root)
        benchmark = open_benchmark(
            settings.benchmark,
            data_dir=settings.data_dir,
            tiles_dir=settings.tiles_dir,
            revisions=settings.revisions,
            cache_dir=settings.cache_dir,
            reporter=reporter,
        )
        embedder = Embedder(spec, registry.plugin_code(spec), options, cache, reporter, ranks)
        yield Setup(spec, device, options, benchmark, embedder)
