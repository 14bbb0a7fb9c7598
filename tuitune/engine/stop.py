"""`StopRequest`: the flag a graceful stop raises. Light, so the worker can listen for SIGTERM
before it imports the training stack (which takes seconds)."""

from __future__ import annotations

import threading


class StopRequest:
    """Set by SIGTERM (worker) or by the store's cancel flag; the Trainer stops after the step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()
