"""One line above the footer with the background tasks (evaluate, merge, upload) and their progress."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class TaskBar(Static):
    """Hidden while nothing runs in the background; every screen has one, just above its footer.

    In the layout flow rather than docked: two widgets docked to the bottom would overlap.
    """

    DEFAULT_CSS = """
    TaskBar {
        height: 1;
        padding: 0 1;
        background: $boost;
        color: $text-accent;
        display: none;
    }
    TaskBar.-busy { display: block; }
    """

    def on_mount(self) -> None:
        actions = getattr(self.app, "run_actions", None)
        if actions is not None:
            actions.tasks_changed.subscribe(self, self._show)
            self._show(dict(actions.tasks))

    def _show(self, tasks: dict[int, str]) -> None:
        self.set_class(bool(tasks), "-busy")
        if tasks:
            lines = list(tasks.values())
            more = f"  (+{len(lines) - 1} more)" if len(lines) > 1 else ""
            self.update(Text(f"⟳ {lines[-1]}{more}"))
        else:
            self.update("")
