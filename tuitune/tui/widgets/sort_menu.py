"""`s` in the history: pick the column to sort by from a list (enter: ascending; again: descending)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class SortMenu(ModalScreen[tuple[str, bool] | None]):
    """Dismisses with (column key, descending), or None for escape."""

    BINDINGS = [Binding("escape,s", "close", "Close", tooltip="Keep the order as it is.", id="sort-close")]

    def __init__(self, columns: Sequence[tuple[str, str]], current: str | None, descending: bool) -> None:
        super().__init__(classes="modal")
        self._columns = list(columns)  # (key, label)
        self._current = current
        self._descending = descending

    def compose(self) -> ComposeResult:
        options = []
        for key, label in self._columns:
            text = Text(label)
            if key == self._current:
                text.append("  " + ("▼ descending" if self._descending else "▲ ascending"), style="bold")
                text.append(" · enter again reverses", style="dim")
            options.append(Option(text, id=key))
        with Vertical(classes="dialog sort-dialog"):
            yield Label("Sort the runs by", classes="dialog-title")
            yield OptionList(*options, id="sort-columns")

    def on_mount(self) -> None:
        menu = self.query_one(OptionList)
        keys = [key for key, _label in self._columns]
        menu.highlighted = keys.index(self._current) if self._current in keys else 0
        menu.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        key = event.option.id or ""
        # The current column again flips the order; a new one starts ascending.
        descending = not self._descending if key == self._current else False
        self.dismiss((key, descending))

    def action_close(self) -> None:
        self.dismiss(None)
