"""Run management: `runs`, `show`, `logs`, `cancel`, `resume`, `delete`. Light: no torch."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Optional

import typer
from rich.table import Table
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, err_console, print_json
from tuitune.cli.outcome import finish_run
from tuitune.engine.launcher import METHOD_WORDS
from tuitune.errors import UsageError
from tuitune.store import ALL, Run, open_store

if TYPE_CHECKING:
    from tuitune.runs.documents import KeyCurveDocument, LossSummary
from tuitune.errors import RunStateError
from tuitune.runs import cluster, files, lineage, lookup, present
from tuitune.runs.documents import CancelledRun, CancelledRuns, RunCancelled, listed_run, run_in_background, run_report
from tuitune.runs.early_stop import early_stop, stop_line
from tuitune.runs.metrics import EVAL_PREFIX
from tuitune.runs.present import literal

# Commands import what they use when they run: `tuitune --help` imports every command module.

if TYPE_CHECKING:
    from tuitune.service.runs import RunService

RUN_HELP = "A run id, a run name, or `last`."
_MOST_RUNS = 2**62  # past SQLite's integer range a limit means "all of them" anyway


def _runs() -> RunService:
    """Every command reads and acts on runs through the service the app and `serve` use."""
    from tuitune.service.runs import RunService

    return RunService(open_store())


def _lookup(ref: str) -> Run:
    return _runs().find(ref)


@app.command("runs")
def runs_command(
    status: Optional[str] = typer.Option(
        None, "--status", "-s", help=f"Only runs with this status ({', '.join(ALL)})."
    ),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="Show at most this many (newest first)."),
    sweep: Optional[int] = typer.Option(None, "--sweep", help="Only the runs of this sweep."),
    tag: Optional[list[str]] = typer.Option(
        None, "--tag", "-t", help="Only runs with this tag (repeatable: all of them)."
    ),
    words: Optional[str] = typer.Option(
        None, "--filter", "-f", help="Only runs whose name, model, method, dataset, tags or note hold every word."
    ),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List runs, newest first (queued runs with their place in the queue)."""
    if status is not None and status not in ALL:
        raise UsageError(f"Unknown status {literal(status)[:40]!r}: use one of {', '.join(ALL)}.")
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1 (got {limit}).")
    service = _runs()
    if sweep is not None:
        service.store.get_sweep(sweep)  # a clear error for a sweep that does not exist
    service.reconcile()
    if tag or words:
        from tuitune.runs.listing import filter_runs

        wanted = {name.strip().lower() for name in tag or []}
        found = [
            run
            for run in filter_runs(service.list_runs(status=status, sweep_id=sweep), text=words)
            if wanted <= set(run.tags)
        ]
        runs = found[:limit] if limit is not None else found
    else:
        runs = service.list_runs(
            status=status, limit=min(limit, _MOST_RUNS) if limit is not None else None, sweep_id=sweep
        )
    # Run id -> (place, length of the line), for the runs that wait in the queue.
    places = service.queue_places() if any(run.in_queue for run in runs) else {}
    if json_output:
        print_json(
            [listed_run(run, places[run.id][0] if run.id in places else None).model_dump(mode="json") for run in runs]
        )
        return
    if not runs and (tag or words):
        console.print("No runs match.")
        return
    if not runs and status:
        console.print(f"No {status} runs.")
        return
    if not runs:
        console.print("No runs yet. Start one with [bold]tuitune train --demo[/] or open [bold]tuitune[/].")
        return
    headers = ("id", "name", "status", "method", "steps", "loss", "eval", "started", "time", "model")
    rows = [
        (
            str(run.id),
            run.name,
            present.queue_status(run, places.get(run.id)),
            # `lora · dpo` for a run whose objective is not sft, as the app's history says it.
            present.method_label(run, METHOD_WORDS.get(run.method, run.method)),
            f"{run.steps_done or 0}/{run.steps_total}" if run.steps_total else str(run.steps_done or 0),
            f"{run.last_loss:.4f}" if run.last_loss is not None else "–",
            f"{run.best_eval_loss:.4f}" if run.best_eval_loss is not None else "–",
            present.short_moment(run.started_at or run.created_at),
            present.duration(run.duration_seconds),
            run.model,
        )
        for run in runs
    ]
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    # Every column keeps its full width; the model's, last, is shortened or left out in a narrow
    # terminal, so the columns a user scans (name, status, loss) are never cut.
    room = console.width - (sum(widths[:-1]) + 2 * (len(headers) - 1))
    shown = len(headers) if room >= 12 else len(headers) - 1
    table = Table(box=None, header_style="bold", pad_edge=False)
    for index, header in enumerate(headers[:shown]):
        if header == "model":
            table.add_column(header, overflow="ellipsis", no_wrap=True, max_width=room)
        else:
            justify: Literal["right", "left"] = "right" if header in ("id", "steps", "loss", "eval") else "left"
            table.add_column(header, justify=justify, no_wrap=True, min_width=widths[index])
    for row in rows:
        # Text, not str: a name like `exp[/]1` is shown as it is, never read as markup.
        styled = [Text(literal(cell)) for cell in row[:shown]]
        styled[2].stylize(present.STATUS_STYLES.get(row[2].split()[0], ""))
        table.add_row(*styled)
    console.print(table)


@app.command("show")
def show_command(
    run_ref: str = typer.Argument(..., metavar="RUN", help=RUN_HELP),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show a run: configuration, status, loss summary, artifacts and error."""
    run = _lookup(run_ref)
    store = open_store()
    report = run_report(run, store)
    if json_output:
        print_json(report.model_dump(mode="json"))
        return
    metrics = report.metrics
    evals = metrics.best_eval_loss is not None
    style = present.STATUS_STYLES.get(run.status, "")
    console.print(Text.assemble((f"Run {run.id}", "bold"), " ", literal(run.name), "  ", (run.status, style)))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    steps = f"{run.steps_done or 0}/{run.steps_total or '?'}"
    for label, value in (
        ("model", run.model),
        ("method", run.method),
        ("objective", report.objective),
        ("dataset", run.dataset),
        ("output", run.output_dir or "–"),
        ("steps", f"{steps}  epoch {run.epoch:.2f}" if run.epoch is not None else steps),
        ("created", present.moment(run.created_at)),
        ("duration", present.duration(run.duration_seconds)),
        ("loss", _loss_line(metrics)),
        ("eval loss", f"last {metrics.last_eval_loss:.4f}, best {metrics.best_eval_loss:.4f}" if evals else "–"),
        # The objective's key curves: the last logged value, and the last evaluation's.
        *((curve.label, _key_line(curve, metrics)) for curve in report.key_curves),
        ("tokens/s", f"{run.tokens_per_second:,.0f}" if run.tokens_per_second else "–"),
        # Where it trains: its worker here, or its SLURM job.
        ("slurm", cluster.job_words(run) or "not submitted yet")
        if run.on_slurm
        else ("pid", f"{run.pid} on {run.host}" if run.pid else "–"),
    ):
        grid.add_row(label, Text(literal(value)))
    if run.tags:
        grid.add_row("tags", Text(literal(" ".join(run.tags)), style="cyan"))
    if run.notes:
        grid.add_row("note", Text(literal(run.notes)))
    if run.error:
        grid.add_row("error", Text(literal(run.error), style="red"))
    stopped = early_stop(store.artifacts(run.id))
    if stopped:
        grid.add_row("early stop", Text(literal(stop_line(stopped)), style="yellow"))
    # Where it came from: the data's hash, the weights', the versions, git (`tuitune.runs.lineage`).
    for label, words in lineage.brief(run.lineage):
        grid.add_row(Text(literal(label)), Text(literal(words), style="dim"))
    console.print(grid)
    if report.artifacts:
        console.print("\n[bold]Artifacts[/]")
        for artifact in report.artifacts:
            kind = present.artifact_kind(artifact.kind, artifact.meta)
            line = Text(f"  {literal(kind):<11} {literal(artifact.path)}")
            if artifact.gone:
                line.append("  (gone: no longer on disk)", style="dim")
            console.print(line)
    for evaluation in report.evaluations[:2]:
        scores = ", ".join(f"{k} {v:.4g}" for k, v in evaluation.metrics.items() if isinstance(v, (int, float)))
        console.print(Text.assemble("\n", (f"Evaluation ({literal(evaluation.label)})", "bold"), " ", scores))
    console.print("\n[bold]Configuration[/]")
    import yaml

    console.print(
        Text(literal(yaml.safe_dump(run.config, sort_keys=False, allow_unicode=True).rstrip())), highlight=False
    )


def _key_line(curve: KeyCurveDocument, metrics: LossSummary) -> str:
    line = f"last {curve.show(metrics.latest.get(curve.key))}"
    evaluated = metrics.latest.get(EVAL_PREFIX + curve.key)
    return line + (f", eval {curve.show(evaluated)}" if evaluated is not None else "")


def _loss_line(metrics: LossSummary) -> str:
    if metrics.first_loss is None:
        return "–"
    return f"first {metrics.first_loss:.4f} → last {metrics.last_loss:.4f} (min {metrics.min_loss:.4f})"


@app.command("logs")
def logs_command(
    run_ref: str = typer.Argument(..., metavar="RUN", help=RUN_HELP),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines until the run ends."),
    lines: Optional[int] = typer.Option(None, "--lines", "-n", help="Only the last N lines."),
) -> None:
    """Print a run's worker log."""
    if lines is not None and lines < 0:
        raise UsageError(f"--lines must be 0 or more (got {lines}).")
    run = _lookup(run_ref)
    path = files.log_path(run)
    if not path.exists() and not follow:
        err_console.print(Text(f"Run {run.id} has no log yet ({literal(path)})."))
        return
    store = open_store()
    position = 0
    if lines is not None and path.exists():
        content = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for line in content[len(content) - min(lines, len(content)) :]:
            typer.echo(line)
        position = path.stat().st_size
    while True:
        if path.exists():
            with open(path, encoding="utf-8", errors="replace") as handle:
                handle.seek(position)
                chunk = handle.read()
                position = handle.tell()
            if chunk:
                typer.echo(chunk, nl=False)
        if not follow:
            return
        run = lookup.current(run.id, store=store)
        if not run.is_active:
            # One last read: the worker's final lines land just before its status changes.
            follow = False
            continue
        time.sleep(0.5)


@app.command("cancel")
def cancel_command(
    run_ref: Optional[str] = typer.Argument(None, metavar="[RUN]", help=RUN_HELP),
    sweep: Optional[int] = typer.Option(None, "--sweep", help="Cancel every queued or running run of this sweep."),
    queued: bool = typer.Option(False, "--queued", help="Cancel every run waiting in the queue (running runs go on)."),
    wait: bool = typer.Option(
        False, "--wait", help="Wait until the run (each run, with --sweep) has saved its checkpoint and stopped."
    ),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Cancel a run: it finishes the step, saves a checkpoint and stops (or a sweep's runs, or the queue)."""
    if sum((run_ref is not None, sweep is not None, queued)) != 1:
        raise UsageError("Give one of RUN, --sweep N or --queued: which runs to cancel.")
    if run_ref is None:
        _cancel_many(sweep, wait=wait, json_output=json_output)
        return
    run = _lookup(run_ref)
    was_waiting = run.in_queue
    run = _runs().cancel(run.id)
    if wait:
        run = _runs().wait(run.id)
    if json_output:
        print_json(RunCancelled(run_id=run.id, status=run.status, cancel_requested=True).model_dump(mode="json"))
    else:
        if was_waiting:
            console.print(Text(f"Run {run.id} ({literal(run.name)}) left the queue; status: {run.status}."))
        else:
            console.print(Text(f"Cancellation requested for run {run.id} ({literal(run.name)}); status: {run.status}."))


def _cancel_many(sweep_id: int | None, *, wait: bool, json_output: bool) -> None:
    """`cancel --sweep N` (its queued and running runs) or `cancel --queued` (every queued run)."""
    service = _runs()
    store = service.store
    if sweep_id is not None:
        store.get_sweep(sweep_id)  # a clear error for a sweep that does not exist
    service.reconcile()
    if sweep_id is None:
        chosen = store.queued_runs()
    else:
        # The sweep's runs that wait first: a run stopping frees a slot, which must not go to
        # a run of the same sweep about to be cancelled.
        active = [run for run in store.list_runs(sweep_id=sweep_id) if run.is_active]
        chosen = sorted(active, key=lambda run: (not run.in_queue, run.id))
    cancelled = []
    for run in chosen:
        was_waiting = run.in_queue
        try:
            run = service.cancel(run.id)
        except RunStateError:
            continue  # it ended on its own meanwhile: nothing left to cancel
        cancelled.append((run, was_waiting))
    if wait:
        cancelled = [(service.wait(run.id), was_waiting) for run, was_waiting in cancelled]
    if json_output:
        document = CancelledRuns(
            sweep_id=sweep_id,
            cancelled=[
                CancelledRun(run_id=run.id, name=run.name, status=run.status, was_queued=was_waiting)
                for run, was_waiting in cancelled
            ],
        )
        print_json(document.model_dump(mode="json"))
        return
    if not cancelled:
        if sweep_id is not None:
            console.print(Text(f"Nothing to cancel: sweep {sweep_id} has no queued or running runs."))
        else:
            console.print("Nothing to cancel: no run waits in the queue.")
        return
    left = sum(1 for _, was_waiting in cancelled if was_waiting)
    said = [f"{left} left the queue"] if left else []
    if len(cancelled) > left:
        said.append(f"{len(cancelled) - left} {'stopped' if wait else 'asked to stop'}")
    runs = f"{len(cancelled)} run{'s' if len(cancelled) != 1 else ''}"
    where = f" of sweep {sweep_id}" if sweep_id is not None else " waiting in the queue"
    console.print(Text(f"Cancelled {runs}{where}: {', '.join(said)}."))
    for run, _ in cancelled:
        console.print(Text(f"  {run.id:>5}  {literal(run.name)}  {run.status}"))


@app.command("resume")
def resume_command(
    run_ref: str = typer.Argument(..., metavar="RUN", help=RUN_HELP),
    epochs: Optional[float] = typer.Option(None, "--epochs", "-e", help="Train to this many epochs in all."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Train to this many steps in all."),
    detach: bool = typer.Option(False, "--detach", help="Resume in the background and return at once."),
    queue: bool = typer.Option(False, "--queue", help="Wait in the queue for a free slot (implies --detach)."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Resume a cancelled, failed or crashed run from its last checkpoint (or train a finished one further)."""
    if epochs is not None and max_steps is not None:
        raise UsageError("Give --epochs or --max-steps, not both.")
    service = _runs()
    store = service.store
    run = service.resume(_lookup(run_ref).id, epochs=epochs, max_steps=max_steps, queue=queue)
    if detach or queue:
        if json_output:
            place = service.queue_places().get(run.id) if run.in_queue else None
            print_json(run_in_background(run, place).model_dump(mode="json"))
        elif run.in_queue:
            console.print(
                Text(f"Run {run.id} ({literal(run.name)}) waits in the queue to resume; see `tuitune queue`.")
            )
        else:
            console.print(Text(present.started_line(run, "Resumed")))
        return
    finish_run(run, store, json_output=json_output)


@app.command("delete")
def delete_command(
    run_ref: str = typer.Argument(..., metavar="RUN", help=RUN_HELP),
    files: bool = typer.Option(False, "--files", help="Also delete the run's folder (adapter, checkpoints, log)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a run from the history (and its files with --files)."""
    run = _lookup(run_ref)
    if not yes:
        what = f"run {run.id} ({literal(run.name)})" + (
            f" and the files tuitune wrote in {literal(run.output_dir)}" if files else ""
        )
        if not typer.confirm(f"Delete {what}?", default=False, err=True):
            raise typer.Exit(1)
    removal = _runs().delete(run.id, files=files)
    message = f"Deleted run {run.id} ({literal(run.name)})"
    if removal is not None and removal.kept:
        shown = ", ".join(literal(name) for name in removal.kept[:5]) + (" …" if len(removal.kept) > 5 else "")
        message += f" and its files; kept {run.output_dir} for what tuitune did not write there: {shown}"
    elif not files and run.output_dir and Path(run.output_dir).exists():
        message += f" (files kept in {literal(run.output_dir)})"
    console.print(Text(message + "."))
