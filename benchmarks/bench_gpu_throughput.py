"""Does the harness keep a GPU busy? Images/s of SigLIP2 ViT-L/16-512 (random weights)
through `Embedder.images` against a bare forward loop on the same batches, then the same
harness run on every GPU of the machine through torchrun.

    python benchmarks/bench_gpu_throughput.py [--tiles 20000] [--batch-size 64] [--repeats 2]
    python benchmarks/bench_gpu_throughput.py --arch mars-zoo-tiny-random --px 64 --tiles 64 \\
        --batch-size 16 --repeats 1 --nproc 2          # the CPU check (seconds)

The model is open_clip's architecture `--arch` built with random weights (no download),
with its real evaluation transform; weights stay fp32 and the forward runs under autocast
in `--precision` (bf16 on CUDA), exactly as the harness runs a bf16 model. The gallery is
`--tiles` synthetic PNG tiles of `--px` pixels in tar shards (`bench_data_path`'s writer).

- Harness: `Embedder.images` with an empty cache and a model spec whose loader returns the
  already built model as an `OpenClipEncoder` (the openclip plugin's encoder), with the
  harness's DataLoader workers (`--workers`, default the harness's own for the device).
  Timed: reading, decoding, transforming, the forward, the checks and the cache writes.
- Bare loop: a plain DataLoader over the same tiles (each read with one `os.pread` at the
  offset `tarfile` lists), the same transform, the same batches and workers, the same
  forward under the same autocast, each batch's embeddings copied to the host; no cache.
- torchrun: `torch.distributed.run --standalone --nproc-per-node N` starts this script in
  worker mode; every rank embeds its share of the cache shards through the harness's
  distributed path (`mars_zoo.embedding.distributed`: shards listed by rank 0, dealt out, all ranks
  waiting for each other). Skipped with fewer than 2 GPUs (on the CPU, `--nproc 2` runs it
  with gloo, as a check of the path). Each rank gets the cores / N decoding workers, at
  most --workers.

GPU utilisation is sampled every 0.1 s during each side (pynvml if importable, else
`nvidia-smi`), "n/a" on the CPU; peak memory is `torch.cuda.max_memory_allocated`. Sides
are timed in turn within each of --repeats rounds; medians are printed, with the CPU time
and load average. Ends with a summary block for benchmarks/README.md. Exits non-zero on
any error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from bench_data_path import batches, cpu_seconds, tar_members, write_gallery

from mars_zoo.embedding.cache import DEFAULT_SHARD_SIZE
from mars_zoo.core.errors import MarsZooError

DEFAULT_ARCH = "ViT-L-16-SigLIP2-512"
DISTINCT_TILES = 1000  # tiles generated and encoded; the rest repeat their bytes
SEED = 0


# ---------------------------------------------------------------- model


def build_model(arch: str, device: str):
    """(model in fp32 on `device`, eval transform) of open_clip architecture `arch`,
    random weights. `mars-zoo-tiny-random` is the openclip plugin's tiny architecture."""
    import open_clip
    import torch
    from mars_zoo_openclip.encoder import TINY_ARCHITECTURE, TINY_CONFIG, _quiet_open_clip

    if arch == TINY_ARCHITECTURE:
        open_clip.add_model_config(TINY_CONFIG)
    if arch not in open_clip.list_models():
        raise MarsZooError(f"--arch {arch!r} is not an open_clip architecture; pass one of open_clip.list_models() "
                           f"(e.g. {DEFAULT_ARCH}, ViT-B-32) or {TINY_ARCHITECTURE}.")
    torch.manual_seed(SEED)
    with _quiet_open_clip():
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None)
    return model.to(device).eval(), preprocess


def bench_spec(arch: str, encoder):
    """A model spec whose loader hands the harness the already built `encoder`."""
    import open_clip

    from mars_zoo.models.model import ModelSpec

    return ModelSpec(name=f"bench/{arch}", family="bench", checkpoint=arch, loader=lambda spec, device, precision: encoder,
                     modalities=("image",), embedding_dim=open_clip.get_model_config(arch)["embed_dim"],
                     random_weights=True, plugin="bench")


def warm_up(model, preprocess, px: int, batch_size: int, device: str, precision: str) -> None:
    """One forward before any timing: CUDA context, kernels and allocator caches."""
    import torch
    from PIL import Image

    from mars_zoo.embedding.embed import autocast

    image = preprocess(Image.new("RGB", (px, px)))
    with torch.inference_mode(), autocast(device, precision):
        model.encode_image(image.expand(batch_size, *image.shape).to(device)).float().cpu()


# ---------------------------------------------------------------- GPU telemetry


class GpuSampler:
    """Mean utilisation (%) of the given GPUs, sampled every 0.1 s in a thread while in
    the `with` block; `mean` is None on the CPU or when neither pynvml nor nvidia-smi works."""

    def __init__(self, indices: list[int]) -> None:
        self.indices = indices
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._read = self._reader() if indices else None

    def _reader(self):
        try:
            import pynvml

            pynvml.nvmlInit()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in self.indices]
            return lambda: [pynvml.nvmlDeviceGetUtilizationRates(h).gpu for h in handles]
        except Exception:  # not installed, or no NVML: fall back to nvidia-smi
            if shutil.which("nvidia-smi") is None:
                return None
            command = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                       f"--id={','.join(map(str, self.indices))}"]
            return lambda: [float(x) for x in subprocess.run(command, capture_output=True, text=True,
                                                             check=True).stdout.split()]

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            try:
                values = self._read()
            except Exception:
                continue
            if values:
                self.samples.append(sum(values) / len(values))

    def __enter__(self) -> "GpuSampler":
        if self._read is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


def gib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 2**30:.2f} GiB"


def reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)


def peak(device: str) -> float | None:
    import torch

    return float(torch.cuda.max_memory_allocated(device)) if device.startswith("cuda") else None


def gpu_indices(device: str, count: int = 1) -> list[int]:
    import torch

    if not device.startswith("cuda"):
        return []
    first = torch.device(device).index or 0
    return list(range(first, first + count))


# ---------------------------------------------------------------- the two sides


def harness_side(source, spec, cache_parent: Path, shard_size: int, options, ranks=None) -> tuple[float, int, float]:
    """(wall seconds, images this process embedded, its own embedding seconds) of one
    `Embedder.images` over the gallery with an empty cache."""
    from mars_zoo.embedding.cache import EmbeddingCache
    from mars_zoo.data.types import DatasetRef
    from mars_zoo.embedding.distributed import Ranks
    from mars_zoo.embedding.embed import Embedder
    from mars_zoo.core.reporting import Reporter

    ranks = ranks or Ranks()
    embedder = Embedder(spec, "0", options, EmbeddingCache(cache_parent, shard_size), Reporter(), ranks)
    ranks.wait_for_all()
    started = time.perf_counter()
    embedder.images(source, DatasetRef("bench", "0", None, "bench"), "tiles", in_memory=False)
    wall = time.perf_counter() - started
    return wall, embedder.stats.items["image"], embedder.stats.seconds["image"]


class TarTiles:
    """The bare loop's dataset: tile i read with one `os.pread` from its tar shard, decoded
    and transformed."""

    def __init__(self, members, transform) -> None:
        self.members = members
        self.transform = transform
        self.fds: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, index: int):
        from PIL import Image

        _, shard, offset, size = self.members[index]
        fd = self.fds.get(shard)
        if fd is None:
            fd = self.fds[shard] = os.open(shard, os.O_RDONLY)
        return self.transform(Image.open(io.BytesIO(os.pread(fd, size, offset))).convert("RGB"))


def bare_side(members, model, preprocess, args) -> float:
    import torch
    from torch.utils.data import DataLoader

    from mars_zoo.embedding.embed import autocast

    loader = DataLoader(TarTiles(members, preprocess), batch_sampler=batches(len(members), args.batch_size, args.shard_size),
                        num_workers=args.workers, pin_memory=args.device.startswith("cuda"))
    started = time.perf_counter()
    for batch in loader:
        with torch.inference_mode(), autocast(args.device, args.precision):
            model.encode_image(batch.to(args.device, non_blocking=True)).float().cpu()
    return time.perf_counter() - started


# ---------------------------------------------------------------- torchrun


def worker(args) -> int:
    """One torchrun rank: embed its share of the gallery through the harness's distributed
    path; rank 0 writes every rank's figures to --worker-report."""
    import torch

    from mars_zoo.core.atomic import atomic_write_bytes
    from mars_zoo.data.tile_gallery import read_tile_gallery
    from mars_zoo.embedding.distributed import environment_ranks, process_group, rank_device
    from mars_zoo.embedding.environment import check_precision
    from mars_zoo.core.reporting import Reporter
    from mars_zoo.pipeline.settings import embed_options
    from mars_zoo_openclip.encoder import OpenClipEncoder

    ranks = environment_ranks()
    with process_group(ranks):
        device = rank_device(args.device, ranks)
        if device.startswith("cuda"):
            torch.cuda.set_device(device)
        check_precision(args.precision, device)
        model, preprocess = build_model(args.arch, device)
        spec = bench_spec(args.arch, OpenClipEncoder(model, preprocess, None, device))
        options = embed_options(spec, device, args.precision, args.batch_size, args.workers)
        warm_up(model, preprocess, args.px, args.batch_size, device, args.precision)
        source = read_tile_gallery(args.gallery, "bench", True, Reporter(), args.gallery.parent / "index").images
        reset_peak(device)
        wall, items, seconds = harness_side(source, spec, args.cache, args.shard_size, options, ranks)
        figures = ranks.gather({"rank": ranks.rank, "device": device, "images": items, "seconds": seconds,
                                "wall": wall, "peak": peak(device)})
        if ranks.leader:
            atomic_write_bytes(args.worker_report, json.dumps(figures).encode("utf-8"))
    return 0


def torchrun_side(args, nproc: int, workers: int, gallery: Path, cache: Path, report: Path) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               str(Path(__file__).resolve()), "--worker-report", str(report), "--gallery", str(gallery),
               "--cache", str(cache), "--arch", args.arch, "--px", str(args.px), "--batch-size",
               str(args.batch_size), "--workers", str(workers),
               "--device", args.device, "--precision", args.precision, "--shard-size", str(args.shard_size)]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise MarsZooError(f"torchrun with {nproc} processes failed (exit {completed.returncode}):\n"
                           f"{completed.stdout[-3000:]}{completed.stderr[-6000:]}")


# ---------------------------------------------------------------- main


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=20000)
    parser.add_argument("--px", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None,
                        help="DataLoader workers (default: the harness's default for the device)")
    parser.add_argument("--arch", default=DEFAULT_ARCH)
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--precision", default=None, help="default: bf16 on CUDA, fp32 on the CPU")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE,
                        help="embedding-cache shard size (the unit torchrun ranks share out; default the harness's)")
    parser.add_argument("--nproc", type=int, default=None,
                        help="torchrun processes (default: every GPU; on the CPU give it to check the path)")
    parser.add_argument("--skip-torchrun", action="store_true")
    parser.add_argument("--worker-report", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--gallery", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tiles < 1 or args.batch_size < 1 or args.repeats < 1 or args.shard_size < 1 or args.px < 16:
        parser.error("--tiles, --batch-size, --repeats and --shard-size must be at least 1, --px at least 16")
    return args


def resolve_device(args) -> None:
    import torch

    from mars_zoo.embedding.environment import check_precision, default_workers

    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise MarsZooError(f"--device {args.device}: torch {torch.__version__} sees no CUDA device here. "
                           f"Fix: run on a GPU machine, or pass --device cpu with a small --arch.")
    args.precision = args.precision or ("bf16" if args.device.startswith("cuda") else "fp32")
    check_precision(args.precision, args.device)
    if args.workers is None:
        args.workers = default_workers(args.device)


def measure(args) -> list[str]:
    """Runs every side and returns the summary lines."""
    import torch

    from mars_zoo.data.tile_gallery import read_tile_gallery
    from mars_zoo.core.reporting import Reporter
    from mars_zoo.pipeline.settings import embed_options
    from mars_zoo_openclip.encoder import OpenClipEncoder

    gpu = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else f"none (CPU: {platform.processor() or platform.machine()})"
    print(f"{args.arch}, random weights, {args.precision} autocast on {args.device} ({gpu}); {args.tiles} tiles of "
          f"{args.px} px, batch {args.batch_size}, {args.workers} DataLoader workers, {os.cpu_count()} cores, "
          f"medians of {args.repeats}; torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mars-zoo-bench-gpu-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        write_gallery(root / "tiles", args.tiles, args.px, distinct=DISTINCT_TILES)
        source = read_tile_gallery(root / "tiles", "bench", True, Reporter(), root / "index").images
        members = tar_members(root / "tiles")
        if [name for name, *_ in members] != list(source.ids):
            raise MarsZooError("the bare loop's tar listing differs from the harness's gallery")
        print(f"gallery written and indexed in {time.perf_counter() - started:.1f} s", flush=True)

        started = time.perf_counter()
        model, preprocess = build_model(args.arch, args.device)
        encoder = OpenClipEncoder(model, preprocess, None, args.device)
        spec = bench_spec(args.arch, encoder)
        options = embed_options(spec, args.device, args.precision, args.batch_size, args.workers)
        warm_up(model, preprocess, args.px, args.batch_size, args.device, args.precision)
        parameters = sum(p.numel() for p in model.visual.parameters())
        print(f"image tower: {parameters / 1e6:.1f}M parameters, built and warmed up in "
              f"{time.perf_counter() - started:.1f} s", flush=True)

        sides = {"harness": [], "bare": []}  # (wall, cpu, utilisation, peak) per repeat
        for repeat in range(args.repeats):
            for name in sides:
                reset_peak(args.device)
                before = cpu_seconds()
                with GpuSampler(gpu_indices(args.device)) as sampler:
                    if name == "harness":
                        wall = harness_side(source, spec, root / f"cache-{repeat}", args.shard_size, options)[0]
                    else:
                        wall = bare_side(members, model, preprocess, args)
                sides[name].append((wall, cpu_seconds() - before, sampler.mean, peak(args.device)))
                print(f"  round {repeat + 1} {name}: {args.tiles / wall:.1f} images/s", flush=True)

        rates, lines = {}, []
        for name, runs in sides.items():
            rates[name] = args.tiles / statistics.median(wall for wall, *_ in runs)
            utilisation = [u for _, _, u, _ in runs if u is not None]
            peaks = [p for *_, p in runs if p is not None]
            lines.append(f"{name}: {rates[name]:.1f} images/s, GPU utilisation "
                         f"{percent(statistics.median(utilisation) if utilisation else None)}, peak memory "
                         f"{gib(max(peaks) if peaks else None)}, CPU {statistics.median(c for _, c, *_ in runs):.1f} s")
        lines.append(f"harness / bare: {rates['harness'] / rates['bare']:.2f}")
        for line in lines:
            print(line, flush=True)
        del model, encoder, spec
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
        lines += torchrun_lines(args, root)
    return [f"{dt.date.today().isoformat()}, {gpu}, {args.arch} {args.precision}, {args.tiles} tiles of {args.px} px, "
            f"batch {args.batch_size}, {args.workers} workers, {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f}", *lines]


def torchrun_lines(args, root: Path) -> list[str]:
    import torch

    if args.skip_torchrun:
        return ["torchrun: skipped (--skip-torchrun)"]
    nproc = args.nproc if args.nproc is not None else (
        torch.cuda.device_count() if args.device.startswith("cuda") else 0)
    if nproc < 2:
        line = (f"torchrun: skipped: {torch.cuda.device_count()} GPU(s) here, it needs at least 2"
                if args.device.startswith("cuda") else "torchrun: skipped on the CPU (pass --nproc 2 to check the path)")
        print(line, flush=True)
        return [line]
    # the machine's cores shared among the ranks, each at most --workers
    workers = max(1, min(args.workers, (os.cpu_count() or 1) // nproc)) if args.workers else 0
    report = root / "torchrun.json"
    with GpuSampler(gpu_indices(args.device, nproc)) as sampler:
        torchrun_side(args, nproc, workers, root / "tiles", root / "cache-torchrun", report)
    ranks = json.loads(report.read_text(encoding="utf-8"))
    wall = max(rank["wall"] for rank in ranks)
    shards = -(-args.tiles // args.shard_size)
    lines = [f"torchrun, {nproc} processes ({workers} DataLoader workers each), {shards} cache shards of "
             f"{args.shard_size}: {args.tiles / wall:.1f} "
             f"images/s in total, GPU utilisation {percent(sampler.mean)} (mean over the GPUs)"]
    lines += [f"  rank {r['rank']} on {r['device']}: {r['images']} images, "
              f"{r['images'] / r['seconds'] if r['seconds'] else 0:.1f} images/s, peak memory {gib(r['peak'])}"
              for r in ranks]
    if sum(r["images"] for r in ranks) != args.tiles:
        raise MarsZooError(f"the ranks embedded {sum(r['images'] for r in ranks)} images, not {args.tiles}")
    for line in lines:
        print(line, flush=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        if args.worker_report is not None:
            return worker(args)
        resolve_device(args)
        summary = measure(args)
    except MarsZooError as exc:
        print(f"bench_gpu_throughput: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a failed GPU run must say why, then exit non-zero
        traceback.print_exc()
        print(f"bench_gpu_throughput: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("\n--- summary for benchmarks/README.md ---")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
