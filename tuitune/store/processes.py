"""The processes of a run's group, each heartbeating on its own. Mixed into `Store`.

A run trained by several processes (ranks) has one row per rank; the supervisor that launched the
group watches them to notice a rank that died or stopped beating, and the faces show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tuitune.store import clock
from tuitune.store.records import json_ready
from tuitune.store.rows import Reading
from tuitune.store.tables import RunProcessRow
from tuitune.store.transactions import reads, writes


@dataclass(frozen=True)
class RunProcess:
    """One rank of a run's group, as of its last heartbeat."""

    rank: int
    pid: int
    host: str
    device: str | None
    step: int
    gpu_memory_gb: float | None
    cpu_memory_gb: float | None
    heartbeat_at: datetime
    ended: str | None = None  # how it left on its own (completed, cancelled, failed); None: running or killed

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


PROCESSES = Reading(RunProcess, RunProcessRow)

# What a heartbeat refreshes; never `ended`, which a late beat must not undo.
_BEAT_FIELDS = [column for column in PROCESSES.columns if column.name not in ("rank", "ended")]


class ProcessStore:
    path: Path

    @writes
    def process_heartbeat(
        self,
        run_id: int,
        *,
        rank: int,
        pid: int,
        host: str,
        device: str | None = None,
        step: int = 0,
        gpu_memory_gb: float | None = None,
        cpu_memory_gb: float | None = None,
    ) -> None:
        """A rank is alive (and where it is), in one upsert."""
        values = dict(
            run=run_id,
            rank=rank,
            pid=pid,
            host=host,
            device=device,
            step=step,
            gpu_memory_gb=gpu_memory_gb,
            cpu_memory_gb=cpu_memory_gb,
            heartbeat_at=clock.now(),
        )
        (
            RunProcessRow.insert(**values)
            .on_conflict(
                conflict_target=[RunProcessRow.run, RunProcessRow.rank],
                preserve=_BEAT_FIELDS,
            )
            .execute()
        )

    @reads
    def processes(self, run_id: int) -> list[RunProcess]:
        """The ranks of a run's group, rank 0 first."""
        query = RunProcessRow.select(*PROCESSES.columns).where(RunProcessRow.run == run_id).order_by(RunProcessRow.rank)
        return [PROCESSES(row) for row in query.tuples()]

    @writes
    def process_ended(self, run_id: int, *, rank: int, how: str) -> None:
        """Rank `rank` leaves the group on its own (`how`: completed, cancelled, failed)."""
        RunProcessRow.update(ended=how).where((RunProcessRow.run == run_id) & (RunProcessRow.rank == rank)).execute()

    @writes
    def clear_processes(self, run_id: int) -> None:
        """Forget a group's processes (a resumed run starts a new group)."""
        RunProcessRow.delete().where(RunProcessRow.run == run_id).execute()
