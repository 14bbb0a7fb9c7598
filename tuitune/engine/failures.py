"""How a training process reports a failure in its log (the worker and each rank of a group)."""

from __future__ import annotations

import traceback

from tuitune.errors import TuituneError, UnexpectedTrainingError


def report_failure(error: TuituneError) -> None:
    """One `[error]` line for a failure the user can fix; the traceback only for a real bug."""
    cause = error.__cause__
    try:
        if isinstance(error, UnexpectedTrainingError) and cause is not None:
            traceback.print_exception(type(cause), cause, cause.__traceback__)
        print(f"[error] {error}", flush=True)
    except OSError:
        pass  # the log's disk is full: the run's row already says why
