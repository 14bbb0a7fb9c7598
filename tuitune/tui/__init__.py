"""The Textual app. Nothing outside this package imports textual."""

from __future__ import annotations

from tuitune.system.child import as_tuitune_process

as_tuitune_process()  # the app is one of tuitune's own processes, however it was started


def run_app() -> None:
    """Open the terminal app."""
    # Imported here: the package's other modules (the chat session, the services) are imported
    # without the app, and the CLI imports this package only to run it.
    from tuitune.tui.app import TuituneApp

    TuituneApp().run()
