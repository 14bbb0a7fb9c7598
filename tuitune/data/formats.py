"""Recognise a dataset's format from its rows, and read each row into the canonical shape.

Formats: `alpaca`, `chat` (OpenAI messages), `sharegpt`, `completion` (prompt/completion-like
pairs) and `text`. A row that cannot be trained on (no response, empty text) is skipped with a
reason, so the statistics can say how many rows went and why.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tuitune.data.examples import Conversation, Document, Example, Message, join_instruction_input
from tuitune.data.sources import RecordTable
from tuitune.errors import EmptyDatasetError, MalformedDataError, NoTextColumnsError, UnknownFormatError
from tuitune.text.user_text import excerpt, shorten

FORMATS: tuple[str, ...] = ("alpaca", "chat", "sharegpt", "completion", "text")

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

# Pairs for the completion format, in order of preference: (prompt column, completion column).
COMPLETION_PAIRS: tuple[tuple[str, str], ...] = (
    ("prompt", "completion"),
    ("prompt", "response"),
    ("question", "answer"),
    ("query", "response"),
    ("input", "output"),
    ("input", "target"),
    ("source", "target"),
    ("context", "response"),
)
_ALPACA_RESPONSE = ("output", "response")
# Columns that hold identifiers or labels, never text to train on.
_NOT_TEXT = {"id", "idx", "index", "uuid", "url", "label", "labels", "split", "source", "lang", "language"}


class SkipRow(Exception):
    """A row that holds nothing to train on; the message is the reason, counted in the statistics."""


@dataclass
class ParsedData:
    """The canonical examples of a table, in source order, with what was skipped and why."""

    format: str
    examples: list[Example]
    columns: list[str]
    rows: int
    skipped: Counter[str] = field(default_factory=Counter)
    text_columns: list[str] | None = None


# --- detection -----------------------------------------------------------------------------
def detect_format(records: list[dict[str, Any]], columns: Iterable[str] | None = None) -> str | None:
    """The format the rows are in, or None when they match none (the text fallback is the caller's)."""
    cols = set(columns if columns is not None else (k for r in records[:100] for k in r))
    if "messages" in cols:
        return "chat"
    if "conversations" in cols or "conversation" in cols:
        return "sharegpt"
    if "instruction" in cols and any(c in cols for c in _ALPACA_RESPONSE):
        return "alpaca"
    if completion_columns(cols) is not None:
        return "completion"
    if "text" in cols:
        return "text"
    return None


def completion_columns(columns: Iterable[str]) -> tuple[str, str] | None:
    cols = set(columns)
    return next((pair for pair in COMPLETION_PAIRS if pair[0] in cols and pair[1] in cols), None)


def text_columns_of(records: list[dict[str, Any]], columns: list[str]) -> list[str]:
    """Columns holding free text: strings that are not numbers, ids or labels."""
    found = []
    sample = records[:200]
    for column in columns:
        if column.lower() in _NOT_TEXT or column.lower().endswith("_id"):
            continue
        values = [r.get(column) for r in sample if r.get(column) not in (None, "")]
        if values and all(isinstance(v, str) for v in values) and not all(_is_number(str(v)) for v in values):
            found.append(column)
    return found


def _is_number(value: str) -> bool:
    try:
        return not math.isnan(float(value))
    except ValueError:
        return value.strip().lower() in ("true", "false")


# --- reading rows --------------------------------------------------------------------------
def parse_records(table: RecordTable, format: str = "auto", text_columns: list[str] | None = None) -> ParsedData:
    """Every row of `table` as a canonical example, in the named or detected format."""
    records, columns = table.records, table.columns
    if format == "auto":
        detected = "text" if text_columns else detect_format(records, columns)
        if detected is None:
            detected = _fallback_text(table)
        format = detected
    elif format not in FORMATS:
        raise UnknownFormatError(f"Unknown format {excerpt(format)}: use one of auto, {', '.join(FORMATS)}.")
    else:
        _check_named_format(format, columns, text_columns)

    reader, chosen_text_columns = _row_reader(format, table, text_columns)
    examples: list[Example] = []
    skipped: Counter[str] = Counter()
    for index, record in enumerate(records):
        try:
            examples.append(reader(record))
        except SkipRow as reason:
            skipped[str(reason)] += 1
        except MalformedDataError as exc:
            raise MalformedDataError(f"{table.origin} row {index + 1}: {exc}") from None
    if not examples:
        reasons = ", ".join(f"{n} {why}" for why, n in skipped.most_common())
        raise EmptyDatasetError(f"{table.origin}: none of its {len(records)} rows can be trained on ({reasons}).")
    return ParsedData(format, examples, columns, len(records), skipped, chosen_text_columns)


def _row_reader(
    format: str, table: RecordTable, text_columns: list[str] | None
) -> tuple[Callable[[dict[str, Any]], Example], list[str] | None]:
    """The function reading one row of `format` (the columns it reads settled once for the
    table), and the text columns it joins when the format is text."""
    if format == "text":
        chosen = _text_columns(table, text_columns)
        return functools.partial(read_text, columns=chosen), chosen
    if format == "completion":
        pair = completion_columns(table.columns) or COMPLETION_PAIRS[0]
        return functools.partial(read_completion, pair=pair), None
    return {"alpaca": read_alpaca, "chat": read_chat, "sharegpt": read_sharegpt}[format], None


def _fallback_text(table: RecordTable) -> str:
    """Rows matching no known format train as text when some columns hold text; else say what was found."""
    if text_columns_of(table.records, table.columns):
        return "text"
    columns = _names(table.columns) or "(none)"
    nested = [c for c in table.columns if any(isinstance(r.get(c), (list, dict)) for r in table.records[:50])]
    if nested:
        raise UnknownFormatError(
            f"{table.origin} matches no known format: columns {columns}; known formats: "
            f"{', '.join(FORMATS)}. Rename the columns or convert the data to one of them."
        )
    raise NoTextColumnsError(
        f"{table.origin} has no column with text to train on (columns: {columns}); known formats: "
        f"{', '.join(FORMATS)}. Add a text column or name one with data.text_columns."
    )


def _names(columns: Iterable[str]) -> str:
    # Column names are the data's own text: a CSV header can hold a 100,000-character "name".
    return shorten(", ".join(map(str, columns)), limit=200)


def _check_named_format(format: str, columns: list[str], text_columns: list[str] | None) -> None:
    cols = set(columns)
    needed = {
        "chat": "a messages column",
        "sharegpt": "a conversations column",
        "alpaca": "instruction and output (or response) columns",
        "completion": "a pair of columns such as " + ", ".join(f"{p}/{c}" for p, c in COMPLETION_PAIRS[:4]),
    }
    ok = {
        "chat": "messages" in cols,
        "sharegpt": "conversations" in cols or "conversation" in cols,
        "alpaca": "instruction" in cols and any(c in cols for c in _ALPACA_RESPONSE),
        "completion": completion_columns(cols) is not None,
        "text": True,
    }[format]
    if not ok:
        detected = detect_format([], columns)
        hint = f" The data looks like {detected}: use --format {detected} or auto." if detected else ""
        raise UnknownFormatError(
            f"Format {format} needs {needed[format]}, but the columns are {_names(columns)}.{hint}"
        )


def _text_columns(table: RecordTable, named: list[str] | None) -> list[str]:
    if named:
        missing = [c for c in named if c not in table.columns]
        if missing:
            raise NoTextColumnsError(
                f"Text column(s) {_names(missing)} not in {table.origin}: columns are {_names(table.columns)}."
            )
        return list(named)
    if "text" in table.columns:
        return ["text"]
    found = text_columns_of(table.records, table.columns)
    if not found:
        raise NoTextColumnsError(
            f"{table.origin} has no column with text (columns: {_names(table.columns)}): "
            "name the columns to use with data.text_columns."
        )
    return found


def _string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _content(value: Any) -> str:
    """Message content: a string, or OpenAI's list of parts of which the text parts are kept."""
    if isinstance(value, list):
        parts = [p.get("text", "") if isinstance(p, dict) else _string(p) for p in value]
        return "".join(_string(p) for p in parts)
    return _string(value)


def _role(name: Any) -> str:
    role = ROLE_ALIASES.get(str(name).strip().lower())
    if role is None:
        known = ", ".join(sorted(ROLE_ALIASES))
        raise MalformedDataError(f"unknown role {excerpt(name)}; known roles: {known}.")
    return role


def _conversation(messages: list[Message], tools: str | None = None) -> Conversation:
    # Trailing turns after the last response hold nothing to learn from.
    while messages and messages[-1].role != "assistant":
        messages.pop()
    if not messages:
        raise SkipRow("no assistant response")
    if not any(m.content.strip() for m in messages if m.role == "assistant"):
        raise SkipRow("empty response")
    return Conversation(tuple(messages), tools=tools)


def _tools(value: Any) -> str | None:
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


def read_alpaca(record: dict[str, Any]) -> Conversation:
    instruction = _string(record.get("instruction"))
    input_text = _string(record.get("input"))
    output = _string(record.get("output") if record.get("output") is not None else record.get("response"))
    if not output.strip():
        raise SkipRow("empty response")
    if not (instruction.strip() or input_text.strip()):
        raise SkipRow("empty prompt")
    messages: list[Message] = []
    system = _string(record.get("system"))
    if system.strip():
        messages.append(Message("system", system))
    # LLaMA-Factory's alpaca carries earlier turns as [[instruction, response], ...].
    for turn in record.get("history") or []:
        if isinstance(turn, (list, tuple)) and len(turn) == 2:
            messages += [Message("user", _string(turn[0])), Message("assistant", _string(turn[1]))]
    messages += [Message("user", join_instruction_input(instruction, input_text)), Message("assistant", output)]
    return Conversation(tuple(messages), instruction_input=(instruction, input_text))


def read_chat(record: dict[str, Any]) -> Conversation:
    raw = record.get("messages")
    if not isinstance(raw, list):
        raise SkipRow("no messages")
    messages = []
    for item in raw:
        if not isinstance(item, dict):
            raise MalformedDataError("a message is not an object with role and content.")
        if "role" in item:
            messages.append(Message(_role(item["role"]), _content(item.get("content"))))
        else:  # sharegpt-style turns under a messages key
            messages.append(Message(_role(item.get("from")), _content(item.get("value"))))
    return _conversation(messages, _tools(record.get("tools")))


def read_sharegpt(record: dict[str, Any]) -> Conversation:
    raw = record.get("conversations", record.get("conversation"))
    if not isinstance(raw, list):
        raise SkipRow("no conversations")
    messages = []
    system = _string(record.get("system"))
    if system.strip():
        messages.append(Message("system", system))
    for item in raw:
        if not isinstance(item, dict):
            raise MalformedDataError("a turn is not an object with from and value.")
        speaker = item.get("from", item.get("role"))
        messages.append(Message(_role(speaker), _content(item.get("value", item.get("content")))))
    return _conversation(messages, _tools(record.get("tools")))


def read_completion(record: dict[str, Any], pair: tuple[str, str]) -> Conversation:
    prompt, completion = _string(record.get(pair[0])), _string(record.get(pair[1]))
    if not completion.strip():
        raise SkipRow("empty response")
    if not prompt.strip():
        raise SkipRow("empty prompt")
    return Conversation((Message("user", prompt), Message("assistant", completion)))


def read_text(record: dict[str, Any], columns: list[str]) -> Document:
    text = "\n\n".join(_string(record.get(c)).strip() for c in columns if _string(record.get(c)).strip())
    if not text:
        raise SkipRow("empty text")
    return Document(text)
