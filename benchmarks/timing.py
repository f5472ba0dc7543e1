"""Timing one call, shared by the benchmark scripts: wall time and this process's CPU time
side by side, since on a machine shared with other jobs only the CPU time is steady."""

from __future__ import annotations

import time
from typing import Any, Callable


def timed(function: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall s, CPU s of this process, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result
