"""A run's story as it happens: loading, the data summary, evaluations, warnings, errors.

The training screen shows these rather than the worker's log file: metric lines belong in the
charts above, and a traceback (a real bug) stays in the file. Each line is plain text: a message
quotes paths and errors, whose square brackets are not markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.widgets import RichLog

from tuitune.runs import present
from tuitune.store import Event, MetricPoint
from tuitune.tui.wording import for_the_app

LEVEL_STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red"}


@dataclass(frozen=True)
class LogEntry:
    """One line of the story."""

    time: datetime
    level: str
    message: str

    def text(self) -> Text:
        line = Text(present.clock_time(self.time) + " ", style="dim")
        if self.level in ("warning", "error"):
            line.append(f"{self.level}: ", style=LEVEL_STYLES[self.level])
        line.append(present.literal(for_the_app(self.message)), style=LEVEL_STYLES.get(self.level, ""))
        return line


def story(events_: Iterable[Event], points: Iterable[MetricPoint]) -> list[LogEntry]:
    """Events, and an evaluation line for each point with an eval loss, in time order."""
    entries = [LogEntry(event.time, event.level, event.message) for event in events_]
    entries += [
        LogEntry(point.time, "info", f"evaluation at step {point.step}: eval loss {present.number(point.eval_loss)}")
        for point in points
        if point.eval_loss is not None
    ]
    return sorted(entries, key=lambda entry: entry.time)


class EventLog(RichLog):
    """The run's events, newest at the bottom; it keeps the end in view unless you scroll up."""

    DEFAULT_CSS = """
    EventLog {
        overflow-x: hidden;
        height: 1fr;
        min-height: 3;
        padding: 0 1;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        background: $background;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        # Wrapped to the pane (a long path folds): never a sideways scroll bar taking a line.
        super().__init__(
            max_lines=2000, wrap=True, markup=False, highlight=False, auto_scroll=False, min_width=10, id=id
        )
        self.border_title = "events"
        self.messages: list[str] = []  # the plain lines, in order (what a test or a copy reads)

    def on_mount(self) -> None:
        # Anchored: the end stays in view as lines arrive and as the pane shrinks (the summary
        # box appearing above it), until the user scrolls up; scrolling back down follows again.
        self.anchor()

    def add(self, entries: Iterable[LogEntry]) -> None:
        lines = [entry.text() for entry in entries]
        if not lines:
            return
        self.messages.extend(line.plain for line in lines)
        del self.messages[:-2000]
        # One write for the batch: each write is a layout and wrap pass of its own.
        self.write(Text("\n").join(lines), scroll_end=False)

    def reset(self) -> None:
        """Forget every line (another run is shown now) and follow the end again."""
        self.clear()
        self.messages.clear()
        self.anchor()
