"""Several processes embedding into one cache: torch.distributed ranks started by torchrun.

Under `torchrun --nproc-per-node N [--nnodes M --rdzv-endpoint HOST:PORT] -m mars_zoo run ...`
every rank opens the same benchmark and walks through the same cache entries in the same
order. For each entry, rank 0 lists the shards still missing and hands that list to every
rank, so all ranks agree on it whatever they see on a shared file system meanwhile; rank r
then computes the r-th, (r + N)-th, ... of them, so every missing shard is computed by
exactly one rank, and a rerun with any number of ranks computes only what is still missing.
All ranks wait for each other before the entry is read, so rank 0 scores only complete
entries and writes the one result file; the other ranks only embed.

Ranks are told apart by RANK (global) and placed on a GPU by LOCAL_RANK (within their
node); GROUP_RANK is their node's rank, which the result records for each rank.

The process group carries only these small control messages (gloo, also between GPU
ranks): the embeddings travel through the cache folder, which must be shared by all ranks.
Outside torchrun (no WORLD_SIZE) nothing here imports torch.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mars_zoo.atomic import atomic_write_bytes
from mars_zoo.errors import MarsZooError

# Long enough for the slowest rank to finish its last shard of a huge model.
COLLECTIVE_TIMEOUT = dt.timedelta(hours=2)


@dataclass(frozen=True)
class Ranks:
    """This process's place among the ranks (world_size 1: a plain single-process run)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    node: int = 0
    local_world_size: int = 1  # ranks on this node, which share its cores

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def share(self, make: Callable[[], Any]) -> Any:
        """`make()` computed on rank 0 and handed to every rank."""
        if not self.distributed:
            return make()
        import torch.distributed as dist

        box = [make() if self.leader else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's `value`, in rank order, on every rank."""
        if not self.distributed:
            return [value]
        import torch.distributed as dist

        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def wait_for_all(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def mine(self, items: list) -> list:
        """This rank's share of `items`: every world_size-th one from position `rank`."""
        return items[self.rank :: self.world_size]


def environment_ranks() -> Ranks:
    """The ranks torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK,
    GROUP_RANK, LOCAL_WORLD_SIZE)."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
        node = int(os.environ.get("GROUP_RANK", "0"))
        local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    except ValueError as exc:
        raise MarsZooError(
            f"WORLD_SIZE, RANK, LOCAL_RANK, GROUP_RANK and LOCAL_WORLD_SIZE must be integers ({exc}); start several ranks "
            f"with torchrun or `mars-zoo run --nproc N`, which set them."
        ) from None
    return Ranks(rank, world_size, local_rank, node, max(1, local_world_size))


def join(ranks: Ranks) -> Ranks:
    """Joins the process group of a torchrun launch (no-op for a single process)."""
    if ranks.distributed:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo", timeout=COLLECTIVE_TIMEOUT)
    return ranks


def leave(ranks: Ranks) -> None:
    if ranks.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def rank_device(device: str, ranks: Ranks) -> str:
    """Each rank of a node on its own GPU: 'cuda' becomes cuda:LOCAL_RANK."""
    if ranks.distributed and device == "cuda":
        import torch

        count = torch.cuda.device_count()
        if ranks.local_rank >= count:
            raise MarsZooError(
                f"Rank {ranks.rank} is process {ranks.local_rank + 1} on node {ranks.node}, which has "
                f"{count} CUDA device(s): each process needs a GPU of its own. Fix: start at most "
                f"{count} processes per node (--nproc {count}, or torchrun --nproc-per-node {count})."
            )
        return f"cuda:{ranks.local_rank}"
    return device


def check_shared_folder(ranks: Ranks, folder: Path) -> None:
    """Refuses a run whose ranks do not share `folder` (the embedding cache), where they
    hand each other their embeddings: rank 0 leaves a file in its folder and every rank
    looks for it in its own, so different paths and unshared disks are both caught."""
    if not ranks.distributed:
        return
    marker = folder / ranks.share(lambda: f".shared-by-ranks-{uuid.uuid4().hex}")
    if ranks.leader:
        atomic_write_bytes(marker, b"")
    ranks.wait_for_all()
    seen = ranks.gather((marker.exists(), str(folder), ranks.node))  # returns once every rank looked
    if ranks.leader:
        marker.unlink(missing_ok=True)
    blind = [f"rank {rank} (node {node}, {where})" for rank, (found, where, node) in enumerate(seen) if not found]
    if blind:
        raise MarsZooError(
            f"The ranks do not share one cache folder: {', '.join(blind)} cannot see the file rank 0 "
            f"wrote in its cache folder {seen[0][1]}. The ranks hand each other their embeddings "
            f"through that folder. Fix: pass every rank the same --cache-dir DIR, on a file system "
            f"all nodes share."
        )
