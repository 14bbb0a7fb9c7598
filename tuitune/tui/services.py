"""What the terminal app asks of runs beyond every face's `RunService`: the models the wizard
offers, the memory the training screen draws, and a worker log read as it grows.

Nothing here imports textual or torch, so the same calls work from tests and scripts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tuitune.bundled import DEMO_MODEL
from tuitune.service.runs import QueueState, RunService
from tuitune.store.run_queue import PAUSED

if TYPE_CHECKING:
    from tuitune.system.gpu import GpuReading

__all__ = ["AppService", "LogFollower", "MemoryReading", "gpu_memory"]

# The GPU and RAM readings, huggingface_hub and psutil are imported by the calls that use them:
# the app imports this module at start and draws its first screen without them.


@dataclass(frozen=True)
class MemoryReading:
    """What the training screen shows as memory: a GPU's, or the worker's RAM on a CPU box."""

    label: str  # "GPU 0 (NVIDIA H100)" or "worker RAM"
    used_gb: float | None
    total_gb: float | None
    utilization_percent: float | None = None


class AppService(RunService):
    """The run service with what only the app shows."""

    # --- what the wizard offers -----------------------------------------------------------
    def known_models(self) -> list[tuple[str, str]]:
        """(model, where it comes from): the demo, the local HF cache, and earlier runs."""
        seen: dict[str, str] = {DEMO_MODEL: "built-in demo, trains in seconds on a CPU"}
        for repo in cached_hub_models():
            seen.setdefault(repo, "in the local Hugging Face cache")
        for run in self.store.list_runs(limit=500):
            seen.setdefault(run.model, f"used by run {run.id}")
        return list(seen.items())

    # --- what the history shows first ------------------------------------------------------
    def queue_if_waiting(self, places: dict[int, tuple[int, int]]) -> QueueState | None:
        """The queue's state when runs wait in it (`places`) or it may be paused, else None: there is
        nothing to say about it then. Read from the store first, as `queue_state` imports the
        engine (the config models, psutil) and the history's first frame does without them."""
        if places or self.store.setting(PAUSED) is not None:
            return self.queue_state()
        return None

    # --- the machine --------------------------------------------------------------------
    def memory_reading(self, pid: int | None, devices: str | None = None) -> MemoryReading | None:
        """The memory and utilisation of the run's GPUs (NVML), else the worker's resident memory."""
        try:
            from tuitune.system.gpu import gpus

            readings = gpus()
        except Exception:  # no NVML, no driver, or the system layer not installed
            readings = []
        if readings:
            return gpu_memory(readings, devices)
        if pid:
            return MemoryReading(label="worker RAM", used_gb=process_ram_gb(pid), total_gb=total_ram_gb())
        return None


def gpu_memory(readings: list[GpuReading], devices: str | None) -> MemoryReading:
    """What the run's GPUs hold together: those it was given (`devices`, "2,3"), else GPU 0, where
    a run given no GPU in particular trains."""
    wanted = {int(part) for part in (devices or "").split(",") if part.strip().isdigit()} or {0}
    used = [gpu for gpu in readings if gpu.index in wanted] or readings[:1]
    utilizations = [gpu.utilization_percent for gpu in used if gpu.utilization_percent is not None]
    if len(used) == 1:
        label = f"GPU {used[0].index} {used[0].name}"
    else:
        label = f"GPUs {','.join(str(gpu.index) for gpu in used)} {used[0].name}"
    return MemoryReading(
        label=label,
        used_gb=sum(gpu.memory_used_gb for gpu in used),
        total_gb=sum(gpu.memory_total_gb for gpu in used),
        utilization_percent=sum(utilizations) / len(utilizations) if utilizations else None,
    )


def cached_hub_models() -> list[str]:
    """Model repos in the local Hugging Face cache; [] when there is none or it cannot be read."""
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir()
    except Exception:  # no cache folder yet, or a corrupted one: offer nothing rather than fail
        return []
    return sorted(repo.repo_id for repo in info.repos if repo.repo_type == "model")


def process_ram_gb(pid: int) -> float | None:
    try:
        from tuitune.system.memory import process_memory_gb

        return process_memory_gb(pid)
    except Exception:
        pass
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 1024**3
    except Exception:  # the worker exited between two readings
        return None


def total_ram_gb() -> float | None:
    try:
        import psutil

        return psutil.virtual_memory().total / 1024**3
    except Exception:
        return None


class LogFollower:
    """Reads a growing log file from where it stopped last time (never the whole file again)."""

    def __init__(self, path: Path, *, start_tail_bytes: int = 16_384) -> None:
        self.path = path
        self._offset: int | None = None
        self._partial = ""
        self._start_tail = start_tail_bytes
        self._skip_first = False

    def read_new_lines(self) -> list[str]:
        """Complete lines appended since the last call (the first call: the file's tail)."""
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return []
        if self._offset is None:
            self._offset = max(0, size - self._start_tail)
            self._skip_first = self._offset > 0  # we start mid-line
        if size < self._offset:  # truncated or replaced: start again
            self._offset, self._partial = 0, ""
        if size == self._offset:
            return []
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read(size - self._offset)
        self._offset = size
        text = self._partial + chunk.decode("utf-8", errors="replace")
        # Progress bars rewrite their line with carriage returns; keep the latest state of each.
        lines = text.split("\n")
        self._partial = lines.pop()
        if self._skip_first and lines:
            lines, self._skip_first = lines[1:], False
        return [line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r") for line in lines]
