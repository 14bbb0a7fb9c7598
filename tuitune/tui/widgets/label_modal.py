"""Write a run's note and tags in one small form (`l` on the history and a run's detail)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from tuitune.runs.labels import MAX_NOTE_CHARS, MAX_TAGS, InvalidLabelError, clean_note, clean_tags
from tuitune.runs.present import literal_text
from tuitune.tui.widgets.prompts import _FormModal


@dataclass(frozen=True)
class LabelRequest:
    """The note (None: none) and the tags, checked as the store keeps them."""

    notes: str | None
    tags: list[str]


class LabelModal(_FormModal):
    """The note and the tags (space-separated words) of one run; enter in either field saves both."""

    def __init__(self, run_name: str, notes: str | None, tags: list[str]) -> None:
        super().__init__(classes="modal")
        self._run_name, self._notes, self._tags = run_name, notes or "", tags

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(literal_text(f"Note and tags of {self._run_name}"), classes="dialog-title")
            yield Label(Text("Note"))
            yield Input(
                value=self._notes,
                max_length=MAX_NOTE_CHARS,
                placeholder="what this run tried, what came of it",
                id="notes",
                compact=True,
            )
            yield Label(Text(f"Tags (words, at most {MAX_TAGS}; the history filter finds tag:NAME)"))
            yield Input(value=" ".join(self._tags), placeholder="e.g. baseline best", id="tags", compact=True)
            yield Static("", id="error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="submit", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#notes", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        try:
            request = LabelRequest(
                clean_note(self.query_one("#notes", Input).value),
                clean_tags(self.query_one("#tags", Input).value.split()),
            )
        except InvalidLabelError as error:
            self.query_one("#error", Static).update(Text(str(error)))
            return
        self.dismiss(request)
