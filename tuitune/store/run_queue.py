"""The queue's part of the store: a run's place in line, claiming the next one for a free slot,
and store-wide settings (slots, pause). Mixed into `Store`.

Claiming is one `BEGIN IMMEDIATE` transaction: the claimer reads what is running, picks the head
of the line if it fits, and takes it out of the line before anyone else can look. Two processes
claiming at once are serialised by SQLite's write lock, so a run is never started twice and the
slots are never over-filled. A run *in the queue* is `queued` with a position; one that has been
claimed (or started directly) and whose worker is starting is `queued` without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peewee import fn

from tuitune.errors import RunStateError
from tuitune.store import clock
from tuitune.store.records import Run
from tuitune.store.rows import RUN_COLUMNS, run_record
from tuitune.store.status import ACTIVE, QUEUED, RUNNING
from tuitune.store.tables import EventRow, RunRow, SettingRow
from tuitune.store.transactions import reads, rows, writes

PAUSED = "queue.paused"
SLOTS = "queue.slots"
# The event a run gets as it leaves the line for a slot: how a run is known to have been queued.
LEFT_QUEUE = "Left the queue for a free slot"


@dataclass(frozen=True)
class Claim:
    """A run taken out of the queue for a free slot, with the GPUs it was given."""

    run: Run
    devices: list[str]


def split_gpus(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part]


def _processes(run: Run) -> int:
    """How many GPUs a run needs when it names none: one per process it asks for."""
    distributed = run.config.get("distributed") or {}
    return max(1, int(distributed.get("nproc") or 1))


def _in_queue() -> Any:
    return (RunRow.status == QUEUED) & RunRow.queue_position.is_null(False)


def _occupying() -> Any:
    """Runs that hold a slot: running, or claimed and starting."""
    return (RunRow.status == RUNNING) | ((RunRow.status == QUEUED) & RunRow.queue_position.is_null())


class QueueStore:
    path: Path

    def _run(self, run_id: int) -> Run:  # provided by Store
        raise NotImplementedError

    def _next_position(self) -> float:
        last = RunRow.select(fn.MAX(RunRow.queue_position)).where(_in_queue()).scalar()
        return float(last or 0) + 1

    @writes
    def put_in_queue(self, run_id: int) -> None:
        """Put a queued run at the end of the line."""
        run = self._run(run_id)
        if run.status != QUEUED:
            raise RunStateError(f"Run {run_id} is {run.status}: only a queued run waits in the queue.")
        RunRow.update(queue_position=self._next_position(), pid=None).where(RunRow.id == run_id).execute()

    @reads
    def queued_runs(self) -> list[Run]:
        """The runs waiting in the queue, first in line first."""
        query = RunRow.select(*RUN_COLUMNS).where(_in_queue()).order_by(RunRow.queue_position, RunRow.id)
        return [run_record(row) for row in rows(query)]

    @writes
    def move_in_queue(self, run_id: int, to: int) -> int:
        """Move a waiting run to place `to` (1 = next to start); returns the place it got."""
        line = [
            row[0]
            for row in RunRow.select(RunRow.id).where(_in_queue()).order_by(RunRow.queue_position, RunRow.id).tuples()
        ]
        if run_id not in line:
            run = self._run(run_id)
            raise RunStateError(f"Run {run_id} ({run.name}) is not waiting in the queue (it is {run.status}).")
        line.remove(run_id)
        place = min(max(to, 1), len(line) + 1)
        line.insert(place - 1, run_id)
        for position, queued_id in enumerate(line, start=1):
            RunRow.update(queue_position=float(position)).where(RunRow.id == queued_id).execute()
        return place

    @writes
    def claim_next(self, *, slots: int, gpus: list[str]) -> Claim | None:
        """Take the first run in line out of the queue if a slot (and its GPUs) are free.

        Strictly in order: when the first run waits for GPUs that are busy, nothing behind it
        jumps the line (a run asking for two GPUs would otherwise wait forever).
        """
        if self._setting(PAUSED) == "1":
            return None
        head = (
            RunRow.select(*RUN_COLUMNS).where(_in_queue()).order_by(RunRow.queue_position, RunRow.id).tuples().first()
        )
        if head is None:
            return None
        run = run_record(head)
        busy = [split_gpus(row[0]) for row in RunRow.select(RunRow.devices).where(_occupying()).tuples()]
        used_slots = sum(max(1, len(devices)) for devices in busy)
        used_gpus = {gpu for devices in busy for gpu in devices}
        wanted = split_gpus(run.gpus)
        count = _processes(run)
        if wanted:
            if used_gpus & set(wanted):
                return None
            devices = wanted
        elif gpus:
            free = [gpu for gpu in gpus if gpu not in used_gpus]
            if len(free) < min(count, len(gpus)):
                return None
            devices = free[: min(count, len(gpus))]
        else:
            devices = []
        if used_slots + max(1, len(devices)) > slots:
            return None
        now = clock.now()
        RunRow.update(queue_position=None, devices=",".join(devices) or None, pid=None, heartbeat_at=now).where(
            RunRow.id == run.id
        ).execute()
        given = f" on GPU {', '.join(devices)}" if devices else ""
        EventRow.insert(run=run.id, time=now, level="info", message=f"{LEFT_QUEUE}{given}").execute()
        return Claim(self._run(run.id), devices)

    @writes
    def give_devices(self, run_id: int, *, wanted: list[str], gpus: list[str]) -> list[str]:
        """GPUs for a run started directly (not queued): the ones it asks for, else free ones
        (one per process it asks for)."""
        if wanted or not gpus:
            devices = wanted
        else:
            count = min(_processes(self._run(run_id)), len(gpus))
            busy = {
                gpu
                for row in RunRow.select(RunRow.devices).where(_occupying() & (RunRow.id != run_id)).tuples()
                for gpu in split_gpus(row[0])
            }
            free = [gpu for gpu in gpus if gpu not in busy]
            devices = free[:count] if len(free) >= count else gpus[:count]
            if len(free) < count:
                EventRow.insert(
                    run=run_id,
                    time=clock.now(),
                    level="warning",
                    message=f"Not enough free GPUs: sharing GPU {', '.join(devices)} with another run. Queue runs (--queue) to give each its own.",
                ).execute()
        RunRow.update(devices=",".join(devices) or None).where(RunRow.id == run_id).execute()
        return devices

    @writes
    def back_in_line(self, run_id: int, reason: str) -> bool:
        """Put a claimed run whose worker never started back at the head of the line (it was
        first when it was claimed); False if it has moved on meanwhile (started, cancelled)."""
        first = RunRow.select(fn.MIN(RunRow.queue_position)).where(_in_queue()).scalar()
        changed = (
            RunRow.update(queue_position=float(first or 1) - 1, devices=None)
            .where(
                (RunRow.id == run_id)
                & (RunRow.status == QUEUED)
                & RunRow.queue_position.is_null()
                & RunRow.pid.is_null()
            )
            .execute()
        )
        if changed:
            EventRow.insert(run=run_id, time=clock.now(), level="warning", message=f"Back in line: {reason}").execute()
        return bool(changed)

    @reads
    def keeper_needed(self) -> bool:
        """Whether anything waits that only a look can move on: runs in line (unless the queue is
        paused), runs claimed whose worker has not started yet, or SLURM jobs still active."""
        claimed = (
            RunRow.select(RunRow.id)
            .where((RunRow.status == QUEUED) & RunRow.queue_position.is_null() & RunRow.heartbeat_at.is_null(False))
            .exists()
        )  # a claim starts the run's heartbeat (a run only recorded, never claimed, has none)
        # A SLURM job's journal is folded in, and its end noticed (and told), by whoever looks:
        # while one is active, the keeper looks even if nobody else does.
        jobs = RunRow.select(RunRow.id).where(RunRow.status.in_(ACTIVE) & RunRow.slurm.is_null(False)).exists()
        return (
            claimed or jobs or (self._setting(PAUSED) != "1" and RunRow.select(RunRow.id).where(_in_queue()).exists())
        )

    @reads
    def slots_in_use(self) -> int:
        return sum(
            max(1, len(split_gpus(row[0]))) for row in RunRow.select(RunRow.devices).where(_occupying()).tuples()
        )

    # --- settings --------------------------------------------------------------------------
    def _setting(self, key: str) -> str | None:
        row = SettingRow.select(SettingRow.value).where(SettingRow.key == key).tuples().first()
        return row[0] if row else None

    @reads
    def setting(self, key: str) -> str | None:
        """A store-wide setting, or None when it was never set."""
        return self._setting(key)

    @writes
    def claim_setting(self, key: str, value: str) -> bool:
        """Set `key` to `value` unless it holds it already: True for the one caller, of any number
        at once, that set it (what a thing done once per value, such as a notification, claims)."""
        if self._setting(key) == value:
            return False
        SettingRow.insert(key=key, value=value).on_conflict_replace().execute()
        return True

    @writes
    def set_setting(self, key: str, value: str | None) -> None:
        """Set a store-wide setting (None removes it: back to the default)."""
        if value is None:
            SettingRow.delete().where(SettingRow.key == key).execute()
        else:
            SettingRow.insert(key=key, value=value).on_conflict_replace().execute()
