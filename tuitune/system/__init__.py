"""Readings of this machine: GPUs through NVML (nvidia-ml-py) and RAM through psutil.

Cheap to import and to call (no torch), so the TUI can poll them; where there is no NVIDIA
driver every GPU reading is simply empty.
"""

from tuitune.system.gpu import GpuReading, gpus, total_vram_gb
from tuitune.system.memory import MemoryReading, process_memory_gb, system_memory, system_memory_gb

__all__ = [
    "GpuReading",
    "MemoryReading",
    "gpus",
    "process_memory_gb",
    "system_memory",
    "system_memory_gb",
    "total_vram_gb",
]
