"""One transaction per store method: `@reads` and `@writes` (BEGIN IMMEDIATE), with a last-resort
retry when SQLite reports the file busy without waiting, and every SQLite failure translated once
(`store_error`). Shared by the parts of `Store`."""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from peewee import DatabaseError, OperationalError

from tuitune.store.db import activate, database, store_error

T = TypeVar("T")

_ATTEMPTS = 5
SQLITE_MAX_INTEGER = 2**63 - 1  # SQLite's integers are signed 64-bit


def is_sqlite_integer(value: int) -> bool:
    """Whether SQLite can hold `value`; an id past its range names nothing (and must not reach it)."""
    return -SQLITE_MAX_INTEGER - 1 <= value <= SQLITE_MAX_INTEGER


def _is_busy(exc: Exception) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _transaction(write: bool) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Run the method in one transaction (IMMEDIATE for writes), with a last-resort retry."""

    def decorate(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
            activate(self.path)
            for attempt in range(_ATTEMPTS):
                try:
                    if not write:
                        return method(self, *args, **kwargs)
                    with database.atomic("IMMEDIATE"):
                        return method(self, *args, **kwargs)
                except (OperationalError, sqlite3.OperationalError) as exc:
                    # Inside an outer transaction the caller owns the retry; and after the last
                    # attempt the user gets one clear line instead of a traceback.
                    if not _is_busy(exc) or database.in_transaction():
                        raise store_error(exc, str(self.path)) from exc
                    if attempt == _ATTEMPTS - 1:
                        raise store_error(exc, str(self.path)) from exc
                    time.sleep(0.05 * 2**attempt)
                except (DatabaseError, sqlite3.Error) as exc:
                    # Every other SQLite failure, from peewee or straight from a cursor (a damaged
                    # page fails while rows are fetched), gets the same translation.
                    raise store_error(exc, str(self.path)) from exc
            raise AssertionError("unreachable")

        return wrapper

    return decorate


reads = _transaction(write=False)
writes = _transaction(write=True)


def rows(query: Any) -> list[tuple[Any, ...]]:
    # Straight from the sqlite3 cursor: peewee's per-column conversions cost more than the query
    # on long lists, and the converters in `convert.py` already produce the right types.
    return database.execute(query).fetchall()
