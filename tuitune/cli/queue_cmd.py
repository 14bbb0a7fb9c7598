"""`tuitune queue`: the runs waiting for a free slot; slots, order, pause. Light: no torch.

Every command acts through the run service `serve` and the app use."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, print_json
from tuitune.engine.launcher import METHOD_WORDS
from tuitune.errors import UsageError
from tuitune.runs.documents import QueueMove, QueuePause
from tuitune.runs.present import literal
from tuitune.service.runs import RunService
from tuitune.store import open_store

# Commands import what they use when they run: `tuitune --help` imports every command module.

queue_app = typer.Typer(
    help="The run queue: list what waits, set the slots, reorder, pause.",
    add_completion=False,
    invoke_without_command=True,
)
app.add_typer(queue_app, name="queue")

RUN_HELP = "A run id, a run name, or `last`."


@queue_app.callback()
def queue_command(
    ctx: typer.Context,
    slots: Optional[str] = typer.Option(
        None, "--slots", help="How many runs train at once: a number, or `auto` (one per GPU, one without)."
    ),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List the queued runs in order (and set the number of slots)."""
    if ctx.invoked_subcommand is not None:
        return
    service = _runs()
    if slots is not None:
        if slots == "auto":
            service.set_slots(None)
        elif slots.isascii() and slots.isdecimal() and len(slots) < 4:
            service.set_slots(int(slots))
        else:
            # Only to word the refusal: the engine's queue holds the limit.
            from tuitune.engine.queue import MAX_SLOTS

            raise UsageError(f"--slots takes a number from 1 to {MAX_SLOTS} or `auto` (got {literal(slots)[:20]!r}).")
    state = service.queue_document()
    if json_output:
        print_json(state.model_dump(mode="json"))
        return
    paused = "  [bold yellow]paused[/]: nothing new starts (tuitune queue unpause)" if state.paused else ""
    console.print(f"Slots: {state.slots_in_use} of {state.slots} in use, {len(state.queued)} waiting.{paused}")
    if not state.queued:
        console.print("Nothing waits in the queue. Add a run with [bold]tuitune train … --queue[/].")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in ("#", "id", "name", "gpus", "method", "model"):
        table.add_column(header, justify="right" if header in ("#", "id") else "left", no_wrap=True)
    for entry in state.queued:
        table.add_row(
            str(entry.position),
            str(entry.id),
            Text(literal(entry.name)),
            entry.requested_gpus or "any",
            METHOD_WORDS.get(entry.method, entry.method),
            Text(literal(entry.model)),
        )
    console.print(table)


@queue_app.command("move")
def move_command(
    run_ref: str = typer.Argument(..., metavar="RUN", help=RUN_HELP),
    to: int = typer.Option(..., "--to", help="The new place in line (1 starts next)."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Move a queued run to another place in line."""
    service = _runs()
    run = service.find(run_ref)
    place = service.move_in_queue(run.id, to)
    if json_output:
        print_json(QueueMove(id=run.id, position=place).model_dump(mode="json"))
    else:
        console.print(Text(f"Run {run.id} ({literal(run.name)}) is now number {place} in the queue."))


@queue_app.command("pause")
def pause_command(json_output: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Start nothing new from the queue; running runs go on."""
    _runs().pause_queue()
    if json_output:
        print_json(QueuePause(paused=True, started=[]).model_dump(mode="json"))
    else:
        console.print("Queue paused: running runs go on, nothing new starts. `tuitune queue unpause` resumes it.")


@queue_app.command("unpause")
def unpause_command(json_output: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Let the queue start runs again (at once, if slots are free)."""
    started = _runs().unpause_queue()
    if json_output:
        print_json(QueuePause(paused=False, started=[run.id for run in started]).model_dump(mode="json"))
    else:
        names = ", ".join(f"{run.id} ({literal(run.name)})" for run in started)
        console.print(Text("Queue unpaused." + (f" Started run {names}." if started else "")))


def _runs() -> RunService:
    return RunService(open_store())
