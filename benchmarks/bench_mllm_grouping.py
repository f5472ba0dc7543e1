"""What grouping by length saves an MLLM embedder: padding, and time on the tiny model.

    python benchmarks/bench_mllm_grouping.py [--repeats 5] [--model gme/tiny-random] [--batch-size N]

The texts are those a mini run embeds (task 1 captions, then the prompt-templated
landform queries of tasks 2 and 3), shuffled with a fixed seed so that each
harness batch mixes short and long ones, cut into harness batches of the model's
batch size. For every batch the script counts the tokens the model runs over when
the whole batch is padded to its longest prompt, and when it is split by
`length_groups`. Then it times `encode_text` over all batches both ways (the
median, min and max of `--repeats` runs, on one CPU core). The tiny model is so
small that per-call overhead dominates its time: the padding figures are the ones
that carry over to a full-size model, where cost grows with the tokens run.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402

from mars_zoo.data.mini import ensure_mini  # noqa: E402
from mars_zoo.core.folders import default_cache_dir  # noqa: E402
from mars_zoo.core.protocol import GEO_LANDFORMS, PROMPT_TEMPLATES  # noqa: E402
from mars_zoo.models.registry import load_registry  # noqa: E402
from mars_zoo_mllm.encoder import length_groups  # noqa: E402


def mini_texts() -> list[str]:
    pairs = ensure_mini(default_cache_dir()) / "Mars-VL-Pairs-MTEB"
    captions = [c for f in sorted(pairs.rglob("*.parquet")) for c in pq.read_table(f)["refined_caption"].to_pylist()]
    queries = [t.format(name.replace("_", " ")) for t in PROMPT_TEMPLATES for name in GEO_LANDFORMS]
    texts = captions + queries
    random.Random(0).shuffle(texts)
    return texts


def padded_tokens(lengths: list[int], groups: list[list[int]]) -> int:
    return sum(len(g) * max(lengths[i] for i in g) for g in groups)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="gme/tiny-random")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the model's")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    spec = load_registry().get(args.model)
    encoder = spec.load("cpu", "fp32")
    texts = mini_texts()
    size = args.batch_size or spec.batch_size
    batches = [texts[i : i + size] for i in range(0, len(texts), size)]

    real = whole = grouped = 0
    for batch in batches:
        prompts = encoder.text_prompts(batch)
        lengths = [len(ids) for ids in encoder.processor.tokenizer(prompts)["input_ids"]]
        real += sum(lengths)
        whole += padded_tokens(lengths, [list(range(len(batch)))])
        grouped += padded_tokens(lengths, length_groups([len(p) for p in prompts], encoder.group_tolerance))
    print(f"{args.model}: {len(texts)} texts in {len(batches)} batches of {size}")
    print(f"tokens run, whole batch padded : {whole:8d}  ({whole / real - 1:6.1%} padding)")
    print(f"tokens run, grouped by length  : {grouped:8d}  ({grouped / real - 1:6.1%} padding)")

    def timed(tolerance: float) -> list[float]:
        encoder.group_tolerance = tolerance
        runs = []
        with torch.inference_mode():
            for _ in range(args.repeats + 1):  # the first run warms up
                start = time.perf_counter()
                for batch in batches:
                    encoder.encode_text(batch)
                runs.append(time.perf_counter() - start)
        return runs[1:]

    for label, tolerance in (("whole batch", float("inf")), ("grouped", 1.25)):
        runs = timed(tolerance)
        print(f"encode_text, {label:11s}: median {statistics.median(runs):.3f} s "
              f"(min {min(runs):.3f}, max {max(runs):.3f}, {args.repeats} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
