"""Attach to a started run, then report how it ended (shared by `train` and `resume`)."""

from __future__ import annotations

import sys

import typer
from rich.text import Text

from tuitune.cli.app import console, err_console, print_json
from tuitune.cli.follow import follow
from tuitune.errors import TrainingError
from tuitune.runs.documents import RunOutcome, run_outcome
from tuitune.runs.metrics import key_curves_of
from tuitune.runs.present import literal
from tuitune.store import CANCELLED, COMPLETED, QUEUED, RUNNING, Run, Store


def finish_run(run: Run, store: Store, *, json_output: bool) -> None:
    """Follow `run` to its end; print the outcome; exit non-zero unless it completed."""
    progress_console = err_console if json_output else console
    final = follow(run, store, progress_console)
    outcome = run_outcome(final, store)
    if json_output:
        print_json(outcome.model_dump(mode="json"))
    if final.status == COMPLETED:
        if not json_output:
            console.print(completed_line(final, outcome))
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


def completed_line(run: Run, outcome: RunOutcome) -> Text:
    """`Run 3 (demo-lora-dpo) completed: 188 steps, train loss 0.0004, reward margin 9.2, reward
    accuracy 100% in 12.9s.`: the loss, then the objective's key values."""
    loss = outcome.train_loss
    if not isinstance(loss, float):
        return Text.assemble((f"Run {run.id} ({literal(run.name)}) completed", "green"), ".")
    keys = "".join(
        f", {curve.label} {curve.show(value)}"
        for curve in key_curves_of(run)
        if (value := outcome.key_values.get(curve.key)) is not None
    )
    return Text.assemble(
        (f"Run {run.id} ({literal(run.name)}) completed", "green"),
        f": {outcome.steps_completed} steps, train loss {loss:.4f}{keys} in {outcome.elapsed_seconds:.1f}s.",
    )
