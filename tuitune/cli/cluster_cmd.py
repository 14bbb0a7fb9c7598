"""`tuitune cluster`: where runs train by default, and the SLURM cluster's partitions with their
free GPUs (`sinfo`). Light: no torch."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, print_json
from tuitune.errors import SlurmError, UsageError

# Commands import what they use when they run: `tuitune --help` imports every command module.

cluster_app = typer.Typer(
    help="Where runs train: this machine or a SLURM cluster (its partitions and free GPUs).",
    invoke_without_command=True,
    add_completion=False,
)
app.add_typer(cluster_app, name="cluster")


@cluster_app.callback()
def cluster_command(ctx: typer.Context, json_output: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show the store's default backend and, on a SLURM login node, the partitions and their free GPUs."""
    if ctx.invoked_subcommand is not None:
        return
    from tuitune.engine.launcher import backend_default
    from tuitune.runs.documents import ClusterDocument, PartitionDocument
    from tuitune.store import open_store
    from tuitune.system import slurm

    backend = backend_default(open_store())
    try:
        partitions, problem = slurm.partitions(), None
    except SlurmError as unreachable:  # no SLURM here: say so, the backend still shows
        partitions, problem = [], str(unreachable)
    if json_output:
        document = ClusterDocument(
            backend=backend,
            partitions=[PartitionDocument.model_validate(partition) for partition in partitions],
            slurm_error=problem,
        )
        print_json(document.model_dump(mode="json"))
        return
    console.print(Text.assemble("Runs train on ", (backend, "bold"), " unless they say otherwise (--backend)."))
    if problem:
        console.print(Text(f"SLURM: {problem}", style="yellow"))
        return
    table = Table(box=None, header_style="bold")
    for column in ("partition", "state", "time limit", "nodes", "GPUs", "free GPUs"):
        table.add_column(column, justify="right" if "GPU" in column or column == "nodes" else "left")
    for partition in partitions:
        states = ", ".join(f"{count} {state}" for state, count in sorted(partition.states.items()))
        table.add_row(
            Text(partition.name + (" (default)" if partition.default else "")),
            Text(("up" if partition.available else "down") + (f": {states}" if states else "")),
            Text(partition.time_limit),
            str(partition.nodes),
            str(partition.gpus),
            Text(str(partition.free_gpus), style="green" if partition.free_gpus else "dim"),
        )
    console.print(table)


@cluster_app.command("use")
def use_command(
    backend: str = typer.Argument(..., metavar="BACKEND", help="local (this machine's queue) or slurm (SLURM jobs)."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Make BACKEND where runs train when their config does not say (a run's --backend wins)."""
    from tuitune.config import BACKENDS
    from tuitune.engine.launcher import BACKEND_SETTING
    from tuitune.store import open_store

    if backend not in BACKENDS:
        raise UsageError(f"BACKEND must be one of {', '.join(BACKENDS)} (got {backend!r}).")
    if backend == "slurm":
        from tuitune.system import slurm

        slurm.partitions()  # refused now, in SLURM's words, on a machine that is no login node
    open_store().set_setting(BACKEND_SETTING, None if backend == "local" else backend)
    if json_output:
        print_json({"backend": backend})
    else:
        console.print(Text(f"Runs now train on {backend} unless they say otherwise."))
