"""Follow a running run from the store with a rich progress bar; Ctrl+C cancels it gracefully.

Used by `tuitune train` and `tuitune resume` in attached mode. The worker runs detached either
way, so a dropped SSH link never loses the run: only an explicit Ctrl+C cancels it.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tuitune.engine import launcher
from tuitune.errors import RunStateError
from tuitune.runs.feed import RunFeed
from tuitune.runs.metrics import KeyCurve, key_curves_of
from tuitune.store import ACTIVE, Run, Store

POLL_SECONDS = 0.25


def _fields(
    run: Run, loss: float | None, speed: float | None, key: KeyCurve | None = None, value: float | None = None
) -> dict[str, Any]:
    """The bar's numbers: the loss, and beside it the objective's most telling curve (a DPO run's
    reward margin, a GRPO run's mean reward: its loss says little)."""
    said = f"loss {loss:.4f}" if loss is not None else "loss –"
    if key is not None:
        said += f" {key.short} {key.show(value) if value is not None else '–'}"
    return {"loss": said, "speed": f"{speed:,.0f} tok/s" if speed else "", "status": run.status}


def follow(run: Run, store: Store, console: Console) -> Run:
    """Show progress until the run ends; returns its final state."""
    cancelled_once = False
    feed = RunFeed(run.id, store=store)
    loss: float | None = None
    speed: float | None = None
    curves = key_curves_of(run)
    key = curves[0] if curves else None
    value: float | None = None
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=16 if key else 24),  # leaves room for the numbers at 80 columns
        MofNCompleteColumn(),
        TextColumn("{task.fields[loss]}"),
        TextColumn("{task.fields[speed]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    previous = signal.getsignal(signal.SIGINT)
    interrupted = {"count": 0}

    def on_interrupt(signum: int, frame: object) -> None:
        interrupted["count"] += 1

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        with Progress(*columns, console=console, transient=False, refresh_per_second=8) as bar:
            task = bar.add_task(f"run {run.id}", total=run.steps_total or None, **_fields(run, None, None, key))
            while True:
                if interrupted["count"] and not cancelled_once:
                    cancelled_once = True
                    console.print(
                        "[yellow]Cancelling: finishing the step and saving a checkpoint… "
                        "(Ctrl+C again to stop waiting; the run keeps stopping on its own)[/]"
                    )
                    try:
                        launcher.cancel(store.get_run(run.id), store=store)
                    except RunStateError:
                        pass  # it ended on its own meanwhile: report how, below
                elif interrupted["count"] > 1:
                    return store.get_run(run.id)
                update = feed.next()
                for point in update.points:
                    if point.loss is not None:
                        loss = point.loss
                        if key is not None and point.extra.get(key.key) is not None:
                            value = point.extra[key.key]
                    if point.tokens_per_second:
                        speed = point.tokens_per_second
                run = update.run
                bar.update(
                    task,
                    completed=run.steps_done or 0,
                    total=run.steps_total or None,
                    **_fields(run, loss, run.tokens_per_second or speed, key, value),
                )
                if run.status not in ACTIVE:
                    return run
                time.sleep(POLL_SECONDS)
    finally:
        signal.signal(signal.SIGINT, previous)
