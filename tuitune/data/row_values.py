"""Reading one value of a row: text, message content, a role, tool definitions; and why a row is skipped.

Shared by the readers of every format (formats.py for the supervised ones, preference_rows.py
for pairs, labelled answers and prompts), so each format reads a message the same way.
"""

from __future__ import annotations

import json
from typing import Any

from tuitune.errors import MalformedDataError
from tuitune.text.user_text import excerpt


class SkipRow(Exception):
    """A row that holds nothing to train on; the message is the reason, counted in the statistics."""


# sharegpt speakers and other datasets' role names, mapped onto ours. A function call is something
# the model says (trained); an observation is what a tool answered (not trained).
ROLE_ALIASES: dict[str, str] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "human": "user",
    "prompter": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "function_call": "assistant",
    "tool_call": "assistant",
    "tool": "tool",
    "observation": "tool",
    "function": "tool",
    "function_response": "tool",
    "tool_response": "tool",
    "ipython": "tool",
}


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def content_of(value: Any) -> str:
    """Message content: a string, or OpenAI's list of parts of which the text parts are kept."""
    if isinstance(value, list):
        parts = [p.get("text", "") if isinstance(p, dict) else as_text(p) for p in value]
        return "".join(as_text(p) for p in parts)
    return as_text(value)


def role_of(name: Any) -> str:
    role = ROLE_ALIASES.get(str(name).strip().lower())
    if role is None:
        known = ", ".join(sorted(ROLE_ALIASES))
        raise MalformedDataError(f"unknown role {excerpt(name)}; known roles: {known}.")
    return role


def tools_of(value: Any) -> str | None:
    """A row's tool definitions as the JSON text of a list of schemas, or None when it has none.

    OpenAI's `tools` is a list of `{"type": "function", "function": {...}}`; glaive-style sharegpt
    data keeps a JSON string of schemas, sometimes a single object."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise MalformedDataError("tools is not JSON: give a list of function schemas.") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise MalformedDataError("tools is not a list of function schemas (JSON objects).")
    return json.dumps(value, ensure_ascii=False) if value else None
