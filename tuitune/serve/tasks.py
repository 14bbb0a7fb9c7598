"""Evaluate, merge and upload for the service: the CLI commands, run as child processes by the
one job runner (`tuitune.service.jobs`, the app's too).

Each is a task with its own status (`GET /tasks/{id}`); its start and its outcome are also
written as events of the run, so the history keeps them after the server is gone. A Hub token
reaches the upload child through its environment only, once: it is never stored or logged.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from tuitune.errors import RunStateError
from tuitune.service.jobs import run_tuitune
from tuitune.store import open_store

RUNNING, COMPLETED, FAILED = "running", "completed", "failed"
# Longest a background task may take before it is stopped (a 7B evaluation on a slow GPU).
TIMEOUT_SECONDS = 6 * 3600
# Evaluations and merges load whole models: a few at a time, or the box runs out of memory.
MAX_RUNNING = 2


class TasksBusyError(RunStateError):
    """Too many background tasks run already."""


@dataclass
class Task:
    """A background job of the service."""

    id: int
    kind: str
    run_id: int
    status: str = RUNNING
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    finished_at: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Tasks:
    """The tasks this server started (kept while it runs; their outcomes are in the run's events)."""

    def __init__(self) -> None:
        self._tasks: dict[int, Task] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def get(self, task_id: int) -> Task | None:
        return self._tasks.get(task_id)

    def all(self) -> list[Task]:
        return sorted(self._tasks.values(), key=lambda task: task.id, reverse=True)

    def start(self, kind: str, run_id: int, argv: list[str], secrets: dict[str, str] | None = None) -> Task:
        """Run `tuitune ARGV --json` in a child process, in a thread; returns the task at once."""
        with self._lock:
            running = sum(1 for task in self._tasks.values() if task.status == RUNNING)
            if running >= MAX_RUNNING:
                raise TasksBusyError(
                    f"{running} background tasks are already running on this server: wait for one to end "
                    "(GET /tasks) and ask again."
                )
            task = Task(next(self._ids), kind, run_id)
            self._tasks[task.id] = task
        open_store().add_event(run_id, f"{kind.capitalize()} started from the service (task {task.id})")
        thread = threading.Thread(
            target=self._run, args=(task, argv, secrets or {}), daemon=True, name=f"tuitune-task-{task.id}"
        )
        thread.start()
        return task

    def _run(self, task: Task, argv: list[str], secrets: dict[str, str]) -> None:
        outcome = run_tuitune(*argv, "--json", env=secrets, timeout=TIMEOUT_SECONDS)
        if outcome.timed_out:
            self._finish(task, error=f"{task.kind} took longer than {TIMEOUT_SECONDS // 3600} hours and was stopped.")
        elif not outcome.ok:
            self._finish(task, error=outcome.error or f"{task.kind} exited with code {outcome.returncode}")
        elif isinstance(outcome.document, dict) or outcome.document is None:
            self._finish(task, result=outcome.document or {})
        else:
            self._finish(task, result={"output": json.dumps(outcome.document)[-2000:]})

    def _finish(self, task: Task, *, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        task.finished_at = datetime.now(timezone.utc).isoformat()
        task.status, task.result, task.error = (FAILED if error else COMPLETED), result, error
        try:
            if error:
                open_store().add_event(
                    task.run_id, f"{task.kind.capitalize()} failed (task {task.id}): {error}", level="error"
                )
            else:
                open_store().add_event(task.run_id, f"{task.kind.capitalize()} completed (task {task.id})")
        except Exception:
            pass
