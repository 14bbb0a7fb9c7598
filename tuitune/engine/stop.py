"""`StopRequest`: the flag a graceful stop raises. Light, so the worker can listen for SIGTERM
before it imports the training stack (which takes seconds)."""

from __future__ import annotations

import threading


class StopRequest:
    """Set by SIGTERM (worker) or by the store's cancel flag; the Trainer stops after the step."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.time_limit = False  # SLURM's warning that the job's time limit is near (SIGUSR1)

    def set(self, *, time_limit: bool = False) -> None:
        self.time_limit = self.time_limit or time_limit
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()
