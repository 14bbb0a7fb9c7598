"""`Store`: every read and write of runs and their metric points, events, evaluations and artifacts.

Get one with `tuitune.store.open_store()`. Methods take and return plain values and records
(`tuitune.store.records`); nothing outside this package sees a peewee row.

Each write method is one `BEGIN IMMEDIATE` transaction, retried a few times in the rare case SQLite
reports the file busy without waiting (the busy timeout handles ordinary contention). Faces poll
with `after_id`: ids only grow, and SQLite commits one writer at a time, so a reader that asks for
"rows after the last id I saw" never skips a row.
"""

from __future__ import annotations

import difflib
import math
import socket
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from peewee import DatabaseError, fn

from tuitune import __version__
from tuitune.errors import RunNotFoundError, StoreError
from tuitune.store import clock
from tuitune.store.conversations import ConversationStore
from tuitune.store.db import activate, database, is_read_only, opening_lock, resolve_path, store_error
from tuitune.store.journal import journaled
from tuitune.store.processes import ProcessStore
from tuitune.store.records import (
    ARTIFACT_KINDS,
    EVALUATION_LABELS,
    FINETUNED,
    METRIC_FIELDS,
    Artifact,
    Evaluation,
    Event,
    MetricPoint,
    Run,
)
from tuitune.store.rows import (
    ARTIFACT_COLUMNS,
    EVALUATION_COLUMNS,
    EVENT_COLUMNS,
    METRIC_COLUMNS,
    RUN_COLUMNS,
    artifact_record,
    evaluation_record,
    event_record,
    from_json,
    metric_record,
    run_record,
    to_json,
)
from tuitune.store.run_queue import QueueStore
from tuitune.store.status import ACTIVE, CANCELLED, CRASHED, FAILED, QUEUED, RUNNING, check_status
from tuitune.store.sweeps import SweepStore
from tuitune.store.tables import ArtifactRow, EvaluationRow, EventRow, MetricPointRow, RunRow
from tuitune.store.transactions import is_sqlite_integer
from tuitune.store.transactions import reads as _reads
from tuitune.store.transactions import rows as _rows
from tuitune.store.transactions import writes as _writes
from tuitune.text.user_text import shorten

T = TypeVar("T")

_RUN_TIMES = ("created_at", "started_at", "finished_at", "heartbeat_at")
# Columns `update_run` may set (everything but the id).
_RUN_FIELDS = frozenset(RunRow._meta.fields) - {"id"}
_EVENT_LEVELS = ("debug", "info", "warning", "error")
_MEASUREMENTS = tuple(name for name in METRIC_FIELDS if name not in ("step", "time", "extra"))


class Store(QueueStore, SweepStore, ProcessStore, ConversationStore):
    """The run store at one SQLite file. Safe to use from several threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # --- runs ------------------------------------------------------------------------------
    @_writes
    def create_run(
        self,
        *,
        name: str,
        config: dict[str, Any],
        model: str,
        method: str,
        dataset: str,
        output_dir: str | None = None,
        status: str = QUEUED,
        in_queue: bool = False,
        gpus: list[str] | None = None,
        sweep_id: int | None = None,
        slurm: bool = False,
    ) -> Run:
        """A new run; a name already taken gets `-2`, `-3`… appended so names stay unique.

        `in_queue`: it waits at the end of the queue for a free slot instead of starting now.
        `slurm`: it trains as a SLURM job (its job's state starts empty), never in tuitune's queue.
        """
        check_status(status)
        unique = self._unique_name(name.strip() or "run")
        now = clock.now()
        run_id = RunRow.insert(
            name=unique,
            status=status,
            method=method,
            model=model,
            dataset=dataset,
            config=to_json(config),
            output_dir=output_dir,
            host=socket.gethostname(),
            created_at=now,
            started_at=now if status == RUNNING else None,
            steps_done=0,
            cancel_requested=False,
            version=__version__,
            queue_position=self._next_position() if in_queue and status == QUEUED and not slurm else None,
            gpus=",".join(gpus) if gpus else None,
            sweep_id=sweep_id,
            slurm=to_json({}) if slurm else None,
        ).execute()
        # What really happens next, in words: it waits in line, or its worker (or job) is being started.
        if status == QUEUED and slurm:
            state = "to be submitted to SLURM as a job"
        elif status == QUEUED:
            state = "waiting in the queue for a free slot" if in_queue else "starting its worker"
        else:
            state = status
        self._event(run_id, f"Created, {state}: {method} on {model} with {dataset}", "info", now)
        return self._run(run_id)

    def _unique_name(self, name: str) -> str:
        # Safe against two processes creating "demo" at once: we hold the write lock here.
        taken = {
            row[0]
            for row in RunRow.select(RunRow.name)
            .where((RunRow.name == name) | RunRow.name.startswith(f"{name}-"))
            .tuples()
        }
        candidate, number = name, 2
        while candidate in taken:
            candidate, number = f"{name}-{number}", number + 1
        return candidate

    @_reads
    def get_run(self, run_id: int) -> Run:
        """The run with this id, or RunNotFoundError."""
        return self._run(run_id)

    def _run(self, run_id: int) -> Run:
        row = None
        if is_sqlite_integer(run_id):
            row = RunRow.select(*RUN_COLUMNS).where(RunRow.id == run_id).tuples().first()
        if row is None:
            raise RunNotFoundError(f"No run with id {shorten(str(run_id))}. List runs with `tuitune runs`.")
        return run_record(row)

    @_reads
    def find_run(self, ref: str | int) -> Run:
        """A run by id (`12`), by name (the newest with that name) or `last` (the newest run)."""
        if isinstance(ref, int):
            return self._run(ref)
        text = str(ref).strip()
        if not _is_text(text):
            raise RunNotFoundError(
                f"No run named {shorten(text.encode('utf-8', 'replace').decode())!r}: a run name is text. List runs with `tuitune runs`."
            )
        if text.lower() == "last":
            row = RunRow.select(*RUN_COLUMNS).order_by(RunRow.id.desc()).tuples().first()
            if row is None:
                raise RunNotFoundError("There are no runs yet. Start one with `tuitune train --demo`.")
            return run_record(row)
        # `isdecimal` and ASCII: '²' and '①' are digits to Python but not ids; an id past SQLite's
        # integer range names no run (and must not reach SQLite).
        is_id = text.isascii() and text.isdecimal()
        if is_id and is_sqlite_integer(int(text)):
            row = RunRow.select(*RUN_COLUMNS).where(RunRow.id == int(text)).tuples().first()
            if row is not None:
                return run_record(row)
        row = RunRow.select(*RUN_COLUMNS).where(RunRow.name == text).order_by(RunRow.id.desc()).tuples().first()
        if row is not None:
            return run_record(row)
        if is_id:
            raise RunNotFoundError(f"No run with id {shorten(text)}. List runs with `tuitune runs`.")
        names = [n for (n,) in RunRow.select(RunRow.name).distinct().tuples()]
        close = difflib.get_close_matches(text, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise RunNotFoundError(f"No run named {shorten(text)!r}.{hint} List runs with `tuitune runs`.")

    @_reads
    def list_runs(
        self, *, status: str | None = None, limit: int | None = None, sweep_id: int | None = None
    ) -> list[Run]:
        """Runs, newest first, optionally only those with `status` or of one sweep."""
        query = RunRow.select(*RUN_COLUMNS)
        if status is not None:
            query = query.where(RunRow.status == check_status(status))
        if sweep_id is not None:
            if not is_sqlite_integer(sweep_id):
                return []  # no sweep has an id SQLite cannot hold
            query = query.where(RunRow.sweep_id == sweep_id)
        query = query.order_by(RunRow.id.desc())
        if limit is not None:
            query = query.limit(limit)
        return [run_record(row) for row in _rows(query)]

    @_reads
    def active_runs(self) -> list[Run]:
        """Queued and running runs, newest first (what a face polls every tick)."""
        query = RunRow.select(*RUN_COLUMNS).where(RunRow.status.in_(sorted(ACTIVE)))
        return [run_record(row) for row in _rows(query.order_by(RunRow.id.desc()))]

    @_reads
    def count_runs(self, *, status: str | None = None) -> int:
        query = RunRow.select()
        if status is not None:
            query = query.where(RunRow.status == check_status(status))
        return query.count()

    @journaled
    @_writes
    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set columns of a run. `config` may be a dict; times may be datetimes or unix seconds."""
        unknown = set(fields) - _RUN_FIELDS
        if unknown:
            raise ValueError(f"unknown run fields: {', '.join(sorted(unknown))}")
        if not fields:
            self._run(run_id)
            return
        values = dict(fields)
        for name in ("config", "tags", "lineage", "slurm"):  # the JSON columns
            if name in values and values[name] is not None and not isinstance(values[name], str):
                values[name] = to_json(values[name])
        if "status" in values:
            check_status(values["status"])
        for name in _RUN_TIMES:
            if name in values:
                values[name] = clock.to_seconds(values[name])
        self._update(run_id, values)

    def _update(self, run_id: int, values: dict[str, Any]) -> None:
        if not RunRow.update(values).where(RunRow.id == run_id).execute():
            raise RunNotFoundError(f"No run with id {shorten(str(run_id))}. List runs with `tuitune runs`.")

    @journaled
    @_writes
    def set_status(self, run_id: int, status: str, *, error: str | None = None) -> None:
        """Move a run to `status`, stamping start/finish times and writing an event line.

        Entering `running` stamps `started_at` once and clears the finish time and error. A run
        coming back to life (resume: from a finished status to queued/running) also drops an old
        cancel request; a cancel requested while queued survives the step to running.
        """
        check_status(status)
        old = self._run(run_id)
        now = clock.now()
        values: dict[str, Any] = {"status": status}
        if status != QUEUED:
            values["queue_position"] = None  # out of the line: running, or finished
        if status in ACTIVE:
            values["finished_at"] = None
            values["error"] = None
            if old.status not in ACTIVE:
                values["cancel_requested"] = False
            if status == RUNNING and old.started_at is None:
                values["started_at"] = now
        else:
            values["finished_at"] = now
            if error is not None:
                values["error"] = " ".join(error.split())
        self._update(run_id, values)
        message = f"Status {old.status} -> {status}" if old.status != status else f"Status {status}"
        if error:
            message += f": {' '.join(error.split())}"
        level = "error" if status in (FAILED, CRASHED) else "warning" if status == CANCELLED else "info"
        self._event(run_id, message, level, now)

    @_writes
    def request_cancel(self, run_id: int) -> None:
        """Ask the run's worker to stop after the current step (it polls `cancel_requested`)."""
        self._update(run_id, {"cancel_requested": True})
        self._event(run_id, "Cancel requested", "warning", clock.now())

    @_reads
    def cancel_requested(self, run_id: int) -> bool:
        row = RunRow.select(RunRow.cancel_requested).where(RunRow.id == run_id).tuples().first()
        if row is None:
            raise RunNotFoundError(f"No run with id {shorten(str(run_id))}. List runs with `tuitune runs`.")
        return bool(row[0])

    @journaled
    @_writes
    def heartbeat(
        self,
        run_id: int,
        *,
        steps_done: int | None = None,
        steps_total: int | None = None,
        epoch: float | None = None,
        tokens_per_second: float | None = None,
    ) -> None:
        """The worker is alive (heartbeat_at = now), with its progress where given."""
        values: dict[str, Any] = {"heartbeat_at": clock.now()}
        if steps_done is not None:
            values["steps_done"] = int(steps_done)
        if steps_total is not None:
            values["steps_total"] = int(steps_total)
        if epoch is not None:
            values["epoch"] = _number(epoch)
        if tokens_per_second is not None:
            values["tokens_per_second"] = _number(tokens_per_second)
        self._update(run_id, values)

    @_writes
    def delete_run(self, run_id: int) -> None:
        """Remove a run and everything recorded about it (its files on disk stay)."""
        if not RunRow.delete().where(RunRow.id == run_id).execute():
            raise RunNotFoundError(f"No run with id {shorten(str(run_id))}. List runs with `tuitune runs`.")

    # --- metric points ---------------------------------------------------------------------
    @journaled
    @_writes
    def add_metric_points(self, run_id: int, points: list[dict[str, Any]]) -> None:
        """Record logging steps, and the run's last/best losses with them, in one transaction.

        Keys are MetricPoint field names (`step` required; `time` defaults to now); `extra` is
        {metric name: number} for what the fixed columns do not hold.
        """
        if not points:
            return
        now = clock.now()
        rows = []
        for point in points:
            unknown = set(point) - set(METRIC_FIELDS)
            if unknown:
                raise ValueError(
                    f"unknown metric point fields: {', '.join(sorted(unknown))}; "
                    f"expected some of {', '.join(METRIC_FIELDS)}"
                )
            if point.get("step") is None:
                raise ValueError("a metric point needs a `step`")
            row: dict[str, Any] = {name: _number(point.get(name)) for name in _MEASUREMENTS}
            row["step"] = int(point["step"])
            row["time"] = clock.to_seconds(point.get("time")) or now
            row["extra"] = _extra(point.get("extra"))
            row["run"] = run_id
            rows.append(row)
        # A logged step has been trained: the run's progress says so at once, not at the next
        # heartbeat (a crash between the two would otherwise leave it behind), and never goes back.
        values: dict[str, Any] = {"steps_done": fn.MAX(RunRow.steps_done, max(r["step"] for r in rows))}
        losses = [r["loss"] for r in rows if r["loss"] is not None]
        evals = [r["eval_loss"] for r in rows if r["eval_loss"] is not None]
        if losses:
            values["last_loss"] = losses[-1]
        if evals:
            values["last_eval_loss"] = evals[-1]
            best = RunRow.select(RunRow.best_eval_loss).where(RunRow.id == run_id).scalar()
            values["best_eval_loss"] = min([*evals, *([best] if best is not None else [])])
        self._update(run_id, values)  # a clear RunNotFoundError rather than a foreign key failure
        MetricPointRow.insert_many(rows).execute()

    @_reads
    def count_points_up_to(self, run_id: int, point_id: int) -> int:
        """How many of a run's metric points have an id up to `point_id` (fewer than a reader
        saw means a resume replaced those after its checkpoint)."""
        mine = (MetricPointRow.run == run_id) & (MetricPointRow.id <= point_id)
        return int(MetricPointRow.select(fn.COUNT(MetricPointRow.id)).where(mine).scalar() or 0)

    @_reads
    def metric_points(self, run_id: int, *, after_id: int = 0, limit: int | None = None) -> list[MetricPoint]:
        """A run's metric points with id > `after_id`, oldest first."""
        query = (
            MetricPointRow.select(*METRIC_COLUMNS)
            .where((MetricPointRow.run == run_id) & (MetricPointRow.id > after_id))
            .order_by(MetricPointRow.id)
        )
        if limit is not None:
            query = query.limit(limit)
        return [metric_record(row) for row in _rows(query)]

    @_reads
    def loss_extremes(self, run_id: int) -> tuple[float | None, float | None, int]:
        """The first and the lowest training loss of a run, and how many points it logged, counted
        by SQLite (a long run's points are never loaded for three numbers)."""
        mine = MetricPointRow.run == run_id
        first = (
            MetricPointRow.select(MetricPointRow.loss)
            .where(mine & MetricPointRow.loss.is_null(False))
            .order_by(MetricPointRow.id)
            .scalar()
        )
        lowest, count = (
            MetricPointRow.select(fn.MIN(MetricPointRow.loss), fn.COUNT(MetricPointRow.id))
            .where(mine)
            .scalar(as_tuple=True)
        )
        return first, lowest, int(count or 0)

    @_reads
    def latest_extra(self, run_id: int) -> dict[str, float | None]:
        """The last logged value of each of a run's other metrics (`MetricPoint.extra`), by name:
        those of its last training point and of its last evaluation (`eval_…`), two rows read."""
        mine = (MetricPointRow.run == run_id) & MetricPointRow.extra.is_null(False)
        latest: dict[str, float | None] = {}
        for column in (MetricPointRow.loss, MetricPointRow.eval_loss):
            text = (
                MetricPointRow.select(MetricPointRow.extra)
                .where(mine & column.is_null(False))
                .order_by(MetricPointRow.id.desc())
                .scalar()
            )
            latest.update(from_json(text, {}))
        return dict(sorted(latest.items()))

    @journaled
    @_writes
    def delete_metric_points_after(self, run_id: int, step: int) -> int:
        """Forget points logged after `step` (a resume restarts from a checkpoint there).

        Returns how many were removed; the run's last/best losses are recomputed from the rest.
        """
        removed = MetricPointRow.delete().where((MetricPointRow.run == run_id) & (MetricPointRow.step > step)).execute()
        if removed:
            mine = MetricPointRow.run == run_id
            last_loss = (
                MetricPointRow.select(MetricPointRow.loss)
                .where(mine & MetricPointRow.loss.is_null(False))
                .order_by(MetricPointRow.id.desc())
                .scalar()
            )
            last_eval = (
                MetricPointRow.select(MetricPointRow.eval_loss)
                .where(mine & MetricPointRow.eval_loss.is_null(False))
                .order_by(MetricPointRow.id.desc())
                .scalar()
            )
            best_eval = MetricPointRow.select(fn.MIN(MetricPointRow.eval_loss)).where(mine).scalar()
            self._update(
                run_id,
                {"last_loss": last_loss, "last_eval_loss": last_eval, "best_eval_loss": best_eval},
            )
        return removed

    # --- events ----------------------------------------------------------------------------
    @journaled
    @_writes
    def add_event(self, run_id: int, message: str, level: str = "info") -> None:
        """Append a line to the run's story (levels: debug, info, warning, error)."""
        self._run(run_id)
        self._event(run_id, message, level, clock.now())

    def _event(self, run_id: int, message: str, level: str, when: float) -> None:
        if level not in _EVENT_LEVELS:
            raise ValueError(f"unknown event level {level!r}; expected one of {_EVENT_LEVELS}")
        EventRow.insert(run=run_id, time=when, level=level, message=message).execute()

    @_reads
    def events(self, run_id: int, *, after_id: int = 0, limit: int | None = None) -> list[Event]:
        """A run's events with id > `after_id`, oldest first."""
        query = (
            EventRow.select(*EVENT_COLUMNS)
            .where((EventRow.run == run_id) & (EventRow.id > after_id))
            .order_by(EventRow.id)
        )
        if limit is not None:
            query = query.limit(limit)
        return [event_record(row) for row in _rows(query)]

    # --- evaluations -----------------------------------------------------------------------
    @journaled
    @_writes
    def add_evaluation(
        self,
        run_id: int,
        *,
        label: str,
        metrics: dict[str, Any],
        sample_count: int,
        settings: dict[str, Any],
        samples: list[dict[str, Any]],
    ) -> Evaluation:
        """Record the scores of the base (`base`) or fine-tuned (`finetuned`) model."""
        if label not in EVALUATION_LABELS:
            raise ValueError(f"unknown evaluation label {label!r}; expected one of {EVALUATION_LABELS}")
        self._run(run_id)
        evaluation_id = EvaluationRow.insert(
            run=run_id,
            label=label,
            metrics=to_json(metrics),
            sample_count=sample_count,
            settings=to_json(settings),
            samples=to_json(samples),
            created_at=clock.now(),
        ).execute()
        row = EvaluationRow.select(*EVALUATION_COLUMNS).where(EvaluationRow.id == evaluation_id)
        return evaluation_record(row.tuples().get())

    @_reads
    def evaluations(self, run_id: int) -> list[Evaluation]:
        """A run's evaluations, newest first."""
        query = (
            EvaluationRow.select(*EVALUATION_COLUMNS)
            .where(EvaluationRow.run == run_id)
            .order_by(EvaluationRow.id.desc())
        )
        return [evaluation_record(row) for row in query.tuples()]

    @_reads
    def latest_scores(self, metric: str = "rougeL", label: str = FINETUNED) -> dict[int, float]:
        """{run id: `metric` of its latest `label` evaluation}, for every run that has one."""
        latest = (
            EvaluationRow.select(fn.MAX(EvaluationRow.id))
            .where(EvaluationRow.label == label)
            .group_by(EvaluationRow.run)
        )
        query = EvaluationRow.select(EvaluationRow.run, EvaluationRow.metrics).where(EvaluationRow.id.in_(latest))
        scores: dict[int, float] = {}
        for run_id, metrics in query.tuples():
            # Parsed here rather than with SQLite's json_extract: one odd row (NaN written by
            # Python's json) must not break the whole history table.
            value = from_json(metrics, {}).get(metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                scores[run_id] = float(value)
        return scores

    # --- artifacts -------------------------------------------------------------------------
    @journaled
    @_writes
    def add_artifact(self, run_id: int, *, kind: str, path: str, meta: dict[str, Any] | None = None) -> Artifact:
        """Record something the run produced; the same kind and path again updates it."""
        if kind not in ARTIFACT_KINDS:
            raise ValueError(f"unknown artifact kind {kind!r}; expected one of {ARTIFACT_KINDS}")
        self._run(run_id)
        path = str(path)
        (
            ArtifactRow.insert(run=run_id, kind=kind, path=path, meta=to_json(meta or {}), created_at=clock.now())
            .on_conflict(
                conflict_target=[ArtifactRow.run, ArtifactRow.kind, ArtifactRow.path],
                preserve=[ArtifactRow.meta, ArtifactRow.created_at],
            )
            .execute()
        )
        row = ArtifactRow.select(*ARTIFACT_COLUMNS).where(
            (ArtifactRow.run == run_id) & (ArtifactRow.kind == kind) & (ArtifactRow.path == path)
        )
        return artifact_record(row.tuples().get())

    @_reads
    def artifacts(self, run_id: int) -> list[Artifact]:
        """A run's artifacts in the order they were first recorded, each marked `gone` when its
        file or folder is no longer on disk (the Trainer deletes checkpoints beyond
        `save_total_limit`; a user deletes a merged model), so every face says the same about it."""
        query = ArtifactRow.select(*ARTIFACT_COLUMNS).where(ArtifactRow.run == run_id).order_by(ArtifactRow.id)
        found = [artifact_record(row) for row in query.tuples()]
        return [replace(artifact, gone=_gone(artifact)) for artifact in found]

    # --- housekeeping ----------------------------------------------------------------------
    def close(self) -> None:
        """Close this thread's connection (a later call reopens it)."""
        if not database.is_closed():
            database.close()

    def checkpoint(self) -> None:
        """Fold the write-ahead log back into the store file, as far as readers allow (never waits).

        Called when a run ends, so `tuitune.db` on its own (a backup, an scp) holds the history.
        """
        activate(self.path)
        if is_read_only():
            return
        try:
            database.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except (DatabaseError, sqlite3.Error) as exc:
            raise store_error(exc, str(self.path)) from exc

    def release(self) -> None:
        """Checkpoint and close: what a process does with the store when its work is done."""
        try:
            self.checkpoint()
        except StoreError:
            pass  # closing still folds the log back when this is the last connection
        finally:
            self.close()


def _is_text(text: str) -> bool:
    """False for a command-line argument holding bytes that are not UTF-8 (surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _number(value: Any) -> float | None:
    """A measurement as a plain float (numpy and 0-d torch values included); NaN and inf as missing."""
    if value is None:
        return None
    number = float(value)
    # SQLite stores NaN as NULL anyway; say so explicitly so "last loss" skips it too. An infinite
    # loss would reach every face's JSON as `Infinity`, which is not JSON: missing too (the run's
    # events say it was not a number, `tuitune.engine.watch`).
    return number if math.isfinite(number) else None


def _extra(values: Any) -> str | None:
    """A point's other metrics as the JSON of `metric_points.extra` (None: it has none)."""
    if not values:
        return None
    if not isinstance(values, dict) or not all(isinstance(name, str) for name in values):
        raise ValueError("a metric point's `extra` is {metric name: number}")
    return to_json({name: _number(value) for name, value in values.items()})


def _gone(artifact: Artifact) -> bool:
    """Whether an artifact's file or folder has left the disk (an upload's URL never does)."""
    if artifact.kind == "upload" or "://" in artifact.path:  # a URL (an upload, a remote tracker)
        return False
    try:
        return not Path(artifact.path).exists()
    except (OSError, ValueError):  # a path this system cannot even look up
        return True


# One `Store` per file per process.
_stores: dict[Path, Store] = {}


def open_store(path: str | Path | None = None) -> Store:
    """The store at `path` (default: `$TUITUNE_HOME/tuitune.db`), created or upgraded as needed.

    Cheap to call repeatedly: one `Store` per path per process, and the file is opened and
    checked only when the path differs from the one in use.
    """
    target = resolve_path(path)
    with opening_lock():
        activate(target)
        store = _stores.get(target)
        if store is None:
            store = _stores[target] = Store(target)
    return store
