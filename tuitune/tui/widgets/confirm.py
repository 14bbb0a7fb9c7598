"""A yes/no question over the current screen: `y` does it, `n` or `escape` does not.

The buttons say what happens ("Stop the run" / "Keep running"), with their key; the safe one has
the focus, so a stray `enter` never deletes or stops anything. Titles and messages quote run
names, paths and errors: they are shown as plain text, never read as markup, with control
characters escaped.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from tuitune.runs.present import literal_text


def button_label(what: str, key: str) -> Text:
    """`Stop the run (y)`: what the button does and the key that does it too."""
    return Text.assemble(what, (f" ({key})", "dim"))


class ConfirmModal(ModalScreen[bool]):
    """Ask before doing something that cannot be undone; dismisses with True or False."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", tooltip="Do it.", id="confirm-yes"),
        Binding("n,escape", "answer(False)", "No", tooltip="Do nothing and close.", id="confirm-no"),
    ]

    def __init__(
        self,
        title: str,
        message: str,
        *,
        confirm_label: str = "Yes",
        cancel_label: str = "No",
        danger: bool = True,
    ) -> None:
        super().__init__(classes="modal")
        self._title = title
        self._message = message
        self._confirm_label = confirm_label
        self._cancel_label = cancel_label
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(literal_text(self._title), classes="dialog-title")
            yield Static(literal_text(self._message), classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    button_label(self._confirm_label, "y"),
                    variant="error" if self._danger else "primary",
                    id="yes",
                    compact=True,
                )
                yield Button(button_label(self._cancel_label, "n"), id="no", compact=True)

    def on_mount(self) -> None:
        # The safe answer has the focus: enter alone never destroys anything.
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
