"""`tuitune store check` and `tuitune store backup PATH`: keeping the run store safe. Light: no torch."""

from __future__ import annotations

import typer
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, print_json

# Commands import what they use when they run: `tuitune --help` imports every command module.

store_app = typer.Typer(
    help="Check the run store, or back it up while runs go on.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(store_app, name="store")


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@store_app.command("check")
def check_command(json_output: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Check the run store for damage (SQLite's integrity and foreign-key checks); changes nothing."""
    from tuitune.store.maintenance import check_store

    health = check_store()
    if json_output:
        print_json(health.to_dict())
    elif health.ok:
        where = " (read-only here)" if health.read_only else ""
        console.print(
            Text(
                f"The run store {health.path} is healthy{where}: {health.runs} runs, schema version "
                f"{health.schema_version}, {_megabytes(health.size_bytes)} (+{_megabytes(health.wal_bytes)} "
                "write-ahead log)."
            )
        )
        if health.advice != "Nothing to do.":
            console.print(Text(health.advice.removeprefix("Nothing to do. ")))
        for finding in health.findings:
            console.print(Text(f"  - {finding}", style="yellow"))
    else:
        console.print(Text(f"The run store {health.path} is damaged:", style="bold red"))
        for problem in health.problems:
            console.print(Text(f"  - {problem}"))
        console.print(Text(health.advice))
    if not health.ok or health.findings:
        raise typer.Exit(1)  # the report above is the message; scripts see the exit code


@store_app.command("backup")
def backup_command(
    # Text, not a Path: `backups/` (a folder, by its slash) must not become `backups`.
    destination: str = typer.Argument(
        ..., metavar="PATH", help="A new file to write, or an existing folder to put a dated copy in."
    ),
    force: bool = typer.Option(False, "--force", help="Replace PATH if it is a file (an earlier backup)."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Copy the run store to PATH with SQLite's online backup: consistent even while runs train."""
    from tuitune.store.maintenance import backup_store

    written = backup_store(destination, overwrite=force)
    if json_output:
        print_json({"backup": str(written), "size_bytes": written.stat().st_size})
    else:
        console.print(Text(f"Backed up the run store to {written} ({_megabytes(written.stat().st_size)})."))
