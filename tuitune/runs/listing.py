"""Runs in a listing: the sorts of the history (by status, name, loss, duration, …) and its filters,
declared once for every face (the app's history table and `GET /runs`). Light: the store's records only.

A sort's key says how two runs compare by that column; a run without a value (no loss yet, never
started) goes last in either order, as the history shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tuitune.runs.labels import label_words
from tuitune.runs.metrics import objective_of
from tuitune.store import ALL, Run

_STATUS_ORDER = {status: index for index, status in enumerate(ALL)}


def _started(run: Run) -> float | None:
    moment = run.started_at or run.created_at
    return moment.timestamp() if moment else None


# Column key -> how runs compare by it (None: the run has no value there).
RUN_SORTS: dict[str, Callable[[Run], Any]] = {
    "id": lambda run: run.id,
    "name": lambda run: run.name.lower(),
    "status": lambda run: _STATUS_ORDER.get(run.status, len(ALL)),
    "steps": lambda run: run.steps_done,
    "loss": lambda run: run.last_loss,
    "eval_loss": lambda run: run.best_eval_loss,
    "model": lambda run: run.model.lower(),
    "method": lambda run: run.method,
    "objective": lambda run: objective_of(run.config),
    "dataset": lambda run: run.dataset.lower(),
    "created": lambda run: run.created_at.timestamp(),
    "started": _started,
    "duration": lambda run: run.duration_seconds,
}


def sort_runs(runs: Iterable[Run], key: str, *, descending: bool = False) -> list[Run]:
    """`runs` ordered by the column `key` (one of RUN_SORTS); runs without a value go last."""
    value_of = RUN_SORTS[key]
    rows = [(value_of(run), run) for run in runs]
    present = [pair for pair in rows if pair[0] is not None]
    missing = [run for value, run in rows if value is None]
    # Ties keep the newest first, whichever the order (sorted() is stable on the id order given).
    present.sort(key=lambda pair: pair[0], reverse=descending)
    return [run for _value, run in present] + missing


def matches_text(run: Run, text: str) -> bool:
    """Every word of `text` appears in the run's name, model, method, dataset, tags (`tag:best` or
    `best`) or note."""
    haystack = " ".join([run.name, run.model, run.method, run.dataset, *label_words(run.notes, run.tags)]).lower()
    return all(word in haystack for word in text.lower().split())


def filter_runs(
    runs: Iterable[Run],
    *,
    text: str | None = None,
    model: str | None = None,
    method: str | None = None,
    objective: str | None = None,
) -> list[Run]:
    """The runs that match every filter given (model, method and objective exactly)."""
    return [
        run
        for run in runs
        if (not text or matches_text(run, text))
        and (model is None or run.model == model)
        and (method is None or run.method == method)
        and (objective is None or objective_of(run.config) == objective)
    ]


def choices(runs: Sequence[Run]) -> dict[str, list[str]]:
    """What a face's filters offer: the models, methods and objectives the runs have, sorted."""
    return {
        "model": sorted({run.model for run in runs}),
        "method": sorted({run.method for run in runs}),
        "objective": sorted({objective_of(run.config) for run in runs}),
    }
