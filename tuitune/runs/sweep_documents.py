"""A sweep as a document, declared once: what `tuitune sweep … --json` prints.

`sweep --dry-run --json` prints a `SweepPlanDocument` (the grid and each run's checked
configuration), `sweep --json` a `SweepQueued` (the runs it queued), `sweep show --json` a
`SweepRanking` (the runs best first by one measure) and `sweep list --json` a `ListedSweep` per
sweep. Light: pydantic and the store only.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import Field

from tuitune.runs.documents import STATUS_HELP, Document, Moment
from tuitune.store import Run, Store
from tuitune.store.sweeps import Sweep

GRID_HELP = "Each varied setting (dotted: training.learning_rate) and the values it takes, as typed."


class SweepDocument(Document):
    """A sweep as the store keeps it."""

    id: int
    name: str
    base_config: dict[str, Any] = Field(description="The configuration every run starts from.")
    grid: dict[str, list[Any]] = Field(description=GRID_HELP)
    created_at: Moment


class ListedSweep(SweepDocument):
    """`tuitune sweep list --json`: a sweep and how its runs stand."""

    statuses: dict[str, int] = Field(description="How many of its runs are in each status.")


def listed_sweep(sweep: Sweep, statuses: dict[str, int]) -> ListedSweep:
    return ListedSweep(**SweepDocument.model_validate(sweep).model_dump(), statuses=statuses)


def listed_sweeps(store: Store) -> list[ListedSweep]:
    """Every sweep, newest first, with how its runs stand (`sweep list --json`, `GET /sweeps`)."""
    return [
        listed_sweep(sweep, dict(Counter(run.status for run in store.list_runs(sweep_id=sweep.id))))
        for sweep in store.list_sweeps()
    ]


class PlannedRun(Document):
    name: str = Field(description="The run's name: the values it takes (lr=1e-4,r=8).")
    config: dict[str, Any] = Field(description="Its whole configuration, checked.")


class SweepPlanDocument(Document):
    """`tuitune sweep --dry-run --json`: every combination, checked; nothing queued."""

    grid: dict[str, list[Any]] = Field(description=GRID_HELP)
    runs: list[PlannedRun]
    dropped: list[str] = Field(description="Combinations left out as repeats (--drop-unused).")


class QueuedSweepRun(Document):
    id: int
    name: str
    status: str = Field(description=STATUS_HELP)


class SweepQueued(Document):
    """`tuitune sweep --json`: the sweep recorded and the runs it queued, in the queue's order."""

    sweep_id: int
    name: str
    dropped: list[str] = Field(description="Combinations left out as repeats (--drop-unused).")
    runs: list[QueuedSweepRun]


def sweep_queued(sweep: Sweep, runs: list[Run], dropped: list[str]) -> SweepQueued:
    return SweepQueued(
        sweep_id=sweep.id,
        name=sweep.name,
        dropped=dropped,
        runs=[QueuedSweepRun.model_validate(run) for run in runs],
    )


class RankedRun(Document):
    """One run of a sweep, at its place by the ranking's measure."""

    rank: int | None = Field(description="1 for the best; None while the run has no value to rank by.")
    id: int
    name: str
    status: str = Field(description=STATUS_HELP)
    steps: int = Field(description="Steps trained so far.")
    settings: dict[str, Any] = Field(description="The values it took of each varied setting.")
    value: float | None = Field(description="Its value of the ranking's measure (`by`); None: not measured yet.")


class SweepRanking(Document):
    """`tuitune sweep show --json`: the sweep's runs, best first by `by`."""

    sweep: SweepDocument
    by: str = Field(description="The measure: eval_loss or loss (lower is better), or an evaluation score.")
    runs: list[RankedRun]
