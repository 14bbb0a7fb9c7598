"""The sweeps' part of the store: a grid of settings whose runs share a sweep id. Mixed into `Store`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tuitune.errors import RunNotFoundError
from tuitune.store import clock
from tuitune.store.records import json_ready
from tuitune.store.rows import Reading
from tuitune.store.tables import SweepRow
from tuitune.store.transactions import is_sqlite_integer, reads, writes
from tuitune.text.user_text import shorten


@dataclass(frozen=True)
class Sweep:
    """A sweep: its base configuration and the values each varied setting takes."""

    id: int
    name: str
    base_config: dict[str, Any]
    grid: dict[str, list[Any]]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


SWEEPS = Reading(Sweep, SweepRow)


class SweepStore:
    path: Path

    @writes
    def create_sweep(self, *, name: str, base_config: dict[str, Any], grid: dict[str, list[Any]]) -> Sweep:
        sweep_id = SweepRow.insert(
            name=name, base_config=json.dumps(base_config), grid=json.dumps(grid), created_at=clock.now()
        ).execute()
        return SWEEPS(SweepRow.select(*SWEEPS.columns).where(SweepRow.id == sweep_id).tuples().get())

    @reads
    def get_sweep(self, sweep_id: int) -> Sweep:
        """The sweep with this id, or RunNotFoundError."""
        row = None
        if is_sqlite_integer(sweep_id):
            row = SweepRow.select(*SWEEPS.columns).where(SweepRow.id == sweep_id).tuples().first()
        if row is None:
            raise RunNotFoundError(f"No sweep with id {shorten(str(sweep_id))}. List sweeps with `tuitune sweep list`.")
        return SWEEPS(row)

    @reads
    def list_sweeps(self) -> list[Sweep]:
        return [SWEEPS(row) for row in SweepRow.select(*SWEEPS.columns).order_by(SweepRow.id.desc()).tuples()]
