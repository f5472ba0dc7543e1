"""Time a full `mars-zoo run` of all three tasks on the mini benchmark, on one CPU core.

    python benchmarks/bench_mini_run.py [--repeats 3] [--model openclip/tiny-random]

Each repeat is a fresh process pinned to one core (`taskset`-like affinity, one
thread per pool) with an empty embedding cache, so it includes the model load and
every embedding; the mini benchmark itself is generated once beforehand. Prints the
median, min and max wall time and exits 1 when the median is not under the target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_S = 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="openclip/tiny-random")
    args = parser.parse_args(argv)

    core = min(os.sched_getaffinity(0))
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, "-m", "mars_zoo", "run", args.model, "--benchmark", "mini", "--no-cache",
               "--device", "cpu", "--workers", "0"]

    def pin() -> None:  # runs in the child, before exec
        os.sched_setaffinity(0, {core})

    timings = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        subprocess.run([*command, "--tasks", "landform", "--out", out], env=env, check=True,
                       capture_output=True, preexec_fn=pin)  # generates the mini benchmark once
        for _ in range(args.repeats):
            started = time.perf_counter()
            subprocess.run([*command, "--out", out], env=env, check=True, capture_output=True, preexec_fn=pin)
            timings.append(time.perf_counter() - started)
    median = statistics.median(timings)
    print(f"{args.model}, all three tasks on the mini benchmark, one core ({core}), {args.repeats} runs")
    print(f"wall time (s): median {median:.1f}, min {min(timings):.1f}, max {max(timings):.1f}; "
          f"target under {TARGET_S:.0f} s: {'ok' if median < TARGET_S else 'MISSED'}")
    return 0 if median < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
