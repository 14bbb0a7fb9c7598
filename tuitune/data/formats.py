"""Recognise a dataset's format from its rows, and read each row into the canonical shape.

Formats: `alpaca`, `chat` (OpenAI messages), `sharegpt`, `completion` (prompt/completion-like
pairs) and `text` for supervised fine-tuning; `preference`, `labelled` and `prompts` for learning
from preferences and rewards (read by preference_rows.py). A row that cannot be trained on (no
response, empty text, a pair whose answers are the same) is skipped with a reason, so the
statistics can say how many rows went and why.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tuitune.data import preference_rows
from tuitune.data.examples import (
    Conversation,
    Document,
    Example,
    LabelledAnswer,
    Message,
    PreferenceRecord,
    join_instruction_input,
)
from tuitune.data.preference_rows import GRPO_PROMPT_COLUMNS, PREFERENCE_FORMATS, prompt_column
from tuitune.data.row_values import SkipRow, as_text, content_of, role_of, tools_of
from tuitune.data.sources import RecordTable
from tuitune.errors import EmptyDatasetError, MalformedDataError, NoTextColumnsError, UnknownFormatError
from tuitune.text.user_text import excerpt, shorten

SFT_FORMATS: tuple[str, ...] = ("alpaca", "chat", "sharegpt", "completion", "text")
FORMATS: tuple[str, ...] = SFT_FORMATS + PREFERENCE_FORMATS

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
    # Last: GRPO's prompts name their reference `answer`; sft reads such a table as pairs.
    ("prompt", "answer"),
)
_ALPACA_RESPONSE = ("output", "response")
# Columns that hold identifiers or labels, never text to train on.
_NOT_TEXT = {"id", "idx", "index", "uuid", "url", "label", "labels", "split", "source", "lang", "language"}


@dataclass
class ParsedData:
    """The canonical examples of a table, in source order, with what was skipped and why."""

    format: str
    examples: list[Example]
    columns: list[str]
    rows: int
    skipped: Counter[str] = field(default_factory=Counter)
    text_columns: list[str] | None = None
    # The preference formats' records, one per example (whose `examples` entry is the record's
    # conversation: the prompt with the chosen answer, the labelled answer, or the prompt alone).
    records: list[PreferenceRecord] = field(default_factory=list)


# --- detection -----------------------------------------------------------------------------
def detect_format(
    records: list[dict[str, Any]], columns: Iterable[str] | None = None, *, objective: str | None = None
) -> str | None:
    """The format the rows are in, or None when they match none (the text fallback is the caller's).

    For objective grpo a row with a prompt (or a question) is a prompt for the rewards, whatever
    else it holds (GSM8K's question/answer would otherwise be an SFT pair); for sft a prompt with
    an `answer` is a completion pair."""
    cols = set(columns if columns is not None else (k for r in records[:100] for k in r))
    paired = preference_rows.detect_preference_format(cols)
    if paired is not None:
        return paired
    if objective == "grpo" and prompt_column(cols, GRPO_PROMPT_COLUMNS) is not None:
        return "prompts"
    supervised = _detect_supervised(cols)
    # A prompt with nothing to imitate is a prompt for the rewards, and so is one with a reference
    # `answer` unless the run is sft (which imitates the answer).
    if "prompt" in cols and (
        supervised is None or (objective != "sft" and completion_columns(cols) == ("prompt", "answer"))
    ):
        return "prompts"
    return supervised


def _detect_supervised(cols: set[str]) -> str | None:
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
def parse_records(
    table: RecordTable, format: str = "auto", text_columns: list[str] | None = None, *, objective: str | None = None
) -> ParsedData:
    """Every row of `table` as a canonical example, in the named or detected format (`objective`
    only settles what auto detects: see `detect_format`)."""
    records, columns = table.records, table.columns
    if format == "auto":
        detected = "text" if text_columns else detect_format(records, columns, objective=objective)
        if detected is None:
            detected = _fallback_text(table)
        format = detected
    elif format not in FORMATS:
        raise UnknownFormatError(f"Unknown format {excerpt(format)}: use one of auto, {', '.join(FORMATS)}.")
    else:
        _check_named_format(format, columns, text_columns)

    if format in PREFERENCE_FORMATS:
        return _parse_preference(table, format)
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


def _parse_preference(table: RecordTable, format: str) -> ParsedData:
    """The rows of a preference, labelled or prompts table as records (and their conversations)."""
    reader = _preference_reader(format, table.columns)
    found: list[PreferenceRecord] = []
    skipped: Counter[str] = Counter()
    for index, record in enumerate(table.records):
        try:
            found.append(reader(record))
        except SkipRow as reason:
            skipped[str(reason)] += 1
        except MalformedDataError as exc:
            raise MalformedDataError(f"{table.origin} row {index + 1}: {exc}") from None
    if not found:
        reasons = ", ".join(f"{n} {why}" for why, n in skipped.most_common())
        raise EmptyDatasetError(
            f"{table.origin}: none of its {len(table.records)} rows can be trained on ({reasons}): "
            f"{format} rows need {preference_rows.needs(format)}."
        )
    if format == "labelled":
        preference_rows.check_labels([r for r in found if isinstance(r, LabelledAnswer)], table.origin)
    examples: list[Example] = [record.conversation for record in found]
    return ParsedData(format, examples, table.columns, len(table.records), skipped, None, found)


def _preference_reader(format: str, columns: list[str]) -> Callable[[dict[str, Any]], PreferenceRecord]:
    if format == "prompts":
        prompts = prompt_column(columns, GRPO_PROMPT_COLUMNS) or GRPO_PROMPT_COLUMNS[0]
        return functools.partial(preference_rows.read_prompt, column=prompts)
    column = prompt_column(columns)
    if format == "labelled":
        label = preference_rows.label_column(columns) or preference_rows.LABEL_COLUMNS[0]
        return functools.partial(preference_rows.read_labelled, column=column, label=label)
    return functools.partial(preference_rows.read_pair, column=column)


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
    if format in PREFERENCE_FORMATS:
        if not preference_rows.has_columns_for(format, cols):
            detected = detect_format([], columns)
            hint = f" The data looks like {detected}: use --format {detected} or auto." if detected else ""
            raise UnknownFormatError(
                f"Format {format} needs {preference_rows.needs(format)}, but the columns are {_names(columns)}.{hint}"
            )
        return
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


def _conversation(messages: list[Message], tools: str | None = None) -> Conversation:
    # Trailing turns after the last response hold nothing to learn from.
    while messages and messages[-1].role != "assistant":
        messages.pop()
    if not messages:
        raise SkipRow("no assistant response")
    if not any(m.content.strip() for m in messages if m.role == "assistant"):
        raise SkipRow("empty response")
    return Conversation(tuple(messages), tools=tools)


def read_alpaca(record: dict[str, Any]) -> Conversation:
    instruction = as_text(record.get("instruction"))
    input_text = as_text(record.get("input"))
    output = as_text(record.get("output") if record.get("output") is not None else record.get("response"))
    if not output.strip():
        raise SkipRow("empty response")
    if not (instruction.strip() or input_text.strip()):
        raise SkipRow("empty prompt")
    messages: list[Message] = []
    system = as_text(record.get("system"))
    if system.strip():
        messages.append(Message("system", system))
    # LLaMA-Factory's alpaca carries earlier turns as [[instruction, response], ...].
    for turn in record.get("history") or []:
        if isinstance(turn, (list, tuple)) and len(turn) == 2:
            messages += [Message("user", as_text(turn[0])), Message("assistant", as_text(turn[1]))]
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
            messages.append(Message(role_of(item["role"]), content_of(item.get("content"))))
        else:  # sharegpt-style turns under a messages key
            messages.append(Message(role_of(item.get("from")), content_of(item.get("value"))))
    return _conversation(messages, tools_of(record.get("tools")))


def read_sharegpt(record: dict[str, Any]) -> Conversation:
    raw = record.get("conversations", record.get("conversation"))
    if not isinstance(raw, list):
        raise SkipRow("no conversations")
    messages = []
    system = as_text(record.get("system"))
    if system.strip():
        messages.append(Message("system", system))
    for item in raw:
        if not isinstance(item, dict):
            raise MalformedDataError("a turn is not an object with from and value.")
        speaker = item.get("from", item.get("role"))
        messages.append(Message(role_of(speaker), content_of(item.get("value", item.get("content")))))
    return _conversation(messages, tools_of(record.get("tools")))


def read_completion(record: dict[str, Any], pair: tuple[str, str]) -> Conversation:
    prompt, completion = as_text(record.get(pair[0])), as_text(record.get(pair[1]))
    if not completion.strip():
        raise SkipRow("empty response")
    if not prompt.strip():
        raise SkipRow("empty prompt")
    return Conversation((Message("user", prompt), Message("assistant", completion)))


def read_text(record: dict[str, Any], columns: list[str]) -> Document:
    text = "\n\n".join(as_text(record.get(c)).strip() for c in columns if as_text(record.get(c)).strip())
    if not text:
        raise SkipRow("empty text")
    return Document(text)
