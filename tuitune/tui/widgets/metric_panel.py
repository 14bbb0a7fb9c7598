"""A titled metric: its latest value in words and a sparkline of its history."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline


class MetricPanel(Vertical):
    """Latest value and history of one metric, updated in place (no re-mount, so no flicker)."""

    DEFAULT_CSS = """
    MetricPanel {
        height: 4;
        border: round $primary 50%;
        border-title-color: $text-accent;
        padding: 0 1;
    }
    MetricPanel > .metric-value { width: 1fr; height: 1; text-style: bold; }
    MetricPanel > Sparkline { height: 1fr; min-height: 1; }
    """

    def __init__(self, title: str, *, history: int = 300, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = title
        self._values: deque[float] = deque(maxlen=history)

    def compose(self) -> ComposeResult:
        yield Label("–", classes="metric-value")
        yield Sparkline([], summary_function=max)

    @property
    def values(self) -> list[float]:
        return list(self._values)

    def extend(self, values: Iterable[float]) -> None:
        """Append new readings; the sparkline redraws from the kept history."""
        new = list(values)
        if new:
            self._values.extend(new)
            self.query_one(Sparkline).data = list(self._values)

    def set_value(self, text: str) -> None:
        self.query_one(".metric-value", Label).update(Text(text))

    def reset(self) -> None:
        self._values.clear()
        self.query_one(Sparkline).data = []
        self.set_value("–")
