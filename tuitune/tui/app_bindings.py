"""The app's own keys, offered on every screen: declared here so the help and the keymap read
them without importing the app."""

from __future__ import annotations

from textual.binding import Binding, BindingType

APP_BINDINGS: list[BindingType] = [
    Binding("n", "new_run", "New run", tooltip="Start the new-run wizard.", id="new-run"),
    Binding("h", "history", "History", tooltip="Every run in a table.", id="history"),
    Binding("t", "training", "Training", tooltip="Live view of the selected or latest running run.", id="training"),
    Binding("question_mark", "help", "Help", tooltip="Every key on every screen.", id="help"),
    Binding("q", "quit", "Quit", tooltip="Leave the app; running runs keep going.", id="quit"),
    Binding(
        "exclamation_mark",
        "messages",
        "Messages",
        tooltip="Every message the app showed: toasts vanish, this list does not.",
        id="messages",
    ),
    Binding("ctrl+t", "next_theme", "Theme", show=False, tooltip="Switch to the next colour theme.", id="theme"),
    # A priority binding: a modal screen (a dialog, the help, the palette) hides the app's
    # other bindings, and a screenshot of a dialog is wanted as much as of any screen.
    Binding(
        "ctrl+s",
        "save_svg",
        "Screenshot",
        show=False,
        tooltip="Save an SVG screenshot of the screen (a dialog's too).",
        id="screenshot",
        priority=True,
    ),
]
