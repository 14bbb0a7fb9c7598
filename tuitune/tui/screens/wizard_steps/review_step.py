"""Wizard step 4: the run's configuration as YAML, saved to a file on request, and Launch."""

from __future__ import annotations

from pathlib import Path

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Static

from tuitune.config import RunConfig
from tuitune.errors import TuituneError


class ReviewStep(Vertical):
    """Shows exactly what will run; `Launch` is enabled only for a valid configuration."""

    class LaunchRequested(Message):
        pass

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.config: RunConfig | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="review-yaml"):
            yield Static("", id="review-config")
        yield Static("", id="review-notes")
        with Horizontal(id="review-actions"):
            yield Input(value="tuitune-run.yaml", id="save-path", compact=True,
                        tooltip="Where `Save` writes the configuration (YAML, or JSON for .json).")
            yield Button("Save config", id="save")
            yield Button("Launch ▶", variant="success", id="launch")

    def show(self, config: RunConfig | None, error: str | None = None) -> None:
        """Display a built config, or the reason it could not be built."""
        self.config = config
        view = self.query_one("#review-config", Static)
        notes = self.query_one("#review-notes", Static)
        launch = self.query_one("#launch", Button)
        if config is None:
            view.update(Text(f"✗ {error}", style="bold red"))
            notes.update(Text("Go back (escape) and fix it, then come here again.", style="dim"))
            launch.disabled = True
            return
        view.update(Syntax(config.to_yaml(), "yaml", theme="ansi_dark", background_color="default"))
        hints = list(config.notes) + ["Launch starts a background worker: it keeps training if you close the app."]
        notes.update(Text("\n".join(hints), style="dim"))
        launch.disabled = False

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        if self.config is None:
            return
        target = Path(self.query_one("#save-path", Input).value.strip() or "tuitune-run.yaml").expanduser()
        try:
            written = self.config.save(target)
        except (OSError, TuituneError) as exc:
            self.app.notify(f"Could not save {target}: {getattr(exc, 'strerror', None) or exc}", severity="error")
            return
        self.app.notify(f"Saved {written.resolve()} — run it headless with `tuitune train --config {written}`.")

    @on(Button.Pressed, "#launch")
    def _launch(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.LaunchRequested())
