"""The life of a run: `queued` → `running` → one of the finished statuses.

A run is *resumable* once it stopped without completing: cancelled by the user, failed with an
error, or crashed (its worker vanished without saying so).
"""

from __future__ import annotations

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
CRASHED = "crashed"

# Ordered the way a person reads a run's life; used for `--status` choices and filters.
ALL: tuple[str, ...] = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, CRASHED)
ACTIVE: frozenset[str] = frozenset({QUEUED, RUNNING})
FINISHED: frozenset[str] = frozenset({COMPLETED, FAILED, CANCELLED, CRASHED})
RESUMABLE: frozenset[str] = frozenset({CANCELLED, FAILED, CRASHED})


def check_status(status: str) -> str:
    """`status` itself when it is a known status, else a ValueError naming the valid ones."""
    if status not in ALL:
        raise ValueError(f"unknown run status {status!r}; expected one of {', '.join(ALL)}")
    return status
