"""A run's note and tags: `note` and `tag`. Light: no torch."""

from __future__ import annotations

from typing import Optional

import typer
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, print_json
from tuitune.cli.runs_cmd import RUN_HELP, _lookup, _runs
from tuitune.errors import UsageError
from tuitune.runs.labels import MAX_NOTE_CHARS, MAX_TAGS
from tuitune.runs.present import literal
from tuitune.store import Run


def _print_labels(run: Run, json_output: bool) -> None:
    if json_output:
        print_json({"run_id": run.id, "notes": run.notes, "tags": run.tags})
        return
    console.print(Text.assemble((f"Run {run.id}", "bold"), " ", literal(run.name)))
    console.print(Text.assemble(("  tags ", "dim"), (literal(" ".join(run.tags)) or "–", "cyan")))
    console.print(Text.assemble(("  note ", "dim"), literal(run.notes or "–")))


@app.command("note")
def note_command(
    run_ref: str = typer.Argument(..., metavar="RUN", help=RUN_HELP),
    text: Optional[str] = typer.Argument(
        None, metavar="[TEXT]", help=f"The note (at most {MAX_NOTE_CHARS} characters); none: show the note."
    ),
    clear: bool = typer.Option(False, "--clear", help="Take the run's note away."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write a note on a run (shown by `show`, the app and the dashboard; the history filter matches it)."""
    run = _lookup(run_ref)
    if clear and text is not None:
        raise UsageError("Give TEXT or --clear, not both.")
    if clear or text is not None:
        run = _runs().set_note(run.id, None if clear else text)
    _print_labels(run, json_output)


@app.command(
    "tag", help=f"Tag a run (at most {MAX_TAGS} tags; filter the history by `tag:NAME`). No TAG: show its tags."
)
def tag_command(
    run_ref: str = typer.Argument(..., metavar="RUN", help=RUN_HELP),
    tags: Optional[list[str]] = typer.Argument(None, metavar="[TAG]...", help="Tags to add (one word each)."),
    remove: Optional[list[str]] = typer.Option(None, "--remove", "-r", help="A tag to take away (repeatable)."),
    clear: bool = typer.Option(False, "--clear", help="Take every tag away first."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    run = _lookup(run_ref)
    service = _runs()
    if clear:
        run = service.set_tags(run.id, [])
    if tags or remove:
        run = service.tag(run.id, add=tags or [], remove=remove or [])
    _print_labels(run, json_output)
