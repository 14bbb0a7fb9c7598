"""Attach to a started run, then report how it ended (shared by `train` and `resume`)."""

from __future__ import annotations

import sys

import typer
from rich.text import Text

from tuitune.cli.app import console, err_console, print_json
from tuitune.cli.follow import follow
from tuitune.errors import TrainingError
from tuitune.store import CANCELLED, COMPLETED, QUEUED, RUNNING, Run, Store
from tuitune.text.present import literal


def run_summary(run: Run) -> dict[str, object]:
    return {
        "run_id": run.id,
        "name": run.name,
        "status": run.status,
        "output_dir": run.output_dir,
        "train_loss": run.train_loss if run.train_loss is not None else run.last_loss,
        "eval_loss": run.last_eval_loss,
        "steps_completed": run.steps_done or 0,
        "steps_total": run.steps_total,
        "elapsed_seconds": round(run.duration_seconds or 0.0, 3),
        "error": run.error,
    }


def finish_run(run: Run, store: Store, *, json_output: bool) -> None:
    """Follow `run` to its end; print the outcome; exit non-zero unless it completed."""
    progress_console = err_console if json_output else console
    final = follow(run, store, progress_console)
    summary = run_summary(final)
    if json_output:
        print_json(summary)
    if final.status == COMPLETED:
        if not json_output:
            loss = summary["train_loss"]
            done = f"in {summary['elapsed_seconds']:.1f}s" if isinstance(loss, float) else ""
            console.print(
                Text.assemble(
                    (f"Run {final.id} ({literal(final.name)}) completed", "green"),
                    f": {summary['steps_completed']} steps, train loss {loss:.4f} {done}."
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
