"""Facts about the machine a result was produced on, and device selection."""

from __future__ import annotations

import importlib.util
import os
import platform
import sys

from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.model import PRECISIONS

DEVICES = ("auto", "cpu", "cuda")


# Device files that exist wherever a GPU driver torch can use is loaded: NVIDIA's,
# AMD's (ROCm builds of torch report it as CUDA) and WSL's GPU paravirtualisation.
GPU_DRIVER_FILES = ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/kfd", "/dev/dxg")


def gpu_driver_present() -> bool:
    return any(os.path.exists(path) for path in GPU_DRIVER_FILES)


def resolve_device(requested: str) -> str:
    """'auto' means CUDA when torch sees a GPU, else the CPU; asking for CUDA
    without one is a user error, not a silent fallback. On a machine without a GPU
    driver, 'auto' and 'cpu' are answered without importing torch (seconds), so a
    run served from the cache never loads it."""
    if requested == "cpu" or (requested == "auto" and not gpu_driver_present()):
        return "cpu"
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


def default_workers(device: str, processes_on_node: int = 1) -> int:
    """DataLoader workers for image decoding: on CUDA enough to keep the GPU fed, the
    node's cores shared out among its `processes_on_node` ranks (eight ranks of eight
    workers each would crowd a 16-core node); on the CPU none, since decoding would take
    cores from the model itself."""
    if not device.startswith("cuda"):
        return 0
    return max(1, min(8, (os.cpu_count() or 1) // max(1, processes_on_node)))


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


def _torch_version() -> str:
    """torch.__version__ (e.g. 2.5.1+cu121), without the seconds of `import torch` when
    nothing imported it: torch/version.py, which torch itself reads it from, is run
    alone (the installed metadata lacks the build suffix)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.__version__
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return "not installed"
    location = os.path.join(spec.submodule_search_locations[0], "version.py")
    module_spec = importlib.util.spec_from_file_location("_mars_zoo_torch_version", location)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.__version__


def describe(device: str) -> dict[str, str | None]:
    cuda = None
    if device.startswith("cuda"):
        import torch

        device_name = torch.cuda.get_device_name(torch.device(device))
        cuda = torch.version.cuda
    else:
        device_name = _cpu_name()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": _torch_version(),
        "cuda": cuda,
        "device_name": device_name,
    }
