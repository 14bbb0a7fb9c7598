"""GPU readings through NVML, whole-device like nvidia-smi and nvitop; [] where NVML is absent."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from tuitune.errors import UsageError

# pynvml is imported when NVML is first asked for: it may be missing (no NVIDIA driver or package),
# and `tuitune --help` imports this module without reading a GPU.
GIB = 1024**3

_lock = threading.Lock()
_nvml_ready: bool | None = None  # None: not tried yet; False: no NVML here (never retried)


@dataclass(frozen=True)
class GpuReading:
    """One GPU at one moment. Memory in GiB (what nvidia-smi shows in MiB, divided by 1024)."""

    index: int
    name: str
    memory_total_gb: float
    memory_used_gb: float
    utilization_percent: float | None  # None where the driver does not report it

    @property
    def memory_free_gb(self) -> float:
        return max(self.memory_total_gb - self.memory_used_gb, 0.0)


def _init() -> bool:
    """Initialise NVML once per process; False (cached) where there is no driver or library."""
    global _nvml_ready
    with _lock:
        if _nvml_ready is None:
            try:
                import pynvml

                pynvml.nvmlInit()
                _nvml_ready = True
            except Exception:  # ImportError, NVMLError_LibraryNotFound/DriverNotLoaded, OSError
                _nvml_ready = False
        return _nvml_ready


def gpus() -> list[GpuReading]:
    """Every GPU NVML sees (all of them, regardless of CUDA_VISIBLE_DEVICES); [] without NVML."""
    if not _init():
        return []
    import pynvml

    readings: list[GpuReading] = []
    for index in range(_gpu_count()):
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        except pynvml.NVMLError:
            continue  # a GPU that fell off the bus or is in a bad state: skip it, keep the rest
        try:
            utilization: float | None = float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except pynvml.NVMLError:
            utilization = None  # e.g. MIG instances do not report it
        readings.append(
            GpuReading(
                index=index,
                name=name.decode() if isinstance(name, bytes) else str(name),
                memory_total_gb=memory.total / GIB,
                memory_used_gb=memory.used / GIB,
                utilization_percent=utilization,
            )
        )
    return readings


def total_vram_gb(index: int = 0) -> float | None:
    """Total memory of GPU `index` (the one a single-process run trains on); None without a GPU."""
    for reading in gpus():
        if reading.index == index:
            return reading.memory_total_gb
    return None


__all__ = ["GIB", "GpuReading", "gpus", "total_vram_gb"]


# What tuitune's own children are told the box has, since a worker's own CUDA_VISIBLE_DEVICES is
# only the GPUs its run was given (and a worker that ends starts the next queued run).
GPUS_ENV = "TUITUNE_GPUS"


def visible_gpus() -> list[str]:
    """The GPU ids runs may be given: `TUITUNE_GPUS`, else `CUDA_VISIBLE_DEVICES`, else every GPU NVML sees."""
    for variable in (GPUS_ENV, "CUDA_VISIBLE_DEVICES"):
        value = os.environ.get(variable)
        if value is not None:
            ids = [part.strip() for part in value.split(",") if part.strip()]
            # CUDA stops at the first invalid id ("-1" hides every GPU).
            valid = []
            for gpu in ids:
                if gpu.startswith("-"):
                    break
                valid.append(gpu)
            return valid
    return [str(index) for index in range(_gpu_count())]


def _gpu_count() -> int:
    """How many GPUs NVML sees, without reading each one's memory and load (the queue asks often)."""
    if not _init():
        return 0
    import pynvml

    try:
        return int(pynvml.nvmlDeviceGetCount())
    except pynvml.NVMLError:
        return 0


def check_gpus(wanted: list[str] | None) -> list[str]:
    """GPU ids a user asked for, checked against the machine's."""
    if not wanted:
        return []
    available = visible_gpus()
    if not available:
        raise UsageError(
            "--gpus was given, but this machine has no GPU tuitune can see: leave it out to train on the CPU."
        )
    unknown = [gpu for gpu in wanted if gpu not in available]
    if unknown:
        raise UsageError(f"GPU {', '.join(unknown)} is not on this machine: choose among {', '.join(available)}.")
    if len(set(wanted)) != len(wanted):
        raise UsageError(f"--gpus names a GPU twice ({','.join(wanted)}).")
    return wanted
