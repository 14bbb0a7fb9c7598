"""A SLURM job's writes to the store, as lines of JSON in its run folder, and their replay.

A job on a compute node never opens the login node's SQLite file (SQLite over a shared file system
is not safe from two hosts). It trains against a scratch copy of its run on its node's own disk
(`TUITUNE_STORE`), and each progress write to that copy (the methods marked `@journaled`) is also
appended to the run's journal (`TUITUNE_JOURNAL`), one JSON line per write. Whichever tuitune
process looks at the run on the login node folds the lines it has not seen into the real store,
each at the moment the job made it, in one transaction with the new offset: two faces folding at
once apply every line exactly once. A requeued job brings its scratch copy up to date the same way.

A line may only write its own run, through the methods below, and never the columns that say
where the run lives or what it trains (`REFUSED_FIELDS`): a journal is data, never instructions.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tuitune.store import clock
from tuitune.store.db import activate, database
from tuitune.store.tables import ArtifactRow, MetricPointRow, RunRow

if TYPE_CHECKING:
    from tuitune.store.repository import Store

JOURNAL_ENV = "TUITUNE_JOURNAL"
JOURNAL_RUN_ENV = "TUITUNE_JOURNAL_RUN"

# The store methods a journal line may call (filled by `@journaled`).
JOURNALED: set[str] = set()
# Run columns no journal line sets: where the run lives, what it trains, how people labelled it,
# which job it is (the login node's own bookkeeping).
REFUSED_FIELDS = frozenset(
    {"id", "config", "output_dir", "name", "notes", "tags", "sweep_id", "queue_position", "pid", "host", "slurm"}
)

T = TypeVar("T")
_nesting = threading.local()


def journaled(method: Callable[..., T]) -> Callable[..., T]:
    """Also append the call to the job's journal when this process writes one (the outermost call
    only: a write made inside another is replayed by replaying that one)."""
    JOURNALED.add(method.__name__)

    @functools.wraps(method)
    def wrapper(self: Any, run_id: int, *args: Any, **kwargs: Any) -> T:
        target = os.environ.get(JOURNAL_ENV)
        depth = getattr(_nesting, "depth", 0)
        _nesting.depth = depth + 1
        try:
            result = method(self, run_id, *args, **kwargs)
        finally:
            _nesting.depth = depth
        if target and depth == 0 and str(run_id) == os.environ.get(JOURNAL_RUN_ENV):
            append(Path(target), {"at": clock.now(), "op": method.__name__, "args": [run_id, *args], "kwargs": kwargs})
        return result

    return wrapper


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()  # every time column takes unix seconds
    return str(value)


def append(path: Path, line: dict[str, Any]) -> None:
    """One line, in one write to a file opened for appending: a reader sees it whole or not yet."""
    data = (json.dumps(line, ensure_ascii=False, default=_plain) + "\n").encode("utf-8")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(descriptor, data)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class Lines:
    """The complete lines of a journal after an offset, and the offset after the last of them."""

    lines: list[dict[str, Any]]
    offset: int
    unreadable: int = 0  # lines that were not JSON objects (a disk that lost a write): skipped
    applied: int = 0  # of them, how many this process applied (`fold`)


def read(path: Path, offset: int) -> Lines:
    try:
        with path.open("rb") as journal:
            journal.seek(offset)
            data = journal.read()
    except FileNotFoundError:
        return Lines([], offset)
    end = data.rfind(b"\n") + 1  # a line still being written is read next time
    lines: list[dict[str, Any]] = []
    unreadable = 0
    for raw in data[:end].splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            unreadable += 1
            continue
        if isinstance(line, dict):
            lines.append(line)
        else:
            unreadable += 1
    return Lines(lines, offset + end, unreadable)


def apply(store: Store, run_id: int, lines: list[dict[str, Any]]) -> int:
    """Make each line's write to `store`, at its moment; lines for another run or another method,
    and refused columns, are left out. Returns how many lines were applied."""
    applied = 0
    for line in lines:
        op, args, kwargs = line.get("op"), line.get("args"), line.get("kwargs") or {}
        if op not in JOURNALED or not isinstance(args, list) or not args or args[0] != run_id:
            continue
        if not isinstance(kwargs, dict):
            continue
        if op == "update_run":
            kwargs = {key: value for key, value in kwargs.items() if key not in REFUSED_FIELDS}
            if not kwargs:
                continue
        at = line.get("at")
        moment = float(at) if isinstance(at, (int, float)) else clock.now()
        with clock.at(moment):
            getattr(store, op)(*args, **kwargs)
        applied += 1
    return applied


def fold(store: Store, run_id: int, path: Path) -> Lines:
    """Apply the journal's lines the store has not seen, and keep the new offset (the run's
    `slurm["journal_offset"]`), in one transaction: a line is applied once however many
    processes fold at the same moment."""
    activate(store.path)
    with database.atomic("IMMEDIATE"):
        offset = int(store.get_run(run_id).slurm.get("journal_offset", 0))
        found = read(path, offset)
        if found.offset == offset:
            return found
        applied = apply(store, run_id, found.lines)
        state = store.get_run(run_id).slurm
        store.update_run(run_id, slurm={**state, "journal_offset": found.offset})
        return replace(found, applied=applied)


# --- a scratch copy of one run ---------------------------------------------------------------
def snapshot(store: Store, run_id: int) -> dict[str, Any]:
    """The run's row, artifacts and metric points exactly as stored: what a job's scratch store
    starts from (`restore`)."""
    activate(store.path)
    with database.atomic():
        return {
            "run": RunRow.select().where(RunRow.id == run_id).dicts().get(),
            "artifacts": list(ArtifactRow.select().where(ArtifactRow.run == run_id).dicts()),
            "points": list(MetricPointRow.select().where(MetricPointRow.run == run_id).dicts()),
        }


def restore(store: Store, data: dict[str, Any]) -> int:
    """Put a `snapshot` into an empty scratch store, ids kept; returns the run's id."""
    activate(store.path)
    with database.atomic("IMMEDIATE"):
        run = dict(data["run"])
        RunRow.insert(**run).execute()
        for rows, table in ((data.get("artifacts", []), ArtifactRow), (data.get("points", []), MetricPointRow)):
            for row in rows:
                table.insert(**row).execute()
    return int(run["id"])
