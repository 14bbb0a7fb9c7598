"""The sweeps' part of the store: a grid of settings whose runs share a sweep id. Mixed into `Store`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tuitune.errors import RunNotFoundError
from tuitune.store import clock
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
        return {
            "id": self.id,
            "name": self.name,
            "base_config": self.base_config,
            "grid": self.grid,
            "created_at": self.created_at.isoformat(),
        }


def _sweep(row: tuple[Any, ...]) -> Sweep:
    id_, name, base, grid, created = row
    return Sweep(id_, name, json.loads(base or "{}"), json.loads(grid or "{}"), clock.moment(created))


_COLUMNS = (SweepRow.id, SweepRow.name, SweepRow.base_config, SweepRow.grid, SweepRow.created_at)


class SweepStore:
    path: Path

    @writes
    def create_sweep(self, *, name: str, base_config: dict[str, Any], grid: dict[str, list[Any]]) -> Sweep:
        sweep_id = SweepRow.insert(
            name=name, base_config=json.dumps(base_config), grid=json.dumps(grid), created_at=clock.now()
        ).execute()
        return _sweep(SweepRow.select(*_COLUMNS).where(SweepRow.id == sweep_id).tuples().get())

    @reads
    def get_sweep(self, sweep_id: int) -> Sweep:
        """The sweep with this id, or RunNotFoundError."""
        row = None
        if is_sqlite_integer(sweep_id):
            row = SweepRow.select(*_COLUMNS).where(SweepRow.id == sweep_id).tuples().first()
        if row is None:
            raise RunNotFoundError(f"No sweep with id {shorten(str(sweep_id))}. List sweeps with `tuitune sweep list`.")
        return _sweep(row)

    @reads
    def list_sweeps(self) -> list[Sweep]:
        return [_sweep(row) for row in SweepRow.select(*_COLUMNS).order_by(SweepRow.id.desc()).tuples()]
