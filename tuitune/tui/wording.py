"""Messages from the layers below, worded for the app rather than for a shell.

The engine, the exporters and the CLI (which the app runs in child processes) tell a user what to
do next in command-line terms: `pass --token`, `give --epochs`, `tuitune resume 4`. In the app
the same advice points at the field, the dialog or the key that does it. One table, applied
wherever the app shows such a message (notifications, a run's error, its events).
"""

from __future__ import annotations

import re

# (pattern, replacement), applied in order; patterns are regular expressions.
APP_WORDS: tuple[tuple[str, str], ...] = (
    (
        r"run `hf auth login`, set HF_TOKEN, or pass --token",
        "type a token in the upload dialog (u), set HF_TOKEN, or run `hf auth login` in a shell",
    ),
    (r"\bpass --token\b", "type a token in the upload dialog (u)"),
    (
        r"give --epochs or --max-steps to train it further",
        "give a larger total in the resume dialog (r) to train it further",
    ),
    (r"give --max-steps above (\d+)", r"give a total of steps above \1 in the resume dialog"),
    (r"give --epochs above that", "give a total of epochs above that in the resume dialog"),
    (r"(?:resume with |then )?`tuitune resume \d+`", "resume it with r"),
    # The Hub's command-line tool was renamed; the layers below may still name the old one.
    (r"--batch-size", "Batch size"),
    (r"--grad-accum", "Grad accumulation"),
    (r"--max-length", "Max length"),
    (r"--method (\w+)", r"method \1"),
)
_COMPILED = tuple((re.compile(pattern), replacement) for pattern, replacement in APP_WORDS)


def for_the_app(message: str) -> str:
    """`message` with command-line advice turned into what to do in the app."""
    for pattern, replacement in _COMPILED:
        message = pattern.sub(replacement, message)
    return message
