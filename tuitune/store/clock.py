"""Time in the store: UTC unix seconds in the database, timezone-aware datetimes in the records.

Seconds are stored as REAL so they sort, compare (heartbeat staleness) and convert quickly; a
person reading the file can still write `datetime(created_at, 'unixepoch')`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime, timezone

# While a SLURM job's journal is folded into the store, each write happens at the moment the job
# made it, not at the moment it was read (see `tuitune.store.journal`).
_replayed_at: ContextVar[float | None] = ContextVar("replayed_at", default=None)


def now() -> float:
    replayed = _replayed_at.get()
    return time.time() if replayed is None else replayed


@contextlib.contextmanager
def at(seconds: float) -> Iterator[None]:
    """`now()` is `seconds` inside the block (this thread and context only)."""
    token = _replayed_at.set(seconds)
    try:
        yield
    finally:
        _replayed_at.reset(token)


def to_datetime(seconds: float | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (None stays None)."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def moment(seconds: float) -> datetime:
    """A NOT NULL timestamp column as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def to_seconds(value: datetime | float | int | None) -> float | None:
    """A datetime (naive means UTC) or unix seconds as stored seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    return float(value)
