"""Showing user text safely: names, errors, paths and samples are printed as they are, never as
markup (rich/Textual) and never as terminal control sequences. Light: no torch, no textual."""

from __future__ import annotations

import re

# C0 and C1 control characters but tab and newline: an ESC in a run name must not reach the
# terminal as an escape sequence (colours, cursor moves, hyperlinks, window titles).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def literal(value: object) -> str:
    """`value` as text that shows what it holds: control characters as `\\x1b`-style escapes."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", str(value))


def has_control_characters(value: str) -> bool:
    return bool(_CONTROL.search(value)) or "\n" in value or "\t" in value
