"""This machine and how tuitune lives on it: where it keeps its things (`paths`), how it starts its
own child processes (`child`), whether the Hugging Face Hub is reachable (`hub`), and readings of
GPUs through NVML (`gpu`) and RAM through psutil (`memory`).

Cheap to import and to call (no torch), so the TUI can poll them; where there is no NVIDIA
driver every GPU reading is simply empty. The readings are imported on first use, so a module
that needs only `paths` does not load NVML and psutil.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuitune.system.gpu import GpuReading, gpus, total_vram_gb
    from tuitune.system.memory import MemoryReading, process_memory_gb, system_memory, system_memory_gb

_READINGS = {
    "GpuReading": "tuitune.system.gpu",
    "gpus": "tuitune.system.gpu",
    "total_vram_gb": "tuitune.system.gpu",
    "MemoryReading": "tuitune.system.memory",
    "process_memory_gb": "tuitune.system.memory",
    "system_memory": "tuitune.system.memory",
    "system_memory_gb": "tuitune.system.memory",
}


def __getattr__(name: str) -> Any:
    if name in _READINGS:
        return getattr(importlib.import_module(_READINGS[name]), name)
    raise AttributeError(f"module 'tuitune.system' has no attribute {name!r}")


__all__ = [
    "GpuReading",
    "MemoryReading",
    "gpus",
    "process_memory_gb",
    "system_memory",
    "system_memory_gb",
    "total_vram_gb",
]
