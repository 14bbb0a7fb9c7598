"""Before a chat model loads: is its device there, and does the model fit in the memory that is
free (a training run may hold the GPU)? Light: no torch (the chat child checks again with torch)."""

from __future__ import annotations

import os
import re
import sys

from tuitune.errors import TuituneError, UsageError
from tuitune.system.gpu import gpus
from tuitune.text.user_text import excerpt

GIB = 1024**3
# Weights are most of it; activations and the key/value cache of a chat add a little.
_OVERHEAD = 1.2


class ChatMemoryError(TuituneError):
    """The model would not fit in the free memory of the device it would load on."""


class ChatDeviceError(UsageError):
    """The device asked for is not a device, or not one this machine has."""


DEVICE_FORMS = "cpu, cuda, cuda:N (N: a GPU's number), mps or auto"
_DEVICE = re.compile(r"(cpu|mps|auto|cuda)(?::(\d+))?")


def visible_gpu_count() -> int:
    """The GPUs a chat child started from here would see: CUDA_VISIBLE_DEVICES of those NVML counts."""
    count = len(gpus())
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return count
    visible = 0
    for part in value.split(","):
        if not part.strip() or part.strip().startswith("-"):
            break  # CUDA stops at the first id that is not one ("-1" hides every GPU)
        visible += 1
    return min(visible, count)


def mps_possible() -> bool:
    """Apple GPUs exist only on macOS (the chat child asks torch whether this Mac has one)."""
    return sys.platform == "darwin"


def available_devices() -> list[str]:
    gpu_count = visible_gpu_count()
    found = ["cpu"]
    if gpu_count:
        found += ["cuda", *(f"cuda:{index}" for index in range(gpu_count))]
    if mps_possible():
        found.append("mps")
    return found


def check_device(device: str | None) -> str | None:
    """`device` as the chat child takes it (None, or `auto`: the GPU when there is one), or a
    ChatDeviceError naming the devices this machine has."""
    if device is None:
        return None
    here = f"(available here: {', '.join(available_devices())})"
    matched = _DEVICE.fullmatch(device.strip().lower())
    if matched is None or (matched.group(2) is not None and matched.group(1) != "cuda"):
        raise ChatDeviceError(f"Unknown device {excerpt(device)}: use {DEVICE_FORMS} {here}.")
    kind, index = matched.group(1), matched.group(2)
    if kind in ("auto", "cpu"):
        return None if kind == "auto" else "cpu"
    if kind == "mps":
        if not mps_possible():
            raise ChatDeviceError(f"Device mps (an Apple GPU) is not on this machine {here}.")
        return "mps"
    asked = "cuda" if index is None else f"cuda:{int(index)}"
    gpu_count = visible_gpu_count()
    if gpu_count == 0:
        hidden = ", or CUDA_VISIBLE_DEVICES hides them" if os.environ.get("CUDA_VISIBLE_DEVICES") is not None else ""
        raise ChatDeviceError(f"Device {asked} needs a GPU, and there is no GPU here{hidden} {here}.")
    if index is not None and int(index) >= gpu_count:
        plural = "s" if gpu_count > 1 else ""
        raise ChatDeviceError(f"There is no GPU {asked}: this machine shows {gpu_count} GPU{plural} {here}.")
    return asked


def bytes_per_parameter(device: str, quantized_4bit: bool) -> float:
    if quantized_4bit:
        return 0.55  # NF4 weights, plus the layers kept in 16 bits
    return 4.0 if device == "cpu" else 2.0


def free_memory_gb(device: str) -> float | None:
    """Free memory of `device` (`cpu`, `cuda`, `cuda:N`), as the whole machine sees it (NVML, psutil)."""
    if device == "cpu":
        # Imported here: `tuitune --help` imports this module, and only this check reads the RAM.
        from tuitune.system.memory import system_memory

        return system_memory().available_gb

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
