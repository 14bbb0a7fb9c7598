"""Before a chat model loads: does it fit in the memory that is free (a training run may hold the GPU)?"""

from __future__ import annotations

from tuitune.errors import TuituneError

GIB = 1024**3
# Weights are most of it; activations and the key/value cache of a chat add a little.
_OVERHEAD = 1.2


class ChatMemoryError(TuituneError):
    """The model would not fit in the free memory of the device it would load on."""


def bytes_per_parameter(device: str, quantized_4bit: bool) -> float:
    if quantized_4bit:
        return 0.55  # NF4 weights, plus the layers kept in 16 bits
    return 4.0 if device == "cpu" else 2.0


def free_memory_gb(device: str) -> float | None:
    """Free memory of `device` (`cpu`, `cuda`, `cuda:N`), as the whole machine sees it (NVML, psutil)."""
    if device == "cpu":
        from tuitune.system.memory import system_memory

        return system_memory().available_gb
    from tuitune.system.gpu import gpus

    index = int(device.split(":", 1)[1]) if ":" in device else 0
    readings = {reading.index: reading for reading in gpus()}
    return readings[index].memory_free_gb if index in readings else None


def check_fits(what: str, parameters: int, device: str, *, quantized_4bit: bool = False) -> float:
    """The GB `what` needs on `device`; ChatMemoryError when more than is free."""
    needed = parameters * bytes_per_parameter(device, quantized_4bit) * _OVERHEAD / GIB
    free = free_memory_gb(device)
    if free is not None and needed > free:
        if device == "cpu":
            raise ChatMemoryError(
                f"{what} needs about {needed:.1f} GB to chat, but this machine has {free:.1f} GB of RAM free: "
                "free some memory, or chat on a GPU (--device cuda)."
            )
        gpu = device.split(":")[-1] if ":" in device else "0"
        raise ChatMemoryError(
            f"{what} needs about {needed:.1f} GB to chat, but GPU {gpu} has {free:.1f} GB free (a training run may be "
            "using it): wait for that run to finish, or chat on another GPU (--device cuda:N) or on the CPU (--device cpu)."
        )
    return needed
