"""Facts about the machine a result was produced on, and device selection."""

from __future__ import annotations

import platform

from mars_zoo.errors import MarsZooError
from mars_zoo.model import PRECISIONS

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str) -> str:
    """'auto' means CUDA when torch sees a GPU, else the CPU; asking for CUDA
    without one is a user error, not a silent fallback."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise MarsZooError(
            f"--device {requested} was asked for, but torch sees no CUDA device (torch "
            f"{torch.__version__}, CUDA build {torch.version.cuda or 'none'}). Use --device cpu or "
            f"--device auto, or install a CUDA build of torch."
        )
    if requested not in DEVICES and not requested.startswith("cuda:"):
        raise MarsZooError(f"Unknown --device {requested!r}; use one of {', '.join(DEVICES)} or cuda:N.")
    if requested.startswith("cuda:"):
        index = requested.removeprefix("cuda:")
        count = torch.cuda.device_count()
        if not index.isdigit() or int(index) >= count:
            raise MarsZooError(
                f"--device {requested}: torch sees {count} CUDA device(s), numbered 0 to {count - 1}."
            )
    return requested


def check_precision(precision: str, device: str) -> None:
    if precision not in PRECISIONS:
        raise MarsZooError(f"Unknown --precision {precision!r}; use one of {', '.join(PRECISIONS)}.")
    if precision == "fp16" and not device.startswith("cuda"):
        raise MarsZooError("--precision fp16 needs a CUDA device; on the CPU use fp32 or bf16.")


def _cpu_name() -> str:
    """The CPU model (platform.processor() is empty on most Linux systems)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def describe(device: str) -> dict[str, str | None]:
    import torch

    if device.startswith("cuda"):
        device_name = torch.cuda.get_device_name(torch.device(device))
    else:
        device_name = _cpu_name()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.startswith("cuda") else None,
        "device_name": device_name,
    }
