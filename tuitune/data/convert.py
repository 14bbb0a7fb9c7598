"""Write canonical examples back out in any conversation format (what other tools call formatters).

`convert_dataset("data.csv", "chat", "out.jsonl")` reads, detects, converts and writes JSONL;
`tuitune data PATH --to chat -o out.jsonl` is the same from the shell. Converting into alpaca or
completion flattens what those formats cannot hold (tool turns, a system turn in completion) into
the prompt text, so a round trip through them is exact only for conversations they can express.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from tuitune.data.examples import Conversation, Document, Example, Message
from tuitune.data.formats import parse_records
from tuitune.data.sources import RecordTable, read_source
from tuitune.errors import DataError, OutputNotWritableError, UnknownFormatError
from tuitune.runs import folder as run_folder
from tuitune.text.user_text import excerpt, shorten

if TYPE_CHECKING:
    from tuitune.config import DataSettings

CONVERT_TARGETS: tuple[str, ...] = ("alpaca", "chat", "sharegpt", "completion")
_SHAREGPT_SPEAKER = {"system": "system", "user": "human", "assistant": "gpt", "tool": "observation"}

Source = Union[str, Path, "DataSettings", RecordTable, list[dict[str, Any]]]


@dataclass
class Conversion:
    """What `convert_dataset` did: the rows written, from which format, and what was skipped."""

    from_format: str
    to_format: str
    records: list[dict[str, Any]]
    skipped: Counter[str] = field(default_factory=Counter)
    path: Path | None = None

    @property
    def rows(self) -> int:
        return len(self.records)


def convert_dataset(
    source: Source,
    to_format: str,
    out_path: str | Path | None = None,
    *,
    format: str = "auto",
    text_columns: list[str] | None = None,
    hub_config: str | None = None,
    split: str = "train",
    data_files: str | list[str] | None = None,
) -> Conversion:
    """Read `source` (a path, Hub id, DataSettings or a list of records), convert every row to
    `to_format`, and write JSONL to `out_path` when given."""
    if to_format not in CONVERT_TARGETS:
        raise UnknownFormatError(f"Cannot convert to {excerpt(to_format)}: choose one of {', '.join(CONVERT_TARGETS)}.")
    table = _table(source, hub_config=hub_config, split=split, data_files=data_files)
    if not isinstance(source, (str, Path, RecordTable, list)):
        format = source.format if format == "auto" else format
        text_columns = text_columns or source.text_columns
    parsed = parse_records(table, format, text_columns)
    if parsed.format in _NOT_CONVERTIBLE:
        raise UnknownFormatError(
            f"{table.origin} is {parsed.format} data: {_NOT_CONVERTIBLE[parsed.format]}, so it cannot become "
            f"{to_format} rows; train it as it is (a preference set converts: its chosen answers are kept)."
        )
    records = [to_record(example, to_format) for example in parsed.examples]
    result = Conversion(parsed.format, to_format, records, parsed.skipped)
    if out_path is not None:
        result.path = write_jsonl(records, out_path)
    return result


# The preference formats whose rows hold no answer to imitate: converting them to supervised rows
# would lose the reward columns, or train on the answers labelled bad.
_NOT_CONVERTIBLE = {
    "labelled": "half of its answers may be labelled undesirable",
    "prompts": "its prompts have no answers (the columns its rewards read would be lost)",
}


def _table(source: Source, **hub: Any) -> RecordTable:
    if isinstance(source, RecordTable):
        return source
    if isinstance(source, list):
        columns = list(dict.fromkeys(k for r in source for k in r))
        return RecordTable(source, columns, "records", "records")
    if isinstance(source, (str, Path)):
        return read_source(source, **hub)
    return read_source(
        source.source,
        hub_config=source.hub_config,
        split=source.split,
        data_files=source.data_files,
        text_documents=source.text_documents,
    )


def write_jsonl(records: list[dict[str, Any]], out_path: str | Path) -> Path:
    path = Path(out_path)
    try:
        path = path.expanduser()
        # Written into a run's folder (the folders made for it included), it goes with the run's files.
        with run_folder.writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    except (OSError, ValueError, RuntimeError) as exc:  # ValueError: a NUL; RuntimeError: ~unknown-user
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a valid path"
        raise OutputNotWritableError(f"Cannot write {shorten(path)} ({reason}): choose another output path.") from None
    return path


def to_record(example: Example, to_format: str) -> dict[str, Any]:
    """One canonical example as a row of `to_format`."""
    if isinstance(example, Document):
        raise DataError(
            f"Text rows have no prompt and response, so they cannot become {to_format}: "
            "convert conversation or instruction data instead."
        )
    return _WRITERS[to_format](example)


def to_chat(conversation: Conversation) -> dict[str, Any]:
    return {"messages": conversation.as_dicts()}


def to_sharegpt(conversation: Conversation) -> dict[str, Any]:
    return {"conversations": [{"from": _SHAREGPT_SPEAKER[m.role], "value": m.content} for m in conversation.messages]}


def to_alpaca(conversation: Conversation) -> dict[str, Any]:
    systems = [m.content for m in conversation.messages if m.role == "system"]
    pairs = _pairs([m for m in conversation.messages if m.role != "system"])
    (prompt, output), history = pairs[-1], pairs[:-1]
    instruction, input_text = prompt, ""
    if conversation.instruction_input is not None:
        instruction, input_text = conversation.instruction_input
    record: dict[str, Any] = {"instruction": instruction, "input": input_text, "output": output}
    if systems:
        record["system"] = "\n\n".join(systems)
    if history:
        record["history"] = [list(pair) for pair in history]
    return record


def to_completion(conversation: Conversation) -> dict[str, Any]:
    prompt = "\n\n".join(m.content for m in conversation.prompt_messages)
    return {"prompt": prompt, "completion": conversation.reference}


def _pairs(messages: list[Message]) -> list[tuple[str, str]]:
    """(prompt, response) pairs; tool results and consecutive prompts fold into the next prompt."""
    pairs: list[tuple[str, str]] = []
    prompt_parts: list[str] = []
    for message in messages:
        if message.role == "assistant":
            if not prompt_parts and pairs:  # two responses in a row: one longer response
                last_prompt, last_response = pairs.pop()
                pairs.append((last_prompt, last_response + "\n\n" + message.content))
                continue
            pairs.append(("\n\n".join(prompt_parts), message.content))
            prompt_parts = []
        else:
            prompt_parts.append(message.content)
    return pairs


_WRITERS = {"alpaca": to_alpaca, "chat": to_chat, "sharegpt": to_sharegpt, "completion": to_completion}
