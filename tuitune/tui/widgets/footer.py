"""The footer, fitted to the terminal's width: whole keys give way instead of being cut off."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer

# Textual does not export the footer's key widget; fitting the keys means telling them apart.
from textual.widgets._footer import FooterKey

if TYPE_CHECKING:
    from textual.screen import Screen

# Always shown: the help lists every key that gives way, and quitting must never be hidden.
ESSENTIAL_ACTIONS = frozenset({"help", "quit"})


class FittingFooter(Footer):
    """Textual's footer, but at 80 columns the keys that do not fit are left out whole.

    Textual's footer scrolls sideways when its keys overflow, with no way to scroll it from the
    keyboard: at 80 columns the overflow hid `? Help` and `q Quit` and showed through the docked
    palette key. This one keeps `? Help`, `q Quit` and the palette key, then the screen's own
    keys in order, then the app's mode keys (n, h, t) while there is room.
    """

    def __init__(self, *, compact: bool = True) -> None:
        super().__init__(compact=compact)
        self._fitted_width = 0
        self._drawn_for: Hashable = None  # what the keys were last drawn from (see bindings_changed)

    def bindings_changed(self, screen: Screen) -> None:
        # Textual draws the keys again on every change of the screen's bindings (a move of the
        # focus, a refresh_bindings: the history asks on every move of its cursor), new widgets
        # each time; most changes leave the keys as they were, and those are not drawn again.
        if self.is_attached and self._bindings_ready and self._drawn_for == self._drawn_from(screen):
            return
        super().bindings_changed(screen)

    async def recompose(self) -> None:
        # Asked twice for one change (the bindings, and the first resize): drawn once.
        if self.is_attached and self._bindings_ready:
            drawing = self._drawn_from(self.screen)
            if drawing == self._drawn_for:
                return
            self._drawn_for = drawing
        await super().recompose()

    def _drawn_from(self, screen: Screen) -> Hashable:
        """What the keys shown depend on: the width, the style and each active binding as shown."""
        bindings = tuple(
            (key, binding.key_display, binding.description, binding.action, enabled, tooltip, node is self.app)
            for key, (node, binding, enabled, tooltip) in screen.active_bindings.items()
        )
        return self.size.width, self.compact, self.show_command_palette, bindings

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        width = self.size.width
        self._fitted_width = width
        if not width:
            yield from widgets
            return
        active = self.screen.active_bindings
        budget = width
        essential: list[Widget] = []
        screen_keys: list[Widget] = []
        app_keys: list[Widget] = []
        for widget in widgets:
            if (
                not isinstance(widget, FooterKey)
                or widget.has_class("-command-palette")
                or widget.action in ESSENTIAL_ACTIONS
            ):
                budget -= self._width_of(widget)
                essential.append(widget)
            elif widget.key in active and active[widget.key][0] is self.app:
                app_keys.append(widget)
            else:
                screen_keys.append(widget)
        kept = set(map(id, essential))
        for group in (screen_keys, app_keys):
            for widget in group:
                needed = self._width_of(widget)
                if needed > budget:
                    break  # keep the order: a later key never jumps ahead of one left out
                budget -= needed
                kept.add(id(widget))
            else:
                continue
            break
        yield from (widget for widget in widgets if id(widget) in kept)

    def _width_of(self, widget: Widget) -> int:
        """Cells a footer key takes: key, space, description and its margin (or padding)."""
        if not isinstance(widget, FooterKey):
            return 0  # group labels: we use none; never let them cost a key its place
        width = cell_len(widget.key_display) + 1 + cell_len(widget.description) + 1
        if widget.has_class("-command-palette"):
            width += 1  # its left border
        if not self.compact:
            width += 2
        return width

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._fitted_width:
            self.call_after_refresh(self.recompose)
