"""Failures of background work, reported in one place (harlequin's pattern).

Every worker runs with `exit_on_error=False`, so an exception in one never takes the app down;
Textual tells the worker's own node (the message does not bubble), so each node that runs workers
mixes in `ReportsWorkerErrors`, which hands the failure to the app's single reporter.
"""

from __future__ import annotations

from textual.worker import Worker, WorkerState

from tuitune.errors import TuituneError
from tuitune.tui.typed import OfTuitune


def describe_failure(error: BaseException | None) -> str:
    """A user-facing line: a TuituneError's own message, else the exception's type and text."""
    if error is None:
        return "An unknown error happened in the background."
    if isinstance(error, TuituneError):
        return str(error)
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


class ReportsWorkerErrors(OfTuitune):
    """Mix into a Widget or Screen whose workers may fail; the app shows the error."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.tuitune.report_failure(event.worker)
