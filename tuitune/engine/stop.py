"""`StopRequest`: the flag a graceful stop raises. Light, so the worker can listen for SIGTERM
before it imports the training stack (which takes seconds)."""

from __future__ import annotations

import threading
from collections.abc import Callable

# (status, error) a stopped run ends with, given the step it stopped at.
Ending = Callable[[int], tuple[str, "str | None"]]


class StopRequest:
    """Set by SIGTERM (worker) or by the store's cancel flag; the Trainer stops after the step."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.time_limit = False  # SLURM's warning that the job's time limit is near (SIGUSR1)
        # How a run stopped by that warning ends (a SLURM job's: back in the queue, or failed
        # saying how to resume); None: cancelled, like any stop.
        self.time_limit_ending: Ending | None = None

    def set(self, *, time_limit: bool = False) -> None:
        self.time_limit = self.time_limit or time_limit
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def ending(self, step: int) -> tuple[str, str | None]:
        """The status (and error) a run stopped at `step` ends with."""
        if self.time_limit and self.time_limit_ending is not None:
            return self.time_limit_ending(step)
        return "cancelled", None
