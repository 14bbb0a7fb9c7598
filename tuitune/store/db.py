"""The store's SQLite file: opened late, pointed wherever `TUITUNE_HOME` says at the time.

`database` is created uninitialised so that importing tuitune never touches the disk and tests
can point it at a temporary folder. `open_store()` (in repository) initialises it on first use, and again whenever
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

import atexit
import contextlib
import os
import sqlite3
import threading
from pathlib import Path
from urllib.parse import quote

from peewee import DatabaseError, SqliteDatabase

from tuitune.errors import (
    StoreDamagedError,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
)
from tuitune.system.paths import database_path, make_private_dir, open_private
from tuitune.text.user_text import shorten

BUSY_TIMEOUT_SECONDS = 30
# After a checkpoint the WAL is cut back to this size instead of keeping its largest size forever.
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024
PRAGMAS: tuple[tuple[str, object], ...] = (
    # First, so that switching the journal mode below also waits instead of failing.
    ("busy_timeout", BUSY_TIMEOUT_SECONDS * 1000),
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("synchronous", "normal"),
    ("journal_size_limit", JOURNAL_SIZE_LIMIT),
)
# A store we may not write (a read-only file, folder or disk): no journal switch, no migration.
READ_ONLY_PRAGMAS: tuple[tuple[str, object], ...] = (
    ("busy_timeout", BUSY_TIMEOUT_SECONDS * 1000),
    ("foreign_keys", 1),
    ("query_only", 1),
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
_active: str | None = None  # the path `database` is initialised for, once upgraded
_read_only = False


def resolve_path(path: str | Path | None) -> Path:
    if path is None:
        path = database_path()
    return Path(path).expanduser().resolve()


def is_read_only() -> bool:
    """Whether the store in use could only be opened for reading."""
    return _read_only


def opening_lock() -> threading.RLock:
    """The lock under which the store's file is switched (taken again after a fork)."""
    return _lock


def activate(target: Path) -> None:
    """Point `database` at `target` unless it already is; create and upgrade the file there."""
    global _active, _read_only
    location = str(target)
    if _active == location:
        _drop_stale_connection()
        return
    with _lock:
        if _active == location:
            return
        _active = None

        try:
            make_private_dir(target.parent)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the folder for the run store {target.parent}: {exc.strerror}. "
                "Set TUITUNE_HOME to a folder you can write."
            ) from exc
        _refuse_emptied(target)
        writable = _writable(target)
        try:
            if writable:
                _create(target)
                database.init(location, pragmas=PRAGMAS, timeout=BUSY_TIMEOUT_SECONDS)
                # Imported here (and below): the migrations pull in playhouse.migrate, which only
                # opening a store needs; `tuitune --help` imports the store without opening it.
                from tuitune.store.migrations import upgrade

                upgrade(database, location)
            else:
                _open_read_only(target)
        except (DatabaseError, sqlite3.Error) as exc:
            database.close()
            raise store_error(exc, location) from exc
        _active, _read_only = location, not writable


def _writable(target: Path) -> bool:
    # The folder must be writable too: SQLite keeps the WAL and its index beside the file.
    if target.exists():
        return os.access(target, os.W_OK) and os.access(target.parent, os.W_OK)
    if not os.access(target.parent, os.W_OK):
        raise StoreReadOnlyError(
            f"Cannot create the run store in {target.parent}: the folder is read-only. "
            "Set TUITUNE_HOME to a folder you can write."
        )
    return True


def _refuse_emptied(target: Path) -> None:
    """A store file cut to 0 bytes (a full disk, a failed copy) must not pass for a new, empty store."""
    try:
        empty = target.stat().st_size == 0
    except OSError:
        return
    wal = target.with_name(target.name + "-wal")
    if empty and not (wal.exists() and wal.stat().st_size > 0):
        raise StoreDamagedError(
            f"The run store {target} is an empty file (0 bytes): it was cut short (a full disk, an "
            "interrupted copy). Restore it from a backup, or delete it to start a new, empty store."
        )


def _create(target: Path) -> None:
    """Make a new store file whole and private (0600), then put it in place in one step.

    Built under a temporary name and hard-linked into place, so another process never sees a
    half-made file; SQLite gives its WAL and index files the same mode as the store.
    """
    if target.exists():
        return
    from tuitune.store.migrations import upgrade  # here: see `activate`

    temporary = target.with_name(f".{target.name}.{os.getpid()}.new")
    os.close(open_private(temporary))
    try:
        database.init(str(temporary), pragmas=PRAGMAS, timeout=BUSY_TIMEOUT_SECONDS)
        upgrade(database, str(temporary))
        database.close()
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(temporary, target)
    finally:
        for leftover in (temporary, *(temporary.with_name(temporary.name + s) for s in ("-wal", "-shm"))):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _open_read_only(target: Path) -> None:
    from tuitune.store.migrations import SCHEMA_VERSION, schema_version  # here: see `activate`

    # mode=ro reads the WAL if its files exist; on a read-only disk they may not, and cannot be
    # made: then `immutable` reads the file as it is (nothing can be writing it there anyway).
    for options in ("mode=ro", "mode=ro&immutable=1"):
        database.init(
            f"file:{quote(str(target))}?{options}", uri=True, pragmas=READ_ONLY_PRAGMAS, timeout=BUSY_TIMEOUT_SECONDS
        )
        try:
            version = schema_version(database)
            break
        except (DatabaseError, sqlite3.Error):
            database.close()
            if options.endswith("immutable=1"):
                raise
    if version != SCHEMA_VERSION:
        raise StoreReadOnlyError(
            f"The run store {target} is read-only and has schema version {version}, not "
            f"{SCHEMA_VERSION}: open it once with write access so it can be upgraded."
        )


def _drop_stale_connection() -> None:
    # `database.init()` closes only the calling thread's connection; another thread may still hold
    # one to the previous file. Such a thread reconnects here instead of reading the wrong store.
    state = database._state
    if not state.closed and getattr(state, "location", None) != database.database:
        database.close()


def _root_cause(exc: BaseException) -> BaseException:
    """The SQLite error underneath peewee's wrapping and its failed rollback.

    After SQLITE_FULL, SQLite has already rolled the transaction back, so peewee's own rollback
    fails with "cannot rollback - no transaction is active" and hides the real reason.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    best = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if "cannot rollback" not in str(current) and "cannot commit" not in str(current):
            best = current
            break
        current = current.__context__ or current.__cause__
    return best


def store_error(exc: BaseException, location: str) -> StoreError:
    """The one translation of every SQLite failure on the store at `location` into a user message."""
    root = _root_cause(exc)
    text = str(root)
    lowered = text.lower()
    if "disk is full" in lowered or "no space" in lowered:
        # Imported here: only a full disk needs it, and every command imports the store.
        from tuitune.system.disk import describe_disk

        return StoreFullError(
            f"No space left on {describe_disk(location)}, which holds the run store {location}: "
            "free some space, then try again (a run stopped by it resumes with `tuitune resume RUN`)."
        )
    if "locked" in lowered or "busy" in lowered:
        return StoreError(
            f"The run store {location} stayed locked by another process for over "
            f"{BUSY_TIMEOUT_SECONDS} s. Try again; if it persists, look for a stuck tuitune process."
        )
    if "readonly" in lowered or "read-only" in lowered or "query_only" in lowered or _read_only:
        return StoreReadOnlyError(
            f"The run store {location} is read-only here ({shorten(text)}): listing and showing runs "
            "works, changing them needs write access to the file and its folder (or set TUITUNE_HOME "
            "to a folder you can write)."
        )
    damaged = ("not a database", "malformed", "could not decode", "corrupt", "constraint failed")
    if isinstance(root, sqlite3.IntegrityError) or any(word in lowered for word in damaged):
        return StoreDamagedError(
            f"The run store {location} is damaged ({shorten(text)}). Run `tuitune store check` to "
            "see what is wrong; restore a backup, or move the file away and tuitune starts a new one."
        )
    if "unable to open" in lowered:
        return StoreError(
            f"Cannot open the run store {location} ({shorten(text)}). Set TUITUNE_HOME to a folder you can write."
        )
    return StoreError(f"The run store {location} failed: {shorten(text, 200)}.")


def close_connection() -> None:
    """Close this thread's connection; the last one closed folds the WAL back into the store."""
    with contextlib.suppress(Exception):
        if not database.is_closed():
            database.close()


# A process that exits with its connection open leaves the history in `tuitune.db-wal`, and a
# copy of `tuitune.db` alone would have no runs: close it on the way out.
atexit.register(close_connection)


def _forget_inherited_connection() -> None:
    # An SQLite connection must not be used across fork(): the child drops (without closing, which
    # could disturb the parent's locks) whatever it inherited and connects afresh on first use.
    global _lock
    database._state.reset()
    database._lock = threading.Lock()
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_connection)
