"""Several processes embedding into one cache: torch.distributed ranks started by torchrun.

Under `torchrun --nproc-per-node N [--nnodes M --rdzv-endpoint HOST:PORT] -m mars_zoo run ...`
every rank opens the same benchmark and walks through the same cache entries in the same
order. For each entry, rank 0 lists the shards still missing and hands that list to every
rank, so all ranks agree on it whatever they see on a shared file system meanwhile; rank r
then computes the r-th, (r + N)-th, ... of them, so every missing shard is computed by
exactly one rank, and a rerun with any number of ranks computes only what is still missing.
All ranks wait for each other before the entry is read, so rank 0 scores only complete
entries and writes the one result file; the other ranks only embed.

The process group carries only these small control messages (gloo, also between GPU
ranks): the embeddings travel through the cache folder, which must be shared by all ranks.
Outside torchrun (no WORLD_SIZE) nothing here imports torch.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any, Callable

from mars_zoo.errors import MarsZooError

# Long enough for the slowest rank to finish its last shard of a huge model.
COLLECTIVE_TIMEOUT = dt.timedelta(hours=2)


@dataclass(frozen=True)
class Ranks:
    """This process's place among the ranks (world_size 1: a plain single-process run)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

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
    """The ranks torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK)."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise MarsZooError(
            f"WORLD_SIZE, RANK and LOCAL_RANK must be integers ({exc}); start several ranks with "
            f"torchrun or `mars-zoo run --nproc N`, which set them."
        ) from None
    return Ranks(rank, world_size, local_rank)


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
        return f"cuda:{ranks.local_rank}"
    return device
