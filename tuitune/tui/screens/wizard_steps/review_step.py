"""Wizard step 4: the run's objective and its settings, the configuration as YAML, checked the way
the run will use it, and Launch.

The check is the engine's own work before a first step (tokenizer, data read against the method,
templated, tokenized, split; the Trainer's arguments), done by the wizard's probe process: what
would fail a launched run at step 0 is refused here, with the engine's message.
"""

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
from tuitune.tui.screens.wizard_steps.objectives import objective_summary
from tuitune.tui.wording import for_the_app


class ReviewStep(Vertical):
    """Shows exactly what will run; `Launch` and `Add to queue` are enabled only for a valid configuration."""

    class LaunchRequested(Message):
        def __init__(self, queued: bool = False) -> None:
            super().__init__()
            self.queued = queued  # add it to the end of the queue rather than start it now

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.config: RunConfig | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="review-objective")
        with VerticalScroll(id="review-yaml"):
            yield Static("", id="review-config")
        yield Static("", id="review-check")
        yield Static("", id="review-notes")
        with Horizontal(id="review-actions"):
            yield Input(
                value="tuitune-run.yaml",
                id="save-path",
                compact=True,
                tooltip="Where `Save` writes the configuration (YAML, or JSON for .json).",
            )
            yield Button("Save config", id="save")
            yield Button("Add to queue", id="enqueue")
            yield Button("Launch ▶", variant="success", id="launch")

    def show(self, config: RunConfig | None, error: str | None = None) -> None:
        """Display a built config, or the reason it could not be built."""
        self.config = config
        view = self.query_one("#review-config", Static)
        notes = self.query_one("#review-notes", Static)
        objective = self.query_one("#review-objective", Static)
        objective.display = config is not None
        if config is None:
            view.update(Text(f"✗ {error}", style="bold red"))
            self.query_one("#review-check", Static).update("")
            notes.update(Text("Go back (escape) and fix it, then come here again.", style="dim"))
            self._enable(False)
            return
        self.show_check(None, None, pending=True)
        objective.update(objective_summary(config))
        view.update(Syntax(config.to_yaml(), "yaml", theme="ansi_dark", background_color="default"))
        where = (
            "Launch (or Add to queue) submits it to SLURM as a job: it waits in SLURM's queue and trains on "
            "the cluster with the slurm settings of its configuration (set them in a config file for `tuitune train -c`; `tuitune cluster use local` "
            "trains here instead)."
            if config.backend == "slurm"
            else "Launch starts a background worker: it keeps training if you close the app. "
            "Add to queue puts it at the end of the line: it starts when a slot is free."
        )
        hints = [*config.notes, where]
        notes.update(Text("\n".join(hints), style="dim"))
        self._enable(True)

    def show_check(self, result: dict | None, error: str | None, *, pending: bool = False) -> None:
        """How the check of the shown config went: running, passed (what the run will train on), or why not."""
        line = self.query_one("#review-check", Static)
        if pending:
            line.update(Text("⟳ Checking the data and settings the way the run will use them…", style="italic"))
            return
        if error is not None:
            text = Text("✗ A run with these settings would fail at once: ", style="bold red")
            text.append(for_the_app(error), style="red")
            text.append("\nGo back (escape) to change the method or the data, then come here again.", style="dim")
            line.update(text)
            self._enable(False)
            self.query_one("#review-notes", Static).display = False
            return
        self.query_one("#review-notes", Static).display = True
        result = result or {}
        dropped = sum((result.get("dropped") or {}).values())
        text = Text("✓ Checked: ", style="bold green")
        text.append(
            f"{result.get('format', '?')} data, template {result.get('template', '?')}, "
            f"{result.get('train', 0):,} training and {result.get('validation', 0):,} validation samples"
            + (f", {dropped:,} dropped" if dropped else "")
            + "."
        )
        line.update(text)
        self._enable(True)

    def _enable(self, enabled: bool) -> None:
        for button in self.query("#launch, #enqueue").results(Button):
            button.disabled = not enabled

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

    @on(Button.Pressed, "#enqueue")
    def _enqueue(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.LaunchRequested(queued=True))
