"""Rows of the formats that learn from preferences and rewards, read into preference records.

- `preference`: a prompt with a chosen and a rejected answer, in the layouts people publish:
  `prompt`/`chosen`/`rejected` with plain text or message lists (TRL's explicit prompt);
  `chosen`/`rejected` conversations whose shared turns are the prompt (UltraFeedback, TRL's
  implicit prompt); sharegpt's `conversations` with a `chosen` and a `rejected` turn
  (LLaMA-Factory); `question` or `instruction`/`input` with chosen/rejected texts.
- `labelled`: a prompt, one `completion` and a boolean `label` (TRL's unpaired preference, for
  kto), or a conversation with LLaMA-Factory's `kto_tag`.
- `prompts`: a prompt alone (text or messages); every other column (an `answer`…) is kept for the
  reward functions (grpo).

A prompt is a `Conversation` ending before the answer, so templates render it as they render an
SFT prompt; a `system` column and a `tools` column reach it as they do for SFT data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tuitune.data.examples import Conversation, LabelledAnswer, Message, PreferencePair, PromptExample
from tuitune.data.row_values import SkipRow, as_text, content_of, role_of, tools_of
from tuitune.errors import MalformedDataError
from tuitune.text.user_text import excerpt

PREFERENCE_FORMATS: tuple[str, ...] = ("preference", "labelled", "prompts")
# Where a row keeps its prompt, in order of preference. `instruction` is joined with `input`.
PROMPT_COLUMNS: tuple[str, ...] = (
    "prompt",
    "conversations",
    "conversation",
    "messages",
    "question",
    "instruction",
    "query",
)
# The columns of the prompts format's prompt (grpo): GSM8K-style data asks a `question`.
GRPO_PROMPT_COLUMNS: tuple[str, ...] = ("prompt", "question")
LABEL_COLUMNS: tuple[str, ...] = ("label", "kto_tag")
COMPLETION_COLUMNS: tuple[str, ...] = ("completion", "response")
_CONVERSATION_COLUMNS = ("conversations", "conversation", "messages")
_TRUE = ("true", "1", "1.0")
_FALSE = ("false", "0", "0.0")


# --- detection -----------------------------------------------------------------------------
def detect_preference_format(columns: Iterable[str]) -> str | None:
    """`preference` or `labelled` when the columns say so (checked before the SFT formats: a
    sharegpt pair has `conversations` too), else None."""
    cols = set(columns)
    if "chosen" in cols and "rejected" in cols:
        return "preference"
    if label_column(cols) is None:
        return None
    has_prompt = any(c in cols for c in PROMPT_COLUMNS if c not in _CONVERSATION_COLUMNS)
    if has_prompt and any(c in cols for c in COMPLETION_COLUMNS):
        return "labelled"
    if "kto_tag" in cols and any(c in cols for c in _CONVERSATION_COLUMNS):
        return "labelled"
    return None


def label_column(columns: Iterable[str]) -> str | None:
    cols = set(columns)
    return next((c for c in LABEL_COLUMNS if c in cols), None)


def prompt_column(columns: Iterable[str], candidates: tuple[str, ...] = PROMPT_COLUMNS) -> str | None:
    cols = set(columns)
    return next((c for c in candidates if c in cols), None)


def needs(format: str) -> str:
    """What a format's rows must hold, in the words of a refusal."""
    return {
        "preference": "chosen and rejected columns (with a prompt column such as prompt, or conversations whose "
        "shared turns are the prompt)",
        "labelled": "prompt, completion and a true/false label column (or conversations with kto_tag)",
        "prompts": "a prompt column (text or messages), with the columns its rewards read, such as answer",
    }[format]


def has_columns_for(format: str, columns: Iterable[str]) -> bool:
    cols = set(columns)
    if format == "preference":
        return "chosen" in cols and "rejected" in cols
    if format == "labelled":
        return detect_preference_format(cols) == "labelled"
    return prompt_column(cols, GRPO_PROMPT_COLUMNS) is not None


# --- the prompt ----------------------------------------------------------------------------
def _messages(value: Any) -> list[Message]:
    """Turns from a list of OpenAI or sharegpt messages, one such message, or a plain text (a user turn)."""
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list):
        messages = []
        for item in value:
            if not isinstance(item, dict):
                raise MalformedDataError("a message is not an object with role and content (or from and value).")
            speaker = item.get("role", item.get("from"))
            messages.append(Message(role_of(speaker), content_of(item.get("content", item.get("value")))))
        return messages
    text = as_text(value)
    return [Message("user", text)] if text.strip() else []


def _prompt(record: dict[str, Any], column: str | None, prefix: list[Message] | None = None) -> Conversation:
    """The row's prompt as a conversation ending before the answer: its prompt column's turns,
    then `prefix` (turns an answer column carries before its answer); a `system` column first
    unless the turns have one; the row's tools."""
    instruction_input = None
    if column == "instruction":
        instruction, input_text = as_text(record.get("instruction")), as_text(record.get("input"))
        joined = "\n\n".join(p for p in (instruction.strip(), input_text.strip()) if p)
        messages = [Message("user", joined)] if joined else []
        instruction_input = (instruction, input_text)
    else:
        messages = _messages(record.get(column)) if column else []
    messages += prefix or []
    # An answer continues the conversation from the assistant's cue: trailing answers are not prompt.
    while messages and messages[-1].role == "assistant":
        messages.pop()
    if not any(m.content.strip() for m in messages if m.role != "system"):
        raise SkipRow("empty prompt")
    system = as_text(record.get("system"))
    if system.strip() and not any(m.role == "system" for m in messages):
        messages.insert(0, Message("system", system))
    return Conversation(tuple(messages), instruction_input, tools_of(record.get("tools")))


def _answer(value: Any) -> tuple[list[Message], str]:
    """(the turns before the answer, the answer's text) of an answer column: a text, one turn,
    or a conversation whose last turn is the answer."""
    if isinstance(value, (list, dict)):
        messages = _messages(value)
        if not messages or messages[-1].role != "assistant":
            raise SkipRow("an answer that is not an assistant turn")
        return messages[:-1], messages[-1].content
    return [], as_text(value)


# --- readers -------------------------------------------------------------------------------
def read_pair(record: dict[str, Any], column: str | None) -> PreferencePair:
    """A preference row; `column` is where the table keeps its prompts (None when only the
    chosen and rejected conversations hold them)."""
    chosen_before, chosen = _answer(record.get("chosen"))
    rejected_before, rejected = _answer(record.get("rejected"))
    if chosen_before != rejected_before:
        raise SkipRow("chosen and rejected that do not share their prompt")
    if not chosen.strip() or not rejected.strip():
        raise SkipRow("empty chosen or rejected answer")
    if chosen.strip() == rejected.strip():
        raise SkipRow("chosen identical to rejected")
    # UltraFeedback keeps the prompt twice: as text, and as the first turn of both conversations.
    implicit = any(m.role == "user" for m in chosen_before)
    prompt = _prompt(record, None if implicit else column, chosen_before)
    return PreferencePair(prompt, chosen, rejected)


def read_labelled(record: dict[str, Any], column: str | None, label: str) -> LabelledAnswer:
    value = record.get(label)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise SkipRow("no label")
    flag = parse_label(value)
    if column in _CONVERSATION_COLUMNS:  # a conversation whose last turn is the labelled answer
        before, completion = _answer(record.get(column))
        prompt = _prompt(record, None, before)
    else:
        completion_column = next((c for c in COMPLETION_COLUMNS if c in record), COMPLETION_COLUMNS[0])
        before, completion = _answer(record.get(completion_column))
        prompt = _prompt(record, column, before)
    if not completion.strip():
        raise SkipRow("empty completion")
    return LabelledAnswer(prompt, completion, flag)


def read_prompt(record: dict[str, Any], column: str) -> PromptExample:
    prompt = _prompt(record, column)
    return PromptExample(prompt, {key: value for key, value in record.items() if key != column})


def parse_label(value: Any) -> bool:
    """A kto label: a boolean, 0/1, or their text (a CSV's "true", "1")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise MalformedDataError(
        f"label {excerpt(value)} is not a boolean: label each answer true (desirable) or false (undesirable), or 1/0."
    )


def check_labels(answers: list[LabelledAnswer], origin: str) -> None:
    """kto learns from answers of both kinds: refuse labels that are all one value."""
    values = {answer.label for answer in answers}
    if len(values) == 1:
        value = values.pop()
        raise MalformedDataError(
            f"{origin}: every label is {str(value).lower()}: kto needs desirable (true) and undesirable (false) "
            f"answers; add answers labelled {str(not value).lower()}."
        )
