"""`tuitune compare RUN RUN [RUN…]`: runs side by side. Light: reads the store only."""

from __future__ import annotations

import json
from typing import Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, print_json
from tuitune.errors import UsageError
from tuitune.runs import lookup, present
from tuitune.runs.present import literal
from tuitune.store import open_store

# Commands import what they use when they run: `tuitune --help` imports every command module.

RUNS_HELP = "Two or more runs: ids, names, or `last`."


def _value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


@app.command("compare")
def compare_command(
    runs: Optional[list[str]] = typer.Argument(None, help=RUNS_HELP, metavar="RUN RUN [RUN…]"),
    sweep: Optional[int] = typer.Option(None, "--sweep", help="Compare every run of this sweep (with any RUNs given)."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Compare runs: the settings that differ, final losses, their objectives' key values (reward
    margin and accuracy, mean reward), time, speed and evaluation scores."""
    from tuitune.runs.compare import compare_runs, only_in

    store = open_store()
    found = [lookup.find(ref, store=store) for ref in runs or []]
    if sweep is not None:
        store.get_sweep(sweep)  # a clear error for a sweep that does not exist
        found += sorted(store.list_runs(sweep_id=sweep), key=lambda run: run.id)
    if len(found) < 2:
        raise UsageError("Give at least two runs to compare, e.g. `tuitune compare 1 2` or `--sweep 3`.")
    if len({run.id for run in found}) < len(found):
        raise UsageError("The same run is named twice: give different runs to compare.")
    comparison = compare_runs(found, store, curves=json_output)
    if json_output:
        print_json(comparison.model_dump(mode="json"))
        return

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("")
    for summary in comparison.runs:
        table.add_column(Text(f"{summary.run_id} {literal(summary.name)}"), justify="right")

    # Names, models, datasets and settings are the user's text, never markup ("[/x]" in a name).
    def row(label: str, cells: list[str], style: str | None = None) -> None:
        table.add_row(Text(label), *(Text(literal(cell)) for cell in cells), style=style)

    summaries = comparison.runs
    row("status", [s.status for s in summaries])
    row("method", [s.method for s in summaries])
    row("objective", [s.objective for s in summaries])
    row("model", [s.model for s in summaries])
    row("dataset", [s.dataset for s in summaries])
    row("steps", [str(s.steps) for s in summaries])
    row("time", [present.duration(s.duration_seconds) for s in summaries])
    row("tokens/s", [present.number(s.tokens_per_second, 0) for s in summaries])
    row("train loss", [present.number(s.train_loss) for s in summaries])
    row("eval loss", [present.number(s.eval_loss) for s in summaries])
    row("best eval loss", [present.number(s.best_eval_loss) for s in summaries])
    for curve in comparison.key_curves:
        # The last logged value; `–` for a run that has not logged it yet, or whose objective does not.
        row(curve.label, [curve.show(s.key_values.get(curve.key)) for s in summaries])
    for metric in comparison.metrics:
        row(metric, [present.number(s.scores.get(metric)) for s in summaries])
    console.print(table)
    for curve in comparison.only_some():
        console.print(Text(f"{curve.label}: {only_in(curve, comparison)}", style="dim"))

    console.print()
    if comparison.lineage_differences:
        console.print("[bold]Where they came from differs[/]")
        for line in comparison.lineage_differences:
            console.print(Text(f"  {literal(line)}"))
        console.print()
    if comparison.differences:
        # A table's title wraps to the table's width: a narrow table of two short keys would break
        # it over lines, so the heading is printed on its own.
        console.print("[bold]Settings that differ[/]")
        settings = Table(box=None, header_style="bold", pad_edge=False)
        settings.add_column("key")
        for summary in summaries:
            settings.add_column(str(summary.run_id))
        for key, values in comparison.differences.items():
            settings.add_row(Text(literal(key)), *[Text(literal(_value(v))) for v in values])
        console.print(settings)
    else:
        console.print("The runs have the same settings.")
