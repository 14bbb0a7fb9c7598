"""`tuitune rerun RUN`: a past run's configuration again, as a new run, queued by default."""

from __future__ import annotations

from contextlib import nullcontext

import typer
from pydantic import Field
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, err_console, print_json
from tuitune.errors import UsageError
from tuitune.runs import lookup, present
from tuitune.runs.documents import RunInBackground, run_in_background
from tuitune.runs.present import literal
from tuitune.store import open_store

# Commands import what they use when they run: `tuitune --help` imports every command module.


class RerunDocument(RunInBackground):
    """`tuitune rerun --json`: the new run, the run it repeats, and what has changed since."""

    rerun_of: int = Field(description="The id of the run whose configuration it trains with.")
    warnings: list[str] = Field(
        description="What has changed since that run was created: its data, the training stack's versions, git."
    )


@app.command("rerun")
def rerun_command(
    run_ref: str = typer.Argument(..., metavar="RUN", help="A run id, a run name, or `last`."),
    now: bool = typer.Option(False, "--now", help="Start it now in the background, whatever the queue holds."),
    queue: bool = typer.Option(False, "--queue", help="Wait in the queue for a free slot (the default)."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Train a past run's configuration again as a new run (queued by default), warning where its
    data, the training stack's versions or the git commit have changed since."""
    if now and queue:
        raise UsageError("Give --now or --queue, not both.")
    from tuitune.engine.preflight import check_sources
    from tuitune.engine.queue import position
    from tuitune.engine.rerun import rerun, rerun_config

    store = open_store()
    old = lookup.find(run_ref, store=store)
    # As `train` does: a run whose data is gone or whose model cannot be found is refused before it is recorded.
    with err_console.status("checking the data and the model…") if err_console.is_terminal else nullcontext():
        check_sources(rerun_config(old))
    result = rerun(old, now=now, store=store)
    for warning in result.warnings:
        err_console.print(Text.assemble(("warning: ", "yellow"), literal(warning)))
    run = result.run
    place = position(run, store)
    if json_output:
        document = run_in_background(run, place)
        print_json(RerunDocument(**dict(document), rerun_of=old.id, warnings=result.warnings).model_dump(mode="json"))
        return
    what = f"run {run.id} ({literal(run.name)}), a rerun of run {old.id} ({literal(old.name)})"
    if run.on_slurm:
        console.print(Text(f"{present.started_line(run)} It reruns run {old.id} ({old.name})."))
    elif place:
        console.print(Text(f"Queued {what}: number {place[0]} of {place[1]} in line. See `tuitune queue`."))
    elif now:
        console.print(Text(f"Started {what} in the background, pid {run.pid}. Follow it: tuitune logs {run.id} -f"))
    else:
        console.print(Text(f"Queued {what}: a slot was free, it started (pid {run.pid})."))
