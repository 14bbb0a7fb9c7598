"""Messages from the layers below, worded for the app rather than for a shell.

The engine, the exporters and the CLI (which the app runs in child processes) tell a user what to
do next in command-line terms: `pass --token`, `give --epochs`, `tuitune resume 4`. In the app
the same advice points at the field, the dialog or the key that does it. One table, applied
wherever the app shows such a message (notifications, a run's error, its events); a key is named
by its action (`{upload}`), so the message says the user's key when their keymap moved it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# (pattern, replacement), applied in order; patterns are regular expressions.
APP_WORDS: tuple[tuple[str, str], ...] = (
    (
        r"run `hf auth login`, set HF_TOKEN, or pass --token",
        "type a token in the upload dialog ({upload}), set HF_TOKEN, or run `hf auth login` in a shell",
    ),
    (r"\bpass --token\b", "type a token in the upload dialog ({upload})"),
    (
        r"give --epochs or --max-steps to train it further",
        "give a larger total in the resume dialog ({resume}) to train it further",
    ),
    (r"give --max-steps above (\d+)", r"give a total of steps above \1 in the resume dialog"),
    (r"give --epochs above that", "give a total of epochs above that in the resume dialog"),
    (r"(?:resume with |then )?`tuitune resume \d+`", "resume it with {resume}"),
    # The Hub's command-line tool was renamed; the layers below may still name the old one.
    (r"--batch-size", "Batch size"),
    (r"--grad-accum", "Grad accumulation"),
    (r"--max-length", "Max length"),
    (r"--method (\w+)", r"method \1"),
    (r"set preference\.chosen_only to train sft", "tick Chosen answers only (method step) to train sft"),
)
_COMPILED = tuple((re.compile(pattern), replacement) for pattern, replacement in APP_WORDS)


def default_key(action: str) -> str:
    """An action's own key, for a message shown where the app's keymap is not at hand."""
    # Imported here: this module is plain text at the bottom of the app, imported by its screens
    # and widgets; the run actions' table sits above it (textual, the store, the failure reporter).
    from tuitune.tui.run_actions import ACTIONS

    return ACTIONS[action].key


def for_the_app(message: str, key_of: Callable[[str], str] = default_key) -> str:
    """`message` with command-line advice turned into what to do in the app; `key_of` names the
    key of an action (the app's `key_of`: the user's keys)."""
    for pattern, replacement in _COMPILED:
        if "{" in replacement:
            names = re.findall(r"\{(\w+)\}", replacement)
            replacement = replacement.format(**{name: key_of(name) for name in names})
        message = pattern.sub(replacement, message)
    return message
