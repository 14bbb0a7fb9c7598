"""`/compare` and `/sweeps`: runs side by side, and the sweeps with their runs ranked.

The same documents `tuitune compare --json`, `tuitune sweep list --json` and `tuitune sweep show
--json` print, built by the same code.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import Field

from tuitune.engine.sweep import RANKINGS, sweep_results
from tuitune.errors import UsageError
from tuitune.runs.compare import Comparison, compare_runs
from tuitune.runs.documents import Document
from tuitune.runs.sweep_documents import ListedSweep, SweepRanking, listed_sweeps
from tuitune.serve.routes.refusals import STORE, refusals
from tuitune.service.runs import RunService
from tuitune.store import Run

router = APIRouter(tags=["compare"], responses=refusals(*STORE))

# A comparison of more runs than this is not readable on one page (eight colours, eight columns).
MOST_COMPARED = 8


def _run_ids(text: str) -> list[int]:
    """`1,2,3` -> [1, 2, 3]: two to MOST_COMPARED different run ids."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not all(part.isascii() and part.isdecimal() and len(part) <= 19 for part in parts):
        raise UsageError(f"runs takes run ids separated by commas, e.g. runs=1,2,3 (got {text[:40]!r}).")
    ids = [int(part) for part in parts]
    if not 2 <= len(ids) <= MOST_COMPARED:
        raise UsageError(f"Compare 2 to {MOST_COMPARED} runs at once (got {len(ids)}).")
    if len(set(ids)) < len(ids):
        raise UsageError("The same run is named twice: give different runs to compare.")
    return ids


@router.get(
    "/compare",
    summary="Runs side by side: the settings that differ, their curves, key curves and scores",
    responses=refusals(404, 422),
)
def compare(
    runs: str = Query(..., max_length=200, description=f"Two to {MOST_COMPARED} run ids, in the order to show: 1,2,3."),
) -> Comparison:
    service = RunService()
    found: list[Run] = [service.current(run_id) for run_id in _run_ids(runs)]
    return compare_runs(found, service.store)


@router.get("/sweeps", summary="Every sweep, newest first, with how many of its runs are in each status")
def sweeps() -> list[ListedSweep]:
    return listed_sweeps(RunService().store)


class Measure(Document):
    key: str = Field(description="What `by` takes.")
    lower_is_better: bool


class SweepView(SweepRanking):
    """`tuitune sweep show --json`, and every measure it can be ranked by."""

    measures: list[Measure]


@router.get(
    "/sweeps/{sweep_id}",
    summary="A sweep's grid and its runs, best first by a measure",
    responses=refusals(404, 422),
)
def sweep(
    sweep_id: int,
    by: str = Query(
        "eval_loss", max_length=40, description=f"Rank by one of {', '.join(RANKINGS)} (loss: the last training loss)."
    ),
) -> SweepView:
    if by not in RANKINGS:
        # sweep_results says the same in the command line's words (--by).
        raise UsageError(f"Rank by one of {', '.join(RANKINGS)} (got {by!r}).")
    ranking = sweep_results(sweep_id, by=by, store=RunService().store)
    return SweepView(
        **dict(ranking),
        measures=[Measure(key=key, lower_is_better=lower) for key, lower in RANKINGS.items()],
    )
