"""A widget built, and its module imported, after the first frame: Textual's `Lazy`, from a function.

`Lazy` takes the widget itself, so its module (and what that imports: the config's pydantic
models for the wizard's later steps) is imported before the first paint; and during Textual's
start-up batch it mounts the widget before anything is painted. This one builds it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.widget import Widget

from tuitune.tui.typed import OfTuitune


class Later(OfTuitune, Widget):
    """Stands, hidden, where `build()`'s widget is mounted once the first screen has been painted."""

    def __init__(self, build: Callable[[], Widget]) -> None:
        super().__init__()
        self._build = build
        self.display = False

    def on_mount(self) -> None:
        self.tuitune.after_first_frame(self._replace)

    async def _replace(self) -> None:
        parent = self.parent
        if parent is None or not self.is_attached:  # the screen closed meanwhile
            return
        assert isinstance(parent, Widget)
        await parent.mount(self._build(), after=self)
        await self.remove()
