"""`?`: every key of every screen, read from the bindings themselves so it is never out of date."""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def _sections() -> list[tuple[str, list[Binding]]]:
    # Imported here: the help screen is the only place that needs every screen class at once.
    from tuitune.tui.app import TuituneApp
    from tuitune.tui.screens.chat import ChatScreen
    from tuitune.tui.screens.compare import CompareScreen
    from tuitune.tui.screens.detail import RunDetailScreen
    from tuitune.tui.screens.history import HistoryScreen
    from tuitune.tui.screens.training import TrainingScreen
    from tuitune.tui.screens.wizard import WizardScreen
    from tuitune.tui.widgets.run_table import RunTable

    def own(bindings: list) -> list[Binding]:
        return [b for b in bindings if isinstance(b, Binding) and b.description]

    return [
        (
            "Everywhere",
            [
                *own(TuituneApp.BINDINGS),
                Binding(
                    "ctrl+p", "command_palette", "Command palette", tooltip="Every action by name, and open any run."
                ),
            ],
        ),
        (
            "New run (wizard)",
            [
                *own(WizardScreen.BINDINGS),
                Binding("tab", "", "Next field"),
                Binding(
                    "enter",
                    "",
                    "In the model or dataset field: read what you typed; again (or unchanged): go on. Elsewhere: press the focused button",
                ),
            ],
        ),
        ("Training", own(TrainingScreen.BINDINGS)),
        (
            "History",
            [
                *own(RunTable.BINDINGS),
                *own(HistoryScreen.BINDINGS),
                Binding(
                    "ctrl+p",
                    "",
                    "The queue: Pause the queue, Unpause the queue, Queue slots; Compare sweep N (palette commands)",
                ),
            ],
        ),
        (
            "Run detail",
            [*own(RunDetailScreen.BINDINGS), Binding("left,right", "", "Switch tabs (when the tab bar has the focus)")],
        ),
        ("Compare", own(CompareScreen.BINDINGS)),
        (
            "Chat",
            [
                Binding("enter", "", "Send the prompt: every pane answers it, with the same settings and seed"),
                *own(ChatScreen.BINDINGS),
            ],
        ),
    ]


def binding_reference() -> Iterator[tuple[str, str, str, str]]:
    """(screen, keys, what it does, more) for every documented binding; also feeds docs/tui.md."""
    for section, bindings in _sections():
        for binding in bindings:
            keys = ", ".join(_key(k) for k in binding.key.split(","))
            yield section, keys, binding.description, binding.tooltip


def _key(key: str) -> str:
    return {
        "question_mark": "?",
        "exclamation_mark": "!",
        "slash": "/",
        "space": "space",
        "escape": "esc",
        "left_square_bracket": "[",
        "right_square_bracket": "]",
    }.get(key, key)


class HelpScreen(ModalScreen[None]):
    """The key reference; escape or ? closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", tooltip="Close the help.", id="help-close")]

    def compose(self) -> ComposeResult:
        parts: list[RenderableType] = [Text("tuitune keys (also: ctrl+p lists every action by name)", style="bold")]
        current = None
        table = None
        for section, keys, description, more in binding_reference():
            if section != current:
                current = section
                table = Table(
                    title=section,
                    title_justify="left",
                    title_style="bold cyan",
                    expand=True,
                    show_header=False,
                    box=None,
                    padding=(0, 1),
                )
                table.add_column(width=22, style="bold yellow")
                table.add_column(ratio=1)
                table.add_column(ratio=2, style="dim")
                parts.append(table)
            assert table is not None
            table.add_row(keys, description, more if more != description else "")
        with Vertical(classes="dialog help-dialog"):
            with VerticalScroll():
                yield Static(Group(*parts))

    def action_dismiss(self) -> None:  # type: ignore[override]  # help returns nothing: no result to pass
        self.dismiss(None)
