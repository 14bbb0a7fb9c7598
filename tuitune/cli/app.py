"""The Typer application and the helpers every command shares (output, JSON, run lookup).

Command modules import `app` from here and register themselves; nothing here imports torch.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

from tuitune.errors import UsageError

app = typer.Typer(
    name="tuitune",
    help="Fine-tune language models: a terminal app (run `tuitune` alone), a CLI and a Python API.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Human output goes to stdout; with --json stdout carries exactly one JSON document, so
# progress and notes go to stderr.
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

JSON_HELP = "Print one JSON document on stdout and nothing else there."


def print_json(document: Any) -> None:
    """Print exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def not_yet_available(command: str) -> None:
    raise UsageError(f"`tuitune {command}` is not yet available in this version.")
