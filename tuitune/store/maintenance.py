"""Keeping a store safe: an online backup, and an integrity check that says what to do.

Both talk to SQLite directly (read-only), not through `open_store`, so they work on a store that
is damaged, read-only, or from another version.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from tuitune.errors import StoreError
from tuitune.store.db import BUSY_TIMEOUT_SECONDS, resolve_path, store_error
from tuitune.text.user_text import shorten

_MAX_PROBLEMS = 20
# How SQLite fails to open a store in WAL mode where it may not write (not a sign of damage).
_READ_ONLY_WORDS = ("unable to open", "readonly", "read-only")


@dataclass
class StoreHealth:
    """What `tuitune store check` found."""

    path: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    schema_version: int | None = None
    runs: int | None = None
    size_bytes: int = 0
    wal_bytes: int = 0
    # The store's file, folder or disk cannot be written here: checked as it is, nothing changed.
    read_only: bool = False
    # Not damage to the file, but to a run's record: steps recorded twice (two workers trained it).
    findings: list[str] = field(default_factory=list)
    advice: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _connect_read_only(path: Path, *, immutable: bool = False) -> sqlite3.Connection:
    if not path.is_file():
        raise StoreError(f"There is no run store at {path}: check TUITUNE_HOME, or start a run to create one.")
    options = "mode=ro&immutable=1" if immutable else "mode=ro"
    connection = sqlite3.connect(f"file:{quote(str(path))}?{options}", uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    return connection


def _cannot_write(path: Path) -> bool:
    """Whether the store's file or folder cannot be written here (a read-only file, folder or disk).

    SQLite reads a store in WAL mode through an index file beside it, which it must be able to
    make: where it cannot, opening fails with "unable to open database file", which says nothing
    about the file's health.
    """
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        pass
    return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def _inspect(connection: sqlite3.Connection, health: StoreHealth) -> None:
    health.schema_version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    rows = connection.execute(f"PRAGMA integrity_check({_MAX_PROBLEMS})").fetchall()
    health.problems += [row[0] for row in rows if row[0] != "ok"]
    for table, rowid, parent, _ in connection.execute("PRAGMA foreign_key_check").fetchmany(_MAX_PROBLEMS):
        health.problems.append(f"{table} row {rowid} points at a missing {parent} row")
    health.problems += _undecodable_text(connection)
    with contextlib.suppress(sqlite3.Error):
        health.runs = int(connection.execute("SELECT count(*) FROM runs").fetchone()[0])
        health.findings += _steps_recorded_twice(connection)


def _steps_recorded_twice(connection: sqlite3.Connection) -> list[str]:
    """Runs with a training step logged more than once: two workers trained them at the same time
    (a resume never repeats a step: it drops the points after its checkpoint first)."""
    rows = connection.execute(
        "SELECT run_id, count(*), min(step) FROM (SELECT run_id, step FROM metric_points WHERE loss IS NOT NULL "
        "GROUP BY run_id, step HAVING count(*) > 1) GROUP BY run_id ORDER BY run_id LIMIT ?",
        (_MAX_PROBLEMS,),
    ).fetchall()
    return [
        f"run {run_id} has {count:,} training step{'s' if count > 1 else ''} recorded more than once (from step "
        f"{first}): two workers trained it at once; its curve and checkpoints mix both, so retrain it or resume "
        "it from a checkpoint before that step"
        for run_id, count, first in rows
    ]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def check_store(path: str | Path | None = None) -> StoreHealth:
    """Run SQLite's integrity and foreign-key checks on the store (nothing is changed)."""
    target = resolve_path(path)
    health = StoreHealth(
        path=str(target),
        ok=False,
        size_bytes=_size(target),
        wal_bytes=_size(target.with_name(target.name + "-wal")),
    )
    unread_log = False
    if health.size_bytes == 0 and health.wal_bytes == 0 and target.exists():
        health.problems.append("the file is empty (0 bytes): it was cut short")
    else:
        if target.is_file() and not os.access(target, os.R_OK):
            raise StoreError(
                f"Cannot read the run store {target}: permission denied. Check it as the user who owns it "
                "(nothing says it is damaged)."
            )
        health.read_only = target.is_file() and _cannot_write(target)
        try:
            with contextlib.closing(_connect_read_only(target)) as connection:
                _inspect(connection, health)
        except sqlite3.Error as exc:
            if not (health.read_only and any(word in str(exc).lower() for word in _READ_ONLY_WORDS)):
                health.problems.append(str(exc))
            else:
                # Read-only and no WAL index to read through, nor a way to make one: read the file
                # as it is (`immutable`: nothing can be writing it here anyway).
                health.problems, health.runs, health.schema_version = [], None, None
                unread_log = health.wal_bytes > 0
                try:
                    with contextlib.closing(_connect_read_only(target, immutable=True)) as connection:
                        _inspect(connection, health)
                except sqlite3.Error as again:
                    health.problems.append(str(again))
    health.ok = not health.problems
    read_only = (
        " It is read-only here: listing and showing runs works, changing them needs write access to "
        "the file and its folder."
        if health.read_only
        else ""
    )
    if unread_log:
        read_only += (
            f" Its write-ahead log ({target.name}-wal) cannot be read without writing beside it, so the "
            "newest changes were not checked: check it where it can be written."
        )
    nothing = (
        "Nothing to do."
        if not health.findings
        else "The file is sound, but a run's record is not: see the findings (the store needs no repair)."
    )
    health.advice = (
        nothing + read_only
        if health.ok
        else "Keep a copy of the damaged file (tuitune.db with its -wal file) before anything else. Then "
        "restore your latest `tuitune store backup`, or, with the sqlite3 tool, save what can be read: "
        f"`sqlite3 {target} .recover | sqlite3 recovered.db`, and move recovered.db to {target.name}. "
        "Moving the file away makes tuitune start a new, empty store."
    )
    return health


def _undecodable_text(connection: sqlite3.Connection) -> list[str]:
    """Text that is no longer UTF-8: SQLite's own checks pass it, but reading it fails."""
    problems: list[str] = []
    tables = [
        row[0]
        for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
    ]
    text_columns = {
        table: [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")') if row[2].upper() == "TEXT"]
        for table in tables
    }
    connection.text_factory = bytes
    for table, columns in text_columns.items():
        if not columns:
            continue
        listed = ", ".join(f'"{column}"' for column in columns)
        for row in connection.execute(f'SELECT rowid, {listed} FROM "{table}"'):
            for column, value in zip(columns, row[1:]):
                if isinstance(value, bytes):
                    try:
                        value.decode("utf-8")
                    except UnicodeDecodeError:
                        problems.append(f"{table} row {row[0]}: {column} is not readable text")
                        if len(problems) >= _MAX_PROBLEMS:
                            return problems
    connection.text_factory = str
    return problems


def backup_store(destination: str | Path, *, path: str | Path | None = None, overwrite: bool = False) -> Path:
    """Copy the store with SQLite's online backup (consistent while runs write), checked, 0600.

    `destination` may be a file or an existing folder (the copy is then named by date and time).
    """
    source = resolve_path(path)
    text = os.fspath(destination)
    if not text.strip():
        raise StoreError("Give the backup a path: a new file, or an existing folder to put a dated copy in.")
    target = Path(destination).expanduser()
    if target.is_dir():
        target = target / f"tuitune-{datetime.now():%Y%m%d-%H%M%S}.db"
    elif text.endswith(("/", os.sep)):
        # `backups/` names a folder (Path drops the slash): never write a file called `backups`.
        if target.exists() or target.is_symlink():
            raise StoreError(f"{shorten(target)} is not a folder: give an existing folder, or a file name.")
        raise StoreError(f"The folder {shorten(target)} does not exist: create it first, or give another path.")
    if target.is_symlink() or (target.exists() and not target.is_file()):
        # Replacing is for an earlier backup: a link, a device, a pipe or a socket stays as it is.
        raise StoreError(
            f"{shorten(target)} is not a regular file, so the backup will not replace it: give a new file "
            "name in an existing folder, or an existing folder."
        )
    if target.exists() and not overwrite:
        raise StoreError(f"{target} already exists: give another path, or --force to replace it.")
    if not target.parent.is_dir():
        raise StoreError(f"The folder {target.parent} does not exist: create it first, or give another path.")
    if target.resolve() == source:
        raise StoreError("The backup cannot be the store itself: give another path.")
    staging = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        os.close(os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        with (
            contextlib.closing(_connect_read_only(source)) as reader,
            contextlib.closing(sqlite3.connect(staging)) as writer,
        ):
            reader.backup(writer)
            writer.execute("PRAGMA journal_mode=delete")  # one self-contained file, no -wal beside it
            verdict = writer.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise StoreError(
                f"The backup of {source} does not pass SQLite's check ({verdict}): the store itself is "
                "damaged. See `tuitune store check`."
            )
        os.replace(staging, target)
    except sqlite3.Error as exc:
        raise store_error(exc, str(source)) from exc
    except OSError as exc:
        raise StoreError(f"Cannot write the backup {target}: {exc.strerror or exc}.") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
    return target
