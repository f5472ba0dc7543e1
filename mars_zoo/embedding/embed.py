"""Turning images and texts into cached, checked, L2-normalised embeddings.

The model is loaded only when some shard is missing from the cache, so re-scoring
a finished run makes no model call at all. Batches never cross shard boundaries,
and each shard is written as soon as it is complete. Which cache entry answers for
which embeddings is decided in one place, `entry_identity`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from mars_zoo.models.boundary import check_hint, load_encoder, model_subject, plugin_call
from mars_zoo.embedding.cache import CLEAR_HINT, CacheEntry, EmbeddingCache, ShardedRows
from mars_zoo.models.checks import BatchChecker
from mars_zoo.data.image_sources import many
from mars_zoo.data.images import PUBLISHED_PREPARATION
from mars_zoo.data.types import DatasetRef, ImageSource, ids_sha256
from mars_zoo.embedding.distributed import Ranks
from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.model import Encoder, ModelSpec, device_kind
from mars_zoo.core.reporting import Reporter


@dataclass(frozen=True)
class EmbedOptions:
    device: str = "cpu"
    precision: str = "fp32"
    batch_size: int = 64
    workers: int = 0
    seed: int = 0


def entry_identity(
    spec: ModelSpec,
    plugin_code: str,
    options: EmbedOptions,
    modality: str,
    ids: Sequence[str],
    dataset: DatasetRef | None = None,
    preprocessing: str | None = None,
    subset: str | None = None,
    instruction: str | None = None,
) -> dict[str, Any]:
    """The identity of the cache entry holding the embeddings of `ids`: everything that
    decides them, as it runs. Two computations share an entry exactly when all of it agrees,
    so an entry answers only for what it is.

    The model and its weights (the checkpoint's revision, or own weights' sha256); the code
    of the plugin that computes them (`mars_zoo.models.plugin_code`: its content, not its version
    number, which an edit leaves unchanged); the device kind and the dtypes of weights and
    computation (`ModelSpec.run_dtypes`, known before loading); the preprocessing; the
    dataset, its revision, split and subset; and the item ids in order (for texts, the texts
    themselves). The shard layout is no part of it: the entry's manifest records it. A model
    whose loader loads base weights from another repository (`ModelSpec.base_repo`) is keyed by
    their commit too (the field is absent for the others, so their keys stay as they were). The task
    instruction handed to the encoder (`Encoder.with_instruction`; "" is one too) keys it likewise,
    absent where none was handed.
    """
    weights_dtype, compute_dtype = spec.run_dtypes(options.device, options.precision)
    base = {"base": [spec.base_repo, spec.base_revision]} if spec.base_repo else {}
    instructed = {"instruction": instruction} if instruction is not None else {}
    return {
        "model": spec.name,
        "checkpoint": spec.checkpoint,
        "revision": spec.evaluated_revision,  # own weights: their sha256
        **base,
        "plugin": spec.plugin,
        "plugin_code": plugin_code,
        "device": device_kind(options.device),
        "weights_dtype": weights_dtype,
        "compute_dtype": compute_dtype,
        "modality": modality,
        "preprocessing": preprocessing,
        "dataset": dataset.id if dataset else None,
        "dataset_revision": dataset.revision if dataset else None,
        "split": dataset.split if dataset else None,
        "subset": subset,
        "items_sha256": ids_sha256(ids),
        **instructed,
    }


class LazyEncoder:
    """Loads the model on first use and counts the model calls made."""

    def __init__(self, spec: ModelSpec, options: EmbedOptions, reporter: Reporter) -> None:
        self.spec = spec
        self.options = options
        self.reporter = reporter
        self._encoder: Encoder | None = None
        self.load_seconds = 0.0

    def get(self) -> Encoder:
        if self._encoder is None:
            import torch

            self.reporter.info(f"loading {self.spec.name} on {self.options.device} ...")
            # Seeded here, not at the start of the run: torch is imported only when
            # something is embedded, so a run served from the cache never loads it.
            torch.manual_seed(self.options.seed)
            started = time.perf_counter()
            self._encoder = load_encoder(self.spec, self.options.device, self.options.precision)
            self.load_seconds = time.perf_counter() - started
        return self._encoder


def autocast(device: str, precision: str):
    """Reduced precision through autocast, so weights stay fp32 and results of
    different precisions come from the same loaded model."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


class _TransformedImages:
    """Map-style dataset read a batch at a time (`__getitems__`, which DataLoader calls with
    a batch's indices): the batch's images are read together (streamed from their tar shard
    for a tile gallery), then decoded and transformed in the workers, where the DataLoader
    also collates them, so the main process receives one tensor per batch."""

    def __init__(self, source: ImageSource, transform: Callable | None, spec: ModelSpec) -> None:
        self.source = source
        self.transform = transform
        self.spec = spec

    def __len__(self) -> int:
        return len(self.source)

    def __getitems__(self, indices: list[int]) -> list[Any]:
        images = many(self.source, indices)
        if self.transform is None:
            return images
        transformed = []
        for index, image in zip(indices, images):
            with plugin_call(f"The image_transform of model {self.spec.name!r} (plugin {self.spec.plugin or '?'})",
                             f"on image {self.source.ids[index]!r}", check_hint(self.spec)):
                transformed.append(self.transform(image))
        return transformed


def _without_worker_traceback(exc: MarsZooError) -> MarsZooError:
    """A MarsZooError raised in a DataLoader worker comes back with the worker's
    traceback pasted into its message; keep the user-facing last line only."""
    message = str(exc)
    if "Original Traceback" not in message:
        return exc
    last = message.strip().splitlines()[-1]
    return type(exc)(last.split(": ", 1)[1] if ": " in last else last)


def _collate_list(batch: list) -> list:
    return batch


_PR_SET_PDEATHSIG = 1  # prctl option, <linux/prctl.h>


def _exit_with_parent(parent: int, worker_id: int) -> None:
    """DataLoader `worker_init_fn`: a worker dies with the run that started it. After a
    killed run (SIGKILL, the OOM killer) torch's own check ends a worker's loop, but the
    worker then hangs at exit, forever, on batches nobody reads. On Linux the kernel kills
    the worker when the thread that started it (the run's main thread) dies; a worker whose
    parent was gone before that was set exits here."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


@contextlib.contextmanager
def _clean_worker_errors() -> Iterator[None]:
    try:
        yield
    except MarsZooError as exc:
        cleaned = _without_worker_traceback(exc)
        if cleaned is exc:
            raise
        raise cleaned from None


@dataclass
class EmbedStats:
    """Model calls and timings, for the result file and for tests."""

    calls: dict[str, int] = field(default_factory=lambda: {"image": 0, "text": 0})
    items: dict[str, int] = field(default_factory=lambda: {"image": 0, "text": 0})
    seconds: dict[str, float] = field(default_factory=lambda: {"image": 0.0, "text": 0.0})


class Embedder:
    """Embeds item lists for one model, through the cache."""

    def __init__(
        self,
        spec: ModelSpec,
        plugin_code: str,
        options: EmbedOptions,
        cache: EmbeddingCache,
        reporter: Reporter,
        ranks: Ranks = Ranks(),
    ) -> None:
        """`plugin_code`: the content hash of the code of the plugin that registered `spec`
        (`Registry.plugin_code`)."""
        self.spec = spec
        self.ranks = ranks
        self.plugin_code = plugin_code
        self.options = options
        self.cache = cache
        self.reporter = reporter
        self.encoder = LazyEncoder(spec, options, reporter)
        self.check = BatchChecker(spec)
        self.stats = EmbedStats()
        self.entry_dims: dict[Path, tuple[str, int]] = {}  # folder -> (modality, dimension) of entries read

    def _prepared(self, modality: str, ids: Sequence[str], **data: Any) -> tuple[CacheEntry, list[int]]:
        """The cache entry of these embeddings and the shards of it this rank computes: all
        missing ones in a single process; with several ranks, its share of the list rank 0
        made (see `mars_zoo.embedding.distributed`). Rank 0 also opens the entry for every rank, so
        all of them use the layout its manifest records."""

        def survey() -> tuple[CacheEntry, list[int]]:
            fields = entry_identity(self.spec, self.plugin_code, self.options, modality, ids, **data)
            entry = self.cache.entry(fields, len(ids))
            return entry, entry.missing(self.reporter.warn)

        entry, missing = self.ranks.share(survey)
        return entry, self.ranks.mine(missing)

    def images(
        self,
        source: ImageSource,
        dataset: DatasetRef,
        label: str,
        preprocessing: str = "none",
        subset: str | None = None,
        in_memory: bool = True,
        instruction: str | None = None,
    ) -> "np.ndarray | ShardedRows":
        """Embeddings [N, D] of every image of `source`, in order.

        `subset` names a part of the dataset whose ids are only unique within it
        (the query images of one landform), so that it is part of the cache key.
        With `in_memory=False` the result is a lazy view over the cache shards, for a
        gallery that search reads chunk by chunk. With `instruction` the images are embedded by
        `Encoder.with_instruction(instruction)`.
        """
        entry, mine = self._prepared(
            "image", list(source.ids), dataset=dataset, preprocessing=preprocessing, subset=subset,
            instruction=instruction,
        )
        if mine:
            self._run_images(source, entry, mine, label, preprocessing, instruction)
        self._wait_for_all_shards(entry)
        return self._agreeing(entry, "image", entry.read() if in_memory else entry.rows())

    def texts(self, texts: Sequence[str], label: str, instruction: str | None = None) -> np.ndarray:
        """Embeddings [N, D] of `texts`, in order; the texts themselves are the ids. With
        `instruction`, embedded by `Encoder.with_instruction(instruction)`."""
        entry, mine = self._prepared("text", list(texts), instruction=instruction)
        if mine:
            self._run_texts(list(texts), entry, mine, label, instruction)
        self._wait_for_all_shards(entry)
        return self._agreeing(entry, "text", entry.read())

    def _agreeing(self, entry: CacheEntry, modality: str, embeddings: Any) -> Any:
        """`embeddings`, once their dimension is found to agree with the model's declared
        one and with every entry read before: all of them are scored against each other,
        and an entry written by other code of the plugin may hold another dimension."""
        if not len(embeddings):
            return embeddings
        dim = embeddings.shape[1]
        others = {folder: seen for folder, seen in self.entry_dims.items() if seen[1] != dim}
        declared = self.spec.embedding_dim
        if others or (declared is not None and dim != declared):
            described = "; ".join(
                f"{folder} holds {seen_dim}-dimensional {seen_modality} embeddings"
                for folder, (seen_modality, seen_dim) in [(entry.directory, (modality, dim)), *others.items()]
            )
            stated = f", which declares embedding_dim {declared}," if declared is not None else ""
            raise MarsZooError(
                f"Model {self.spec.name!r}{stated} would be scored with cached embeddings of another "
                f"dimension: {described}. An entry written by other code of the plugin, or a damaged "
                f"one, is stale. {CLEAR_HINT}"
            )
        self.entry_dims[entry.directory] = (modality, dim)
        return embeddings

    def _wait_for_all_shards(self, entry: CacheEntry) -> None:
        """Returns once every rank has written its shards of `entry`; rank 0 records them
        all as verified, so the next run need not read them."""
        written = self.ranks.gather(entry.written)
        if self.ranks.leader:
            entry.record_written({name: record for part in written for name, record in part.items()})

    def _batches(self, entry: CacheEntry, shards: list[int]) -> list[list[int]]:
        """Index batches of at most batch_size that never cross a shard boundary."""
        batches = []
        for shard in shards:
            start, stop = entry.shard_range(shard)
            batches += [
                list(range(s, min(s + self.options.batch_size, stop)))
                for s in range(start, stop, self.options.batch_size)
            ]
        return batches

    def instructed(self, instruction: str | None) -> Encoder:
        """The loaded encoder, or with `instruction` the one `with_instruction` gives (behind the
        plugin boundary: a plugin's own failure there is reported as its fault)."""
        encoder = self.encoder.get()
        if instruction is None:
            return encoder
        with plugin_call(model_subject(self.spec), f"in with_instruction({instruction!r})", check_hint(self.spec)):
            return encoder.with_instruction(instruction)

    def image_transform(self, preprocessing: str, encoder: Encoder | None = None) -> Callable | None:
        """The encoder's transform for images prepared by `preprocessing`: task 1's prepared
        images get its `paired_image_transform` where it has one (see `Encoder`)."""
        encoder = encoder or self.encoder.get()
        paired = getattr(encoder, "paired_image_transform", None)
        if preprocessing == PUBLISHED_PREPARATION and paired is not None:
            return paired
        return getattr(encoder, "image_transform", None)

    def _run_images(
        self, source: ImageSource, entry: CacheEntry, shards: list[int], label: str, preprocessing: str,
        instruction: str | None = None,
    ) -> None:
        import torch
        from torch.utils.data import DataLoader

        encoder = self.instructed(instruction)
        transform = self.image_transform(preprocessing, encoder)
        on_cuda = torch.device(self.options.device).type == "cuda"
        loader = DataLoader(
            _TransformedImages(source, transform, self.spec),
            batch_sampler=self._batches(entry, shards),
            num_workers=self.options.workers,
            collate_fn=None if transform is not None else _collate_list,
            pin_memory=on_cuda and transform is not None,
            worker_init_fn=functools.partial(_exit_with_parent, os.getpid()),
        )

        def encode(batch: Any) -> Any:
            if isinstance(batch, torch.Tensor):
                batch = batch.to(self.options.device, non_blocking=True)
            return encoder.encode_image(batch)

        self._run(entry, shards, loader, encode, "image", label)

    def _run_texts(self, texts: list[str], entry: CacheEntry, shards: list[int], label: str,
                   instruction: str | None = None) -> None:
        encoder = self.instructed(instruction)
        batches = ([texts[i] for i in batch] for batch in self._batches(entry, shards))
        self._run(entry, shards, batches, encoder.encode_text, "text", label)

    def _run(
        self,
        entry: CacheEntry,
        shards: list[int],
        batches: Iterator[Any],
        encode: Callable[[Any], Any],
        modality: str,
        label: str,
    ) -> None:
        import torch

        total = sum(entry.shard_range(s)[1] - entry.shard_range(s)[0] for s in shards)
        pending = iter(shards)
        shard = next(pending)
        parts: list[np.ndarray] = []
        filled = 0
        started = time.perf_counter()
        with self.reporter.progress(f"embedding {label}", total) as advance, _clean_worker_errors():
            for batch in batches:
                rows = len(batch)
                with torch.inference_mode(), autocast(self.options.device, self.options.precision), \
                        plugin_call(model_subject(self.spec), f"in encode_{modality} on a batch of {rows} "
                                    f"{modality}s", check_hint(self.spec)):
                    output = encode(batch)
                self.stats.calls[modality] += 1
                parts.append(self.check(output, rows, modality).numpy())
                filled += rows
                advance(rows)
                start, stop = entry.shard_range(shard)
                if filled == stop - start:
                    entry.write(shard, np.concatenate(parts))
                    parts, filled = [], 0
                    shard = next(pending, None)
        if shard is not None:
            raise MarsZooError(f"Embedding {label} stopped before shard {shard} was complete.")
        self.stats.items[modality] += total
        self.stats.seconds[modality] += time.perf_counter() - started
