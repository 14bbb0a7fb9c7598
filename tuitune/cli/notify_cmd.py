"""`tuitune notify`: the store-wide webhook every run reports its ending to. Light: no torch."""

from __future__ import annotations

from typing import Optional

import typer
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, print_json
from tuitune.errors import UsageError

# Commands import what they use when they run: `tuitune --help` imports every command module.

notify_app = typer.Typer(
    help="Where runs say they ended: a webhook URL for every run (set, show, clear, test).",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(notify_app, name="notify")

STYLE_HELP = "The body's shape: json, slack or ntfy (default: read from the URL)."


def _current() -> dict[str, str | None]:
    from tuitune.runs import notify
    from tuitune.store import open_store

    store = open_store()
    url = store.setting(notify.DEFAULT_KEY)
    style = notify.style_of(url, store.setting(notify.DEFAULT_STYLE_KEY)) if url else None
    # The URL is its own password (Slack's, ntfy's): shown by its host, even with --json.
    return {"webhook": notify.shown(url) if url else None, "style": style}


@notify_app.command("set")
def set_command(
    url: str = typer.Argument(..., metavar="URL", help="http(s) URL to POST to when a run ends."),
    style: Optional[str] = typer.Option(None, "--style", help=STYLE_HELP),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Send every run's ending to URL, unless its config (notify.webhook) or --notify says otherwise."""
    from tuitune.runs import notify
    from tuitune.store import open_store

    if style is not None and style not in notify.STYLES:
        raise UsageError(f"--style must be one of {', '.join(notify.STYLES)} (got {style!r}).")
    store = open_store()
    store.set_setting(notify.DEFAULT_KEY, notify.checked_url(url, "URL"))
    store.set_setting(notify.DEFAULT_STYLE_KEY, style)
    current = _current()
    if json_output:
        print_json(current)
    else:
        console.print(Text(f"Runs report their ending to {current['webhook']} ({current['style']})."))
        console.print("Try it with [bold]tuitune notify test[/].")


@notify_app.command("clear")
def clear_command(json_output: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Stop sending runs' endings to the store-wide webhook (notify.webhook and --notify still do)."""
    from tuitune.runs import notify
    from tuitune.store import open_store

    store = open_store()
    store.set_setting(notify.DEFAULT_KEY, None)
    store.set_setting(notify.DEFAULT_STYLE_KEY, None)
    if json_output:
        print_json(_current())
    else:
        console.print("No store-wide webhook: runs report their ending only where their config or --notify says.")


@notify_app.command("show")
def show_command(json_output: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """The store-wide webhook, by its host (its path is a secret)."""
    current = _current()
    if json_output:
        print_json(current)
    elif current["webhook"]:
        console.print(Text(f"Runs report their ending to {current['webhook']} ({current['style']})."))
    else:
        console.print("No store-wide webhook. Set one with [bold]tuitune notify set URL[/].")


@notify_app.command("test")
def test_command(
    url: Optional[str] = typer.Argument(None, metavar="[URL]", help="Default: the store-wide webhook."),
    style: Optional[str] = typer.Option(None, "--style", help=STYLE_HELP),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Send a test message now and say whether it arrived (tried as a run's ending is)."""
    from tuitune.runs import notify
    from tuitune.runs.notify_send import deliver
    from tuitune.store import open_store

    store = open_store()
    if url is None:
        url = store.setting(notify.DEFAULT_KEY)
        if not url:
            raise UsageError("No store-wide webhook to test: give a URL, or set one with `tuitune notify set URL`.")
        style = style or store.setting(notify.DEFAULT_STYLE_KEY)
    url = notify.checked_url(url, "URL")
    chosen = notify.style_of(url, style)
    message = notify.Message(
        "test", "completed", "tuitune: test message", "Runs will report their ending here.", {"test": True}
    )
    headers, body = notify.request_for(message, chosen)
    tries, reason = deliver(url, headers, body)
    outcome = {"webhook": notify.shown(url), "style": chosen, "delivered": reason is None, "tries": tries}
    if json_output:
        print_json({**outcome, "error": reason})
    elif reason is None:
        console.print(Text(f"Delivered to {outcome['webhook']} ({chosen})."))
    else:
        console.print(Text(f"Not delivered to {outcome['webhook']} after {tries} tries: {reason}", style="red"))
    if reason is not None:
        raise typer.Exit(1)
