"""`?`: every key of every screen, read from the bindings themselves so it is never out of date.

The run actions' rows come from their table (`run_actions`): what they do and when they apply; the
keys shown are the user's where the keymap file changed them (`keymap`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tuitune.tui.keymap import key_words
from tuitune.tui.run_actions import action_of
from tuitune.tui.screens.messages import MessagesScreen
from tuitune.tui.widgets.confirm import ConfirmModal
from tuitune.tui.widgets.prompts import DeleteModal, ResumeModal


def _sections() -> list[tuple[str, list[Binding]]]:
    # Imported here: the help screen is the only place that needs every screen class at once.
    from tuitune.tui.app_bindings import APP_BINDINGS
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
                *own(APP_BINDINGS),
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


def binding_sections() -> list[tuple[str, list[Binding]]]:
    """(screen, its bindings) for every screen the help lists, the app's own first ("Everywhere")."""
    return _sections()


def every_binding() -> Iterator[Binding]:
    """Every binding the help lists, of every screen."""
    for _section, bindings in _sections():
        yield from bindings


def every_binding_id() -> set[str]:
    """The id of every binding of the app, its screens, widgets and dialogs (a keymap file names
    bindings by these)."""
    # Imported here, as in `_sections`: the app imports this module at start, and these two
    # dialogs load when first opened.
    from tuitune.tui.widgets.chat_settings import ChatSettingsModal
    from tuitune.tui.widgets.sort_menu import SortMenu

    dialogs = (HelpScreen, MessagesScreen, ChatSettingsModal, ConfirmModal, DeleteModal, ResumeModal, SortMenu)
    bindings = [*every_binding(), *(binding for dialog in dialogs for binding in dialog.BINDINGS)]
    return {binding.id for binding in bindings if isinstance(binding, Binding) and binding.id}


class KeyRow(NamedTuple):
    """One row of the key reference."""

    section: str  # the screen
    keys: str  # as a person writes them: `?, ctrl+x`
    action: str  # the binding's description
    more: str  # its tooltip (a run action's says when it applies)
    id: str  # its id, the name a keymap file rebinds it by ("" for a row that only explains)


def binding_reference(keymap: Mapping[str, str] | None = None) -> Iterator[KeyRow]:
    """Every documented binding, with the keys `keymap` gives (binding id -> keys; None: the
    defaults); also feeds README.md and docs/tui.md (scripts/key_reference.py)."""
    keymap = keymap or {}
    for section, bindings in _sections():
        for binding in bindings:
            keys = key_words(keymap.get(binding.id or "", binding.key))
            more = binding.tooltip
            action = action_of(binding)
            if action is not None:
                more = f"{more} For {action.when}."
            yield KeyRow(section, keys, binding.description, more, binding.id or "")


class HelpScreen(ModalScreen[None]):
    """The key reference; escape or ? closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", tooltip="Close the help.", id="help-close")]

    def compose(self) -> ComposeResult:
        parts: list[RenderableType] = [Text("tuitune keys (also: ctrl+p lists every action by name)", style="bold")]
        current = None
        table = None
        for section, keys, description, more, _id in binding_reference(getattr(self.app, "keymap", None)):
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
            # Text, not markup: the keys may be the user's (`[` is a key).
            table.add_row(Text(keys), Text(description), Text(more if more != description else ""))
        with Vertical(classes="dialog help-dialog"):
            with VerticalScroll():
                yield Static(Group(*parts))

    def action_dismiss(self) -> None:  # type: ignore[override]  # help returns nothing: no result to pass
        self.dismiss(None)
