"""`tuitune sweep`: queue a grid of settings as runs; `sweep show` ranks them. Light: no torch."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, err_console, print_json
from tuitune.cli.run_options import RunFlags, with_run_flags
from tuitune.cli.train_cmd import build_config
from tuitune.runs.present import literal
from tuitune.runs.sweep_documents import listed_sweeps, sweep_queued
from tuitune.store import open_store

# Commands import what they use when they run: `tuitune --help` imports every command module.

sweep_app = typer.Typer(
    help="Queue a grid of settings as runs (tuitune sweep --demo --set lora.r=8,16), and rank them.",
    add_completion=False,
    invoke_without_command=True,
)
app.add_typer(sweep_app, name="sweep")


@sweep_app.callback()
@with_run_flags
def sweep_command(
    ctx: typer.Context,
    sets: Optional[list[str]] = typer.Option(
        None, "--set", help="KEY=V1,V2,… a setting to vary (repeatable), e.g. training.learning_rate=1e-4,2e-4."
    ),
    max_runs: int = typer.Option(64, "--max-runs", min=1, help="Refuse a grid of more runs than this (1 or more)."),
    drop_unused: bool = typer.Option(
        False,
        "--drop-unused",
        help="Leave out combinations that differ only in a setting the method ignores (lora.* for full), instead of refusing.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the grid, queue nothing."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
    *,
    run_flags: RunFlags,
) -> None:
    """Check every combination of the --set values (all or nothing), then queue one run for each."""
    if ctx.invoked_subcommand is not None:
        return
    from tuitune.engine.sweep import SweepError, plan_sweep, queue_sweep

    base = build_config(run_flags).to_dict()
    try:
        plan = plan_sweep(base, sets or [], max_runs=max_runs, drop_unused=drop_unused)
    except SweepError as error:
        for problem in error.problems:  # one line per bad combination, then the verdict
            err_console.print(Text.assemble(("invalid: ", "bold red"), literal(problem)), soft_wrap=True)
        raise
    if plan.dropped and not json_output:
        err_console.print(
            Text(
                f"Left out {len(plan.dropped)} repeats (a setting the method ignores): {literal(', '.join(plan.dropped))}"
            ),
            soft_wrap=True,
        )
    if dry_run:
        if json_output:
            print_json(plan.document().model_dump(mode="json"))
        else:
            console.print(Text(f"{len(plan.configs)} runs (nothing queued, --dry-run):"))
            for label in plan.labels:
                console.print(Text(f"  {literal(label)}"))
        return
    from tuitune.engine.preflight import check_sources

    # Each distinct data source and model read once before anything is queued, as `tuitune train`
    # does: a sweep that could not start is refused whole, not left as runs that fail in turn.
    checked: set[str] = set()
    for config in plan.configs:
        sources = json.dumps([config.data.model_dump(mode="json"), config.model.model_dump(mode="json"), config.method])
        if sources not in checked:
            check_sources(config)
            checked.add(sources)
    sweep, runs = queue_sweep(plan, base=base, gpus=run_flags.gpus)
    if run_flags.notify:
        from tuitune.runs import notify
        from tuitune.store import open_store

        notify.remember(notify.sweep_key(sweep.id), run_flags.notify, open_store())
    if json_output:
        print_json(sweep_queued(sweep, runs, plan.dropped).model_dump(mode="json"))
        return
    console.print(Text(f"Sweep {sweep.id} ({literal(sweep.name)}): queued {len(runs)} runs."))
    for run in runs:
        console.print(Text(f"  {run.id:>5}  {literal(run.name)}  {run.status}"))
    console.print(f"Watch them with [bold]tuitune queue[/], rank them with [bold]tuitune sweep show {sweep.id}[/].")


@sweep_app.command("show")
def show_command(
    sweep_id: int = typer.Argument(..., metavar="SWEEP", help="The sweep's id."),
    by: str = typer.Option(
        "eval_loss", "--by", help="Rank by eval_loss, loss, or an evaluation score (rougeL, bleu, …)."
    ),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Rank a sweep's runs, best first, with the settings that differ as columns."""
    from tuitune.engine.sweep import sweep_results

    ranking = sweep_results(sweep_id, by=by)
    if json_output:
        print_json(ranking.model_dump(mode="json"))
        return
    sweep = ranking.sweep
    console.print(Text(f"Sweep {sweep.id}: {literal(sweep.name)}, ranked by {by}", style="bold"))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in ("#", "id", *sweep.grid, by, "status", "steps"):
        table.add_column(
            header.split(".")[-1], justify="right" if header in ("#", "id", by, "steps") else "left", no_wrap=True
        )
    for run in ranking.runs:
        table.add_row(
            str(run.rank or "–"),
            str(run.id),
            *(Text(literal(run.settings[key])) for key in sweep.grid),
            f"{run.value:.4f}" if run.value is not None else "–",
            run.status,
            str(run.steps or 0),
        )
    console.print(table)


@sweep_app.command("list")
def list_command(json_output: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List sweeps, newest first, with how their runs stand."""

    sweeps = listed_sweeps(open_store())
    if json_output:
        print_json([sweep.model_dump(mode="json") for sweep in sweeps])
        return
    if not sweeps:
        console.print("No sweeps yet. Queue one with [bold]tuitune sweep --demo --set lora.r=8,16[/].")
        return
    for sweep in sweeps:
        counts = ", ".join(f"{count} {status}" for status, count in sorted(sweep.statuses.items()))
        console.print(Text(f"{sweep.id:>4}  {literal(sweep.name)}  {counts}"))
