"""The `tuitune` command: with no arguments the terminal app, else a headless command.

Every `TuituneError` becomes one line on stderr and a non-zero exit; no traceback reaches the user.
"""

from __future__ import annotations

import os
import sys

from tuitune.system.child import as_tuitune_process

as_tuitune_process()  # before anything imports pydantic

import typer  # noqa: E402
from rich.text import Text  # noqa: E402

from tuitune import __version__  # noqa: E402

# Command modules register themselves on `app` when imported; each keeps heavy imports inside
# its functions so `tuitune --help` and the light commands start fast.
from tuitune.cli import commands as _commands  # noqa: E402, F401
from tuitune.cli.app import app, err_console  # noqa: E402
from tuitune.errors import TuituneError, UsageError  # noqa: E402
from tuitune.text.user_text import shorten  # noqa: E402


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tuitune {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", "-V", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """Fine-tune language models: run `tuitune` alone for the terminal app."""
    if ctx.invoked_subcommand is None:
        if not _has_terminal():
            raise UsageError(
                "`tuitune` alone opens the terminal app, but input here is not a terminal: run it in one, "
                "or see `tuitune --help` for the commands (e.g. `tuitune train --demo`)."
            )
        # Imported here: only `tuitune` alone opens the app; every other command leaves the TUI
        # package unloaded.
        from tuitune.tui import run_app

        run_app()


def _has_terminal() -> bool:
    """Whether the app can read keys: stdin is a terminal, or textual-serve drives the app
    (`tuitune web`), whose driver reads the browser's keys from a pipe."""
    if os.environ.get("TEXTUAL_DRIVER"):
        return True
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # a closed stdin
        return False


def _print_any_text() -> None:
    """A file name of bytes that are not UTF-8 reaches Python as lone surrogates (`\\udcff`); echoed
    back ("Config written to …") it would stop the command with a UnicodeEncodeError after its
    work was done. Printed as `\\udcff` instead, like every other character a terminal cannot take."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or detached stream: nothing is printed anyway
                pass


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    _print_any_text()
    try:
        # Outside standalone mode click hands back the code of a `typer.Exit` instead of exiting.
        code = app(args=argv, prog_name="tuitune", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except TuituneError as error:
        _fail(str(error), error.exit_code)
    except typer.Exit as done:  # --help, --version, typer.Exit
        sys.exit(done.exit_code)
    except typer.Abort:  # Ctrl+C or "no" at a confirmation prompt
        err_console.print("aborted")
        sys.exit(1)
    except typer.TyperException as error:
        context = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError" and context is not None:
            typer.echo(context.get_help())  # `tuitune store` alone: what it can do
            sys.exit(0)
        # Usage errors in one line, like every other error, with where to find the right usage.
        where = f" (see `{context.command_path} -h`)" if context is not None else ""
        message = error.format_message() if hasattr(error, "format_message") else str(error)
        _fail(shorten(message, 300) + where, getattr(error, "exit_code", 2))
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


def _fail(message: str, code: int) -> None:
    # The message is plain text: brackets in paths or names must not be read as rich markup.
    err_console.print(Text.assemble(("error: ", "bold red"), " ".join(message.split())), soft_wrap=True)
    sys.exit(code)
