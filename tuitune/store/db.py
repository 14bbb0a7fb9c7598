"""The store's SQLite file: opened late, pointed wherever `TUITUNE_HOME` says at the time.

`database` is created uninitialised so that importing tuitune never touches the disk and tests
can point it at a temporary folder. `open_store()` initialises it on first use, and again whenever
the path changes (tests switch `TUITUNE_HOME` between tests; a process otherwise uses one store).

Several processes share the file (training workers, the TUI, CLI commands):
- WAL lets readers read while one writer writes;
- every write transaction starts with `BEGIN IMMEDIATE`, so it takes the write lock up front and
  waits for it (busy timeout) instead of failing with "database is locked" when a read turns into
  a write halfway;
- `synchronous=normal` is durable across process crashes in WAL mode (only an OS crash may lose
  the last commits), and keeps a metric point's commit cheap for the training loop.

Connections are per thread (peewee's default). A forked child forgets the parent's connection
(see `_forget_inherited_connection`) and opens its own.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from peewee import DatabaseError, SqliteDatabase

from tuitune.errors import StoreError

if TYPE_CHECKING:
    from tuitune.store.repository import Store

BUSY_TIMEOUT_SECONDS = 30
PRAGMAS: tuple[tuple[str, object], ...] = (
    # First, so that switching the journal mode below also waits instead of failing.
    ("busy_timeout", BUSY_TIMEOUT_SECONDS * 1000),
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("synchronous", "normal"),
)



class _StoreDatabase(SqliteDatabase):
    """Remembers, per thread, which file that thread's connection was opened on."""

    def _connect(self) -> sqlite3.Connection:
        connection = super()._connect()
        # `_state` is thread-local; `connect()` calls us in the thread that will use the connection.
        self._state.location = self.database
        return connection


# lock_type: `database.atomic()` begins with BEGIN IMMEDIATE unless told otherwise.
database = _StoreDatabase(None, lock_type="IMMEDIATE")

_lock = threading.RLock()
_stores: dict[Path, Store] = {}
_active: str | None = None  # the path `database` is initialised for, once upgraded


def open_store(path: str | Path | None = None) -> Store:
    """The store at `path` (default: `$TUITUNE_HOME/tuitune.db`), created or upgraded as needed.

    Cheap to call repeatedly: one `Store` per path per process, and the file is opened and
    checked only when the path differs from the one in use.
    """
    from tuitune.store.repository import Store

    target = resolve_path(path)
    with _lock:
        activate(target)
        store = _stores.get(target)
        if store is None:
            store = _stores[target] = Store(target)
    return store


def resolve_path(path: str | Path | None) -> Path:
    if path is None:
        from tuitune.paths import database_path

        path = database_path()
    return Path(path).expanduser().resolve()


def activate(target: Path) -> None:
    """Point `database` at `target` unless it already is; create and upgrade the file there."""
    global _active
    location = str(target)
    if _active == location:
        _drop_stale_connection()
        return
    with _lock:
        if _active == location:
            return
        _active = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the folder for the run store {target.parent}: {exc.strerror}. "
                "Set TUITUNE_HOME to a folder you can write."
            ) from exc
        database.init(location, pragmas=PRAGMAS, timeout=BUSY_TIMEOUT_SECONDS)
        from tuitune.store.migrations import upgrade

        try:
            upgrade(database, location)
        except (DatabaseError, sqlite3.DatabaseError) as exc:
            database.close()
            raise store_error(exc, location) from exc
        _active = location


def _drop_stale_connection() -> None:
    # `database.init()` closes only the calling thread's connection; another thread may still hold
    # one to the previous file. Such a thread reconnects here instead of reading the wrong store.
    state = database._state
    if not state.closed and getattr(state, "location", None) != database.database:
        database.close()


def store_error(exc: Exception, location: str) -> StoreError:
    """A user-facing message for an SQLite failure on the file at `location`."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreError(
            f"The run store {location} stayed locked by another process for over "
            f"{BUSY_TIMEOUT_SECONDS} s. Try again; if it persists, look for a stuck tuitune process."
        )
    if "not a database" in text or "malformed" in text:
        return StoreError(
            f"The run store {location} is damaged ({text}). Move it away and tuitune starts a new "
            "one, or point TUITUNE_HOME at another folder."
        )
    if "unable to open" in text or "readonly" in text:
        return StoreError(
            f"Cannot write the run store {location} ({text}). Set TUITUNE_HOME to a folder you can "
            "write."
        )
    return StoreError(f"The run store {location} failed: {text}.")


def _forget_inherited_connection() -> None:
    # An SQLite connection must not be used across fork(): the child drops (without closing, which
    # could disturb the parent's locks) whatever it inherited and connects afresh on first use.
    global _lock
    database._state.reset()
    database._lock = threading.Lock()
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_connection)
