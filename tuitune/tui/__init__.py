"""The Textual app. Nothing outside this package imports textual."""

from __future__ import annotations


def run_app() -> None:
    """Open the terminal app."""
    from tuitune.tui.app import TuituneApp

    TuituneApp().run()
