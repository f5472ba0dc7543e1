"""Does the harness's data path keep up? Tiles/s through `Embedder.images` with a null model
against a bare decode-and-transform loop over the same tiles with as many processes.

    python benchmarks/bench_data_path.py [--tiles 3000] [--px 256] [--repeats 3]

Writes a synthetic tile gallery (smooth noise PNGs of --px pixels, tar shards of 1,000)
and opens it as a run does (`read_tile_gallery`). The null model's `image_transform` is a
plain resize to 224 px, float tensor and normalisation; its `encode_image` returns a
correctly shaped embedding and does nothing else, so all that is timed is reading,
decoding, transforming, batching and the harness's bookkeeping (checks, cache writes).
The bare loop decodes and transforms the same tiles with the same transform: in this
process for one process, else split evenly over a multiprocessing pool. Each count of
processes (1, 2 and every core) is timed `--repeats` times in turn with the bare loop;
prints the medians and harness/bare (target at least 0.90). torch runs one thread per
process on both sides.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

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
    from mars_zoo.model import ModelSpec

    return ModelSpec(name="bench/null", family="bench", checkpoint="none", loader=lambda spec, device, precision: NullEncoder(),
                     modalities=("image",), embedding_dim=DIM, random_weights=True, plugin="bench")


def write_gallery(folder: Path, tiles: int, px: int) -> None:
    from mars_zoo.data import hub_format
    from mars_zoo.data.tile_names import tile_name

    rng = np.random.default_rng(0)

    def tile(i):
        coarse = rng.integers(0, 256, (px // 16, px // 16), dtype=np.uint8)
        pixels = np.kron(coarse, np.ones((16, 16), dtype=np.uint8)) + rng.integers(0, 8, (px, px), dtype=np.uint8)
        return tile_name(-180 + (i % 3600) / 10, -90 + (i // 3600) / 10), hub_format.encode_image(pixels)

    hub_format.write_tile_shards(folder, (tile(i) for i in range(tiles)), shard_size=1000)


def _bare_share(args) -> int:
    source, indices = args
    for index in indices:
        transform(source[index])
    return len(indices)


def bare_seconds(source, processes: int) -> float:
    indices = list(range(len(source)))
    started = time.perf_counter()
    if processes == 1:
        _bare_share((source, indices))
    else:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            pool.map(_bare_share, [(source, indices[p::processes]) for p in range(processes)])
    return time.perf_counter() - started


def harness_seconds(source, processes: int, cache_root: Path, batch_size: int) -> float:
    from mars_zoo.cache import EmbeddingCache
    from mars_zoo.data.types import DatasetRef
    from mars_zoo.embed import Embedder, EmbedOptions
    from mars_zoo.reporting import Reporter

    options = EmbedOptions(device="cpu", batch_size=batch_size, workers=0 if processes == 1 else processes)
    with tempfile.TemporaryDirectory(dir=cache_root) as cache:  # empty: everything is embedded
        embedder = Embedder(null_spec(), "0", options, EmbeddingCache(Path(cache)), Reporter())
        started = time.perf_counter()
        embedder.images(source, DatasetRef("bench", "0", None, "bench"), "tiles", in_memory=False)
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    from mars_zoo.data.tile_gallery import read_tile_gallery
    from mars_zoo.reporting import Reporter

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
        print(f"{args.tiles} tiles of {args.px} px, batch {args.batch_size}, medians of {args.repeats}, "
              f"{os.cpu_count()} cores")
        for processes in sorted({1, 2, os.cpu_count() or 1}):
            harness, bare = [], []
            for _ in range(args.repeats):
                harness.append(harness_seconds(source, processes, root, args.batch_size))
                bare.append(bare_seconds(source, processes))
            harness_rate = args.tiles / statistics.median(harness)
            bare_rate = args.tiles / statistics.median(bare)
            ratio = harness_rate / bare_rate
            met = met and ratio >= TARGET
            print(f"{processes} process(es): harness {harness_rate:.0f} tiles/s, bare {bare_rate:.0f} tiles/s, "
                  f"ratio {ratio:.2f} (target at least {TARGET}), load average {os.getloadavg()[0]:.1f}")
    print("ok" if met else "MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
