"""`tuitune export-metrics`: a past run's curves from the store as TensorBoard event files or a CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, print_json
from tuitune.cli.runs_cmd import RUN_HELP, _lookup
from tuitune.runs.present import literal
from tuitune.store import open_store


@app.command("export-metrics")
def export_metrics_command(
    run_ref: str = typer.Argument(..., metavar="RUN", help=RUN_HELP),
    to: str = typer.Option(..., "--to", help="tensorboard (a folder of event files) or csv (one row per step)."),
    output: Optional[Path] = typer.Option(
        None,
        "--output",
        "-o",
        help="Where to write (default: <run folder>/exported/tensorboard or <run folder>/exported/metrics.csv).",
    ),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write a run's logged curves (every metric it recorded) for TensorBoard or a spreadsheet.

    For runs trained before a tracker was set up; a run with `training.report_to` writes its
    tracker's files while it trains.
    """
    from tuitune.runs.metrics_export import export_metrics

    run = _lookup(run_ref)
    written = export_metrics(run, open_store(), to, output)
    if json_output:
        print_json(written)
        return
    console.print(
        Text.assemble(
            ("Exported ", "green"),
            f"{written['steps']} steps of {len(written['metrics'])} metrics to ",
            literal(written["path"]),
        ),
        soft_wrap=True,  # a path stays whole on one line, to copy
    )
    if written["format"] == "tensorboard":
        console.print(Text(f"Open it with: tensorboard --logdir {literal(written['path'])}"), soft_wrap=True)
