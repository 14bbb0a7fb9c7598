"""The TUI's only door to runs: the store for reading, the launcher for acting.

Screens never touch peewee or spawn workers themselves; they call a `RunService`, usually from a
thread worker, and get the store's dataclasses back. Nothing here imports textual or torch, so the
same calls work from tests and scripts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tuitune.store import (
    RUNNING,
    Artifact,
    Evaluation,
    Event,
    MetricPoint,
    Run,
    Store,
    open_store,
)

if TYPE_CHECKING:
    from tuitune.config import RunConfig
    from tuitune.store.conversations import Conversation
    from tuitune.store.processes import RunProcess
    from tuitune.store.sweeps import Sweep
    from tuitune.system.gpu import GpuReading


@dataclass(frozen=True)
class QueueState:
    """The queue as the history's status line shows it."""

    waiting: int
    slots: int
    paused: bool


@dataclass(frozen=True)
class MemoryReading:
    """What the training screen shows as memory: a GPU's, or the worker's RAM on a CPU box."""

    label: str  # "GPU 0 (NVIDIA H100)" or "worker RAM"
    used_gb: float | None
    total_gb: float | None
    utilization_percent: float | None = None


class RunService:
    """Reads and acts on runs for the TUI; safe to call from worker threads."""

    def __init__(self, store: Store | None = None) -> None:
        self._store = store

    @property
    def store(self) -> Store:
        # Opened on first use, so building the app (e.g. in tests) touches no disk.
        if self._store is None:
            self._store = open_store()
        return self._store

    # --- reading --------------------------------------------------------------------------
    def has_runs(self) -> bool:
        return bool(self.store.list_runs(limit=1))

    def list_runs(self) -> list[Run]:
        return self.store.list_runs()

    def newest_runs(self, limit: int) -> list[Run]:
        return self.store.list_runs(limit=limit)

    def count_runs(self) -> int:
        return self.store.count_runs()

    def active_runs(self) -> list[Run]:
        return self.store.active_runs()

    def get_run(self, run_id: int) -> Run:
        return self.store.get_run(run_id)

    def latest_running(self) -> Run | None:
        """What `t` shows when no run is chosen: the newest running run; with none running, the
        newest one starting (claimed, its worker loading), else the next in the queue's line, else
        the newest run at all. A run waiting in line never hides one that trains."""
        active = self.store.active_runs()  # newest first
        for run in active:
            if run.status == RUNNING:
                return run
        for run in active:
            if not run.in_queue:
                return run
        line = self.store.queued_runs()
        if line:
            return line[0]
        newest = self.store.list_runs(limit=1)
        return newest[0] if newest else None

    def metric_points(self, run_id: int, after_id: int = 0) -> list[MetricPoint]:
        return self.store.metric_points(run_id, after_id=after_id)

    def events(self, run_id: int, after_id: int = 0) -> list[Event]:
        return self.store.events(run_id, after_id=after_id)

    def evaluations(self, run_id: int) -> list[Evaluation]:
        return self.store.evaluations(run_id)

    def artifacts(self, run_id: int) -> list[Artifact]:
        return self.store.artifacts(run_id)

    def latest_scores(self) -> dict[int, float]:
        return self.store.latest_scores("rougeL")

    def resume_step(self, run: Run) -> int | None:
        """The step a resume would start from: its last complete checkpoint's, None when it has none."""
        from tuitune.runs.files import checkpoint_step, last_checkpoint

        if not run.output_dir:
            return None
        try:
            checkpoint = last_checkpoint(Path(run.output_dir))
        except OSError:  # a folder we may not read (or that went away): no checkpoint to claim
            return None
        return checkpoint_step(checkpoint) if checkpoint is not None else None

    def processes(self, run_id: int) -> list[RunProcess]:
        """The ranks of a run's process group, rank 0 first ([] for a single-process run)."""
        return self.store.processes(run_id)

    def log_path(self, run: Run) -> Path:
        from tuitune.runs.files import log_path

        return log_path(run)

    def add_event(self, run_id: int, message: str, level: str = "info") -> None:
        """A line in the run's story (a failed evaluation, merge or upload); a deleted run is skipped."""
        from tuitune.errors import RunNotFoundError

        try:
            self.store.add_event(run_id, message, level=level)
        except RunNotFoundError:
            pass

    # --- acting (through the launcher: the worker is always a detached process) ------------
    def launch(self, config: RunConfig) -> Run:
        from tuitune.engine import launcher

        return launcher.launch(config, store=self.store)

    def cancel(self, run_id: int) -> Run:
        from tuitune.engine import launcher

        return launcher.cancel(self.store.get_run(run_id), store=self.store)

    def resume(self, run_id: int, *, epochs: float | None = None, max_steps: int | None = None) -> Run:
        from tuitune.engine import resume

        return resume.start(self.store.get_run(run_id), epochs=epochs, max_steps=max_steps, store=self.store)

    def delete(self, run_id: int, *, files: bool = False) -> None:
        from tuitune.engine import launcher

        launcher.delete(self.store.get_run(run_id), files=files, store=self.store)

    def reconcile(self) -> list[Run]:
        """Mark runs whose worker vanished as crashed; returns them."""
        from tuitune.engine import queue

        return queue.reconcile(store=self.store)

    # --- the queue and sweeps ------------------------------------------------------------------
    def queue_places(self) -> dict[int, tuple[int, int]]:
        """(place, length of the line) of every run waiting in the queue, by run id."""
        line = self.store.queued_runs()
        return {run.id: (place, len(line)) for place, run in enumerate(line, start=1)}

    def queue_state(self) -> QueueState:
        from tuitune.engine import queue

        return QueueState(len(self.store.queued_runs()), queue.slots(self.store), queue.is_paused(self.store))

    def queue_paused(self) -> bool:
        from tuitune.engine import queue

        return queue.is_paused(self.store)

    def enqueue(self, config: RunConfig) -> Run:
        """Add a run at the end of the queue; it starts at once when a slot is free."""
        from tuitune.engine import queue

        return queue.enqueue(config, store=self.store)

    def move_in_queue(self, run_id: int, to: int) -> int:
        """Move a waiting run to place `to` (1: next to start); returns the place it got."""
        from tuitune.engine import queue

        return queue.move(self.store.get_run(run_id), to, store=self.store)

    def pause_queue(self) -> None:
        from tuitune.engine import queue

        queue.pause(self.store)

    def unpause_queue(self) -> list[Run]:
        """Let the queue move again; returns the runs that started at once."""
        from tuitune.engine import queue

        return queue.unpause(self.store)

    def set_slots(self, count: int | None) -> list[Run]:
        """How many runs train at once (None: one per GPU); returns the runs that started at once."""
        from tuitune.engine import queue

        return queue.set_slots(count, self.store)

    def sweeps(self) -> list[Sweep]:
        return self.store.list_sweeps()

    def sweep_runs(self, sweep_id: int) -> list[Run]:
        return self.store.list_runs(sweep_id=sweep_id)

    # --- chats ----------------------------------------------------------------------------
    def conversations(self, run_id: int) -> list[Conversation]:
        """The run's saved chats, newest first."""
        return self.store.conversations(run_id)

    def save_conversation(self, run_id: int, turns: list[dict], settings: dict, conversation_id: int | None) -> int:
        """Keep a chat with its run after a turn; returns the conversation's id."""
        return self.store.save_conversation(run_id, turns=turns, settings=settings, conversation_id=conversation_id).id

    def export_conversations(self, run_id: int, path: Path) -> int:
        """Write the run's saved chats to `path` as JSONL in the messages format; returns how many."""
        import json

        from tuitune.runs import folder as run_folder

        rows = [conversation.training_rows() for conversation in reversed(self.store.conversations(run_id))]
        rows = [row for row in rows if row["messages"]]
        # Written into a run's folder (its subfolders made here included), it is deleted with the run's files.
        with run_folder.writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return len(rows)

    # --- what the wizard offers -----------------------------------------------------------
    def known_models(self) -> list[tuple[str, str]]:
        """(model, where it comes from): the demo, the local HF cache, and earlier runs."""
        from tuitune.config import DEMO_MODEL

        seen: dict[str, str] = {DEMO_MODEL: "built-in demo, trains in seconds on a CPU"}
        for repo in cached_hub_models():
            seen.setdefault(repo, "in the local Hugging Face cache")
        for run in self.store.list_runs(limit=500):
            seen.setdefault(run.model, f"used by run {run.id}")
        return list(seen.items())

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
