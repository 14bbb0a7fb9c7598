"""Attach to a started run, then report how it ended (shared by `train` and `resume`)."""

from __future__ import annotations

import sys

import typer
from rich.text import Text

from tuitune.cli.app import console, err_console, print_json
from tuitune.cli.follow import follow
from tuitune.errors import TrainingError
from tuitune.runs.documents import run_outcome
from tuitune.runs.present import literal
from tuitune.store import CANCELLED, COMPLETED, QUEUED, RUNNING, Run, Store


def finish_run(run: Run, store: Store, *, json_output: bool) -> None:
    """Follow `run` to its end; print the outcome; exit non-zero unless it completed."""
    progress_console = err_console if json_output else console
    final = follow(run, store, progress_console)
    outcome = run_outcome(final)
    if json_output:
        print_json(outcome.model_dump(mode="json"))
    if final.status == COMPLETED:
        if not json_output:
            loss = outcome.train_loss
            done = f"in {outcome.elapsed_seconds:.1f}s" if isinstance(loss, float) else ""
            console.print(
                Text.assemble(
                    (f"Run {final.id} ({literal(final.name)}) completed", "green"),
                    f": {outcome.steps_completed} steps, train loss {loss:.4f} {done}."
                    if isinstance(loss, float)
                    else ".",
                )
            )
            console.print(Text(f"Output: {literal(final.output_dir)}"))
        return
    if final.status == CANCELLED:
        err_console.print(
            Text(
                f"Run {final.id} ({literal(final.name)}) cancelled at step {final.steps_done or 0}. "
                f"Resume it with: tuitune resume {final.id}"
            )
        )
        sys.stdout.flush()
        raise typer.Exit(130)
    if final.status in (QUEUED, RUNNING):
        err_console.print(
            f"Stopped following run {final.id}; it is still {final.status}. See `tuitune logs {final.id} -f`."
        )
        raise typer.Exit(130)
    raise TrainingError(final.error or f"Run {final.id} ended {final.status}: see `tuitune logs {final.id}`.")
