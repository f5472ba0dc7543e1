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

A rank that stops (killed, crashed, or refused with a `MarsZooError`) loses nothing
finished: every shard is published atomically, so a rerun with any number of ranks
computes only the rest. The ranks still running then find their collective broken, which
is `RanksLost`, not a bug. `mars-zoo run --nproc N` runs torch's elastic launcher in its own
process (`launch`): each rank records its error paragraph in the error file the launcher
gives it (TORCHELASTIC_ERROR_FILE) instead of printing it, and the launcher says once
why the run stopped: the rank's own paragraph, or which rank died and how to resume.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from mars_zoo.core.atomic import atomic_write_bytes
from mars_zoo.core.errors import MarsZooError, RanksLost

# Long enough for the slowest rank to finish its last shard of a huge model.
COLLECTIVE_TIMEOUT = dt.timedelta(hours=2)
LAUNCHED_ENV = "MARS_ZOO_NPROC_LAUNCH"  # set for the ranks that `mars-zoo run --nproc` starts
ERROR_FILE_ENV = "TORCHELASTIC_ERROR_FILE"  # where torchrun asks a rank to record why it failed
LOST_GRACE_S = 30.0  # how long a rank that lost the others waits for the launcher to stop it
RESUME = ("The embeddings finished so far are kept in the cache{where}. Fix: rerun the same command to "
          "resume, with any number of ranks (any --nproc): only the missing embeddings are computed.")


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
        with self._collective():
            dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's `value`, in rank order, on every rank."""
        if not self.distributed:
            return [value]
        import torch.distributed as dist

        values: list[Any] = [None] * self.world_size
        with self._collective():
            dist.all_gather_object(values, value)
        return values

    def wait_for_all(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            with self._collective():
                dist.barrier()

    @contextlib.contextmanager
    def _collective(self) -> Iterator[None]:
        """A collective fails (gloo: "Connection closed by peer", a timeout) when another
        rank stopped: that rank's own output says why; this one says what it means."""
        try:
            yield
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:200]
            raise RanksLost(
                f"Rank {self.rank} of {self.world_size} lost the other ranks ({type(exc).__name__}: {detail}): "
                f"another rank stopped, and its own output says why. {RESUME.format(where='')}"
            ) from exc

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


@contextlib.contextmanager
def process_group(ranks: Ranks, backend: str = "gloo") -> Iterator[None]:
    """The block as a member of a torchrun launch's process group (no-op for a single
    process). A block that succeeds waits for every rank before leaving; one that fails
    leaves at once (a barrier would wait for ranks busy in another collective), and the
    others then find their next collective broken (`RanksLost`) instead of hanging.
    `backend` is torch's: gloo carries the harness's small messages; a block that also
    trains through DDP on GPUs asks for "cpu:gloo,cuda:nccl"."""
    if not ranks.distributed:
        yield
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    try:
        yield
        ranks.wait_for_all()
    finally:
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


def report_failure(message: str, exit_code: int, lost: bool) -> bool:
    """In a rank under torchrun, record this rank's error paragraph in the error file
    torchrun gave it (`lost`: the rank only lost the others). Returns whether the rank's
    launcher is `mars-zoo run --nproc`, which then says it once for all ranks.

    There, a rank that only lost the others waits to be stopped: the rank that stopped
    first is still ending (its process group is closed before its interpreter is), and
    the launcher names the first rank it sees ended as the cause."""
    path = os.environ.get(ERROR_FILE_ENV)
    if not path:
        return False
    record = {"message": message, "timestamp": int(time.time()),
              "mars_zoo": {"exit_code": exit_code, "lost": lost}}  # torchrun reads the first two
    atomic_write_bytes(Path(path), json.dumps(record).encode("utf-8"))
    launched = bool(os.environ.get(LAUNCHED_ENV))
    if launched and lost:
        time.sleep(LOST_GRACE_S)  # the launcher stops this rank (SIGTERM) once it sees the other end
    return launched


def launch(nproc: int, command: list[str], cache_dir: Path, resume: str | None = None) -> int:
    """`python -m mars_zoo COMMAND` on `nproc` ranks of this machine, through torch's
    elastic launcher (torchrun `--standalone`: a free local rendezvous port) run in this
    process, so that a failed run ends with one paragraph (`_stopped`), not torchrun's
    traceback. `cache_dir` is where the finished embeddings are kept; `resume` says how to
    resume a command that keeps its work elsewhere."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = parse_args(["--standalone", f"--nproc-per-node={nproc}", "-m", "mars_zoo", *command])
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)  # the launcher logs each failure in lines our paragraph replaces
    os.environ[LAUNCHED_ENV] = "1"  # the ranks inherit it
    try:
        run(args)
    except ChildFailedError as exc:
        raise _stopped(exc.failures, nproc, resume or RESUME.format(where=f" ({cache_dir})")) from None
    except SignalException as exc:  # Ctrl-C (or a kill) of the launcher, which stopped the ranks
        raise KeyboardInterrupt from exc
    finally:
        os.environ.pop(LAUNCHED_ENV, None)
        logging.disable(previous)
    return 0


def _stopped(failures: dict, nproc: int, resume: str) -> MarsZooError:
    """Why the ranks stopped, from torchrun's failures by rank: the paragraph a rank
    recorded, or which rank died and how. The ranks the launcher stopped after the first
    failure (SIGTERM) and those that only lost the others are not the cause."""
    def recorded(failure) -> dict | None:
        data = failure.error_file_data
        return data.get("mars_zoo") if isinstance(data, dict) else None

    causes = {rank: failure for rank, failure in sorted(failures.items())
              if -failure.exitcode != signal.SIGTERM and not (recorded(failure) or {}).get("lost")}
    causes = causes or dict(sorted(failures.items()))
    for failure in causes.values():
        if recorded(failure):
            error = MarsZooError(failure.message)
            error.exit_code = recorded(failure)["exit_code"]
            return error
    deaths = " and ".join(f"rank {rank} (pid {failure.pid}) {_death(failure)}" for rank, failure in causes.items())
    return RanksLost(
        f"The run on {nproc} ranks stopped: {deaths}; the launcher stopped the other ranks. {resume}"
    )


def _death(failure) -> str:
    if failure.exitcode < 0:
        return f"was killed by signal {failure.signal_name()}"
    return f"exited with code {failure.exitcode}"
