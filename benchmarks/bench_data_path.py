"""Does the harness's data path keep up? Tiles/s through `Embedder.images` with a null model
against a bare decode-transform-batch loop over the same tiles with as many processes.

    python benchmarks/bench_data_path.py [--tiles 3000] [--px 256] [--batch-size 64] [--repeats 3]

Writes a synthetic tile gallery (smooth noise PNGs of --px pixels, tar shards of 1,000)
and opens it as a run does (`read_tile_gallery`). The transform, the same on both sides,
is a plain resize to 224 px, float tensor and normalisation.

- Harness: `Embedder.images` on the gallery with an empty cache and a null model, whose
  `encode_image` returns a correctly shaped embedding and does nothing else. So what is
  timed is the harness's whole data path: its tar reading (streamed per batch), decoding,
  transform, collation into one batch tensor, and its bookkeeping (output checks, cache
  shard writes). With one process all of it runs in this process (no workers); with N,
  in N DataLoader workers (forked, prefetching, each batch handed to this process as one
  tensor through shared memory).
- Bare loop: what any plain batching loop must do with the same tiles. The tiles' byte
  ranges come from `tarfile` (listed before timing); each tile is read with one `os.pread`,
  decoded with `Image.open(...).convert("RGB")`, transformed, and each batch (the
  harness's batches: --batch-size tiles, never across a cache shard) is stacked into one
  tensor with `torch.stack`, which is then dropped. With one process it runs in this
  process; with N, the batches are dealt round-robin (as DataLoader deals them) to a
  forked pool of N processes, which drop their batch tensors instead of sending them back.

Each count of processes (1, 2 and every core) is timed --repeats times, both sides in turn
within each repeat, so load on a shared machine slows both alike. Prints the median tiles/s
of each side, their CPU time (this process and its finished children) and the load
average, and the harness/bare ratio with its target (at least 0.90), met or missed. torch
runs one thread per process on both sides (as in DataLoader workers). Exits non-zero when a
target is missed.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import resource
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from mars_zoo.embedding.cache import DEFAULT_SHARD_SIZE

TARGET = 0.90
DIM = 64


def transform(image):
    import torch

    pixels = np.asarray(image.resize((224, 224)), dtype=np.float32) / 255.0
    return (torch.from_numpy(pixels).permute(2, 0, 1) - 0.5) / 0.25


class NullEncoder:
    image_transform = staticmethod(transform)

    def encode_image(self, images):
        import torch

        return torch.ones((len(images), DIM))


def null_spec():
    from mars_zoo.models.model import ModelSpec

    return ModelSpec(name="bench/null", family="bench", checkpoint="none", loader=lambda spec, device, precision: NullEncoder(),
                     modalities=("image",), embedding_dim=DIM, random_weights=True, plugin="bench")


def write_gallery(folder: Path, tiles: int, px: int, distinct: int | None = None) -> None:
    """`tiles` smooth-noise PNG tiles in tar shards of 1,000. With `distinct`, only that many
    are generated and encoded and the rest repeat their bytes under names of their own: a
    large gallery is written in seconds, and every tile is still read and decoded alone."""
    from mars_zoo.data import hub_format
    from mars_zoo.data.tile_names import tile_name

    rng = np.random.default_rng(0)
    encoded: list[bytes] = []

    def tile(i):
        name = tile_name(-180 + (i % 3600) / 10, -90 + (i // 3600) / 10)
        if distinct and i >= distinct:
            return name, encoded[i % distinct]
        coarse = rng.integers(0, 256, (px // 16, px // 16), dtype=np.uint8)
        pixels = np.kron(coarse, np.ones((16, 16), dtype=np.uint8)) + rng.integers(0, 8, (px, px), dtype=np.uint8)
        data = hub_format.encode_image(pixels)
        if distinct:
            encoded.append(data)
        return name, data

    hub_format.write_tile_shards(folder, (tile(i) for i in range(tiles)), shard_size=1000)


def tar_members(folder: Path) -> list[tuple[str, str, int, int]]:
    """(name, shard path, data offset, size) of every tile, in gallery order, from `tarfile`."""
    members = []
    for shard in sorted(folder.glob("*.tar")):
        with tarfile.open(shard) as tar:
            members += [(m.name, str(shard), m.offset_data, m.size) for m in tar if m.isfile()]
    return members


def batches(tiles: int, batch_size: int, shard_size: int = DEFAULT_SHARD_SIZE) -> list[range]:
    """The harness's batches: `batch_size` tiles, never across a cache shard."""
    return [range(start, min(start + batch_size, shard_start + shard_size, tiles))
            for shard_start in range(0, tiles, shard_size)
            for start in range(shard_start, min(shard_start + shard_size, tiles), batch_size)]


def _bare_batches(args) -> int:
    import torch
    from PIL import Image

    members, my_batches = args
    fds: dict[str, int] = {}
    for batch in my_batches:
        tiles = []
        for index in batch:
            _, shard, offset, size = members[index]
            fd = fds.get(shard)
            if fd is None:
                fd = fds[shard] = os.open(shard, os.O_RDONLY)
            tiles.append(transform(Image.open(io.BytesIO(os.pread(fd, size, offset))).convert("RGB")))
        torch.stack(tiles)
    for fd in fds.values():
        os.close(fd)
    return len(my_batches)


def bare_seconds(members, processes: int, batch_size: int) -> float:
    dealt = batches(len(members), batch_size)
    started = time.perf_counter()
    if processes == 1:
        _bare_batches((members, dealt))
    else:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            pool.map(_bare_batches, [(members, dealt[p::processes]) for p in range(processes)])
    return time.perf_counter() - started


def harness_seconds(source, processes: int, cache_root: Path, batch_size: int) -> float:
    from mars_zoo.embedding.cache import EmbeddingCache
    from mars_zoo.data.types import DatasetRef
    from mars_zoo.embedding.embed import Embedder, EmbedOptions
    from mars_zoo.core.reporting import Reporter

    options = EmbedOptions(device="cpu", batch_size=batch_size, workers=0 if processes == 1 else processes)
    with tempfile.TemporaryDirectory(dir=cache_root) as cache:  # empty: everything is embedded
        embedder = Embedder(null_spec(), "0", options, EmbeddingCache(Path(cache)), Reporter())
        started = time.perf_counter()
        embedder.images(source, DatasetRef("bench", "0", None, "bench"), "tiles", in_memory=False)
        return time.perf_counter() - started


def cpu_seconds() -> float:
    """User + system time of this process and of its children that have finished."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(measure) -> tuple[float, float]:
    """(wall seconds as `measure` reports them, CPU seconds of the whole call)."""
    before = cpu_seconds()
    wall = measure()
    return wall, cpu_seconds() - before


def main(argv: list[str] | None = None) -> int:
    from mars_zoo.data.tile_gallery import read_tile_gallery
    from mars_zoo.core.reporting import Reporter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=3000)
    parser.add_argument("--px", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import torch

    # One torch thread per process, as in DataLoader workers: on tensors this small, more
    # threads only wait for each other (and for the CPU, on a shared machine).
    torch.set_num_threads(1)
    met = True
    with tempfile.TemporaryDirectory(prefix="mars-zoo-bench-data-") as tmp:
        root = Path(tmp)
        write_gallery(root / "tiles", args.tiles, args.px)
        source = read_tile_gallery(root / "tiles", "bench", True, Reporter(), root / "cache").images
        members = tar_members(root / "tiles")
        if [name for name, *_ in members] != list(source.ids):
            raise SystemExit("the bare loop's tar listing differs from the harness's gallery")
        print(f"{args.tiles} tiles of {args.px} px, batch {args.batch_size}, medians of {args.repeats}, "
              f"{os.cpu_count()} cores")
        for processes in sorted({1, 2, os.cpu_count() or 1}):
            harness, bare = [], []
            for _ in range(args.repeats):
                harness.append(timed(lambda: harness_seconds(source, processes, root, args.batch_size)))
                bare.append(timed(lambda: bare_seconds(members, processes, args.batch_size)))
            harness_rate = args.tiles / statistics.median(wall for wall, _ in harness)
            bare_rate = args.tiles / statistics.median(wall for wall, _ in bare)
            ratio = harness_rate / bare_rate
            met = met and ratio >= TARGET
            print(f"{processes} process(es): harness {harness_rate:.0f} tiles/s "
                  f"(CPU {statistics.median(cpu for _, cpu in harness):.2f} s), bare {bare_rate:.0f} tiles/s "
                  f"(CPU {statistics.median(cpu for _, cpu in bare):.2f} s), ratio {ratio:.2f} "
                  f"(target at least {TARGET}: {'met' if ratio >= TARGET else 'MISSED'}), "
                  f"load average {os.getloadavg()[0]:.1f}")
    print("ok" if met else "MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
