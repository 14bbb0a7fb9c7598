"""`!`: every message the app showed this session, newest first (a toast vanishes; this stays)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tuitune.runs import present

SEVERITY_STYLES = {"information": "", "warning": "yellow", "error": "bold red"}


@dataclass(frozen=True)
class AppMessage:
    """One notification as it was shown."""

    time: datetime
    severity: str  # information, warning, error
    title: str
    message: str


def messages_text(messages: Iterable[AppMessage]) -> Text:
    """Newest first: time, severity, title, then the message, all as plain text."""
    text = Text()
    for index, item in enumerate(reversed(list(messages))):
        if index:
            text.append("\n\n")
        text.append(present.clock_time(item.time), style="dim")
        if item.severity != "information":
            text.append(f" {item.severity}", style=SEVERITY_STYLES.get(item.severity, ""))
        if item.title:
            text.append(f"  {item.title}", style="bold")
        text.append("\n")
        text.append(item.message, style="red" if item.severity == "error" else "")
    if not text:
        text.append("No messages yet.", style="dim")
    return text


class MessagesScreen(ModalScreen[None]):
    """The app's messages, to read again; escape or ! closes it."""

    BINDINGS = [
        Binding("escape,exclamation_mark,q", "close", "Close", tooltip="Close the messages.", id="messages-close")
    ]

    def __init__(self, messages: Iterable[AppMessage]) -> None:
        super().__init__(classes="modal")
        self._messages = list(messages)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog messages-dialog"):
            yield Label(f"Messages ({len(self._messages)}, newest first) · escape closes", classes="dialog-title")
            with VerticalScroll():
                yield Static(messages_text(self._messages), id="messages-text")

    def action_close(self) -> None:
        self.dismiss(None)
