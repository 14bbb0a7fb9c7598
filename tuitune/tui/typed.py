"""Typed access to tuitune's app from its screens and widgets (Textual types `self.app` as any App)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

    from tuitune.tui.app import TuituneApp


class OfTuitune:
    """Mix into a Screen or Widget of tuitune's app for `self.tuitune`: the app, typed as such."""

    @property
    def tuitune(self) -> TuituneApp:
        return cast("TuituneApp", cast("MessagePump", self).app)
