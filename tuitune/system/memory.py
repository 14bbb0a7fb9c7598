"""RAM readings through psutil: this machine's, and one process's resident memory."""

from __future__ import annotations

import os
from dataclasses import dataclass

# psutil (~20 ms to import) loads when memory is first read, not with this module: importing
# tuitune.system's readings stays cheap for a face that may never show them.
GIB = 1024**3


@dataclass(frozen=True)
class MemoryReading:
    """The machine's RAM in GiB."""

    total_gb: float
    available_gb: float
    used_gb: float
    percent: float


def system_memory() -> MemoryReading:
    """This machine's RAM: total, available (what new allocations can get), used."""
    import psutil

    memory = psutil.virtual_memory()
    return MemoryReading(
        total_gb=memory.total / GIB,
        available_gb=memory.available / GIB,
        used_gb=(memory.total - memory.available) / GIB,
        percent=float(memory.percent),
    )


def system_memory_gb() -> float:
    """This machine's total RAM in GiB."""
    return system_memory().total_gb


def process_memory_gb(pid: int | None = None) -> float | None:
    """Resident memory (RSS) of process `pid` (default: this one) in GiB; None if it is gone."""
    import psutil

    try:
        return psutil.Process(pid if pid is not None else os.getpid()).memory_info().rss / GIB
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


__all__ = ["MemoryReading", "process_memory_gb", "system_memory", "system_memory_gb"]
