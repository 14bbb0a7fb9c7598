"""A user converts a dataset between formats, from Python, and nothing is lost on the way back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tuitune.config import DataSettings
from tuitune.data import convert_dataset, parse_records
from tuitune.data.sources import RecordTable
from tuitune.errors import DataError, UnknownFormatError

ALPACA: list[dict[str, Any]] = [
    {"instruction": "Say hi.", "input": "", "output": "Hi!"},
    {"instruction": "Translate.", "input": "Bonjour", "output": "Hello"},
    {"instruction": "", "input": "What is 2+2?", "output": "4"},
    {
        "instruction": "And now?",
        "input": "",
        "output": "3.",
        "system": "Be brief.",
        "history": [["Start at 1.", "1."], ["Add one.", "2."]],
    },
]
CHAT: list[dict[str, Any]] = [
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]},
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "Q2"},
            {"role": "assistant", "content": "A2"},
        ]
    },
]
SHAREGPT: list[dict[str, Any]] = [
    {
        "conversations": [
            {"from": "system", "value": "Use tools."},
            {"from": "human", "value": "Weather?"},
            {"from": "gpt", "value": "Checking."},
            {"from": "observation", "value": "3 degrees"},
            {"from": "gpt", "value": "It is 3 degrees."},
        ]
    }
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def examples(rows: list[dict]) -> list:
    return parse_records(RecordTable(rows, list(dict.fromkeys(k for r in rows for k in r)), "rows", "records")).examples


def test_alpaca_to_chat_and_back_is_exact(tmp_path: Path) -> None:
    chat = convert_dataset(write_jsonl(tmp_path / "a.jsonl", ALPACA), "chat", tmp_path / "chat.jsonl")
    assert chat.from_format == "alpaca" and chat.rows == 4
    assert read_jsonl(tmp_path / "chat.jsonl")[1] == {
        "messages": [{"role": "user", "content": "Translate.\n\nBonjour"}, {"role": "assistant", "content": "Hello"}]
    }
    back = convert_dataset(tmp_path / "chat.jsonl", "alpaca")
    # The input column is joined into the instruction by chat; everything else comes back as it was.
    assert back.records[0] == ALPACA[0]
    assert back.records[1] == {"instruction": "Translate.\n\nBonjour", "input": "", "output": "Hello"}
    assert back.records[2] == {"instruction": "What is 2+2?", "input": "", "output": "4"}
    assert back.records[3] == ALPACA[3]


def test_alpaca_to_alpaca_keeps_instruction_and_input_apart() -> None:
    assert convert_dataset(ALPACA, "alpaca").records == ALPACA


@pytest.mark.parametrize("middle", ["chat", "sharegpt", "alpaca"])
def test_chat_round_trips_through_every_conversation_format(middle: str) -> None:
    there = convert_dataset(CHAT, middle)
    back = convert_dataset(there.records, "chat")
    assert back.records == CHAT


def test_sharegpt_round_trip_and_tool_turns() -> None:
    assert convert_dataset(convert_dataset(SHAREGPT, "chat").records, "sharegpt").records == SHAREGPT
    chat = convert_dataset(SHAREGPT, "chat").records[0]["messages"]
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "tool", "assistant"]
    # Alpaca has no tool turn: the tool's answer folds into the next prompt.
    alpaca = convert_dataset(SHAREGPT, "alpaca").records[0]
    assert alpaca == {
        "instruction": "3 degrees",
        "input": "",
        "output": "It is 3 degrees.",
        "system": "Use tools.",
        "history": [["Weather?", "Checking."]],
    }


def test_completion_conversions() -> None:
    pairs = [{"question": "Capital of France?", "answer": "Paris."}]
    assert convert_dataset(pairs, "alpaca").records == [
        {"instruction": "Capital of France?", "input": "", "output": "Paris."}
    ]
    assert convert_dataset(pairs, "completion").records == [{"prompt": "Capital of France?", "completion": "Paris."}]
    flat = convert_dataset(CHAT, "completion").records[1]
    assert flat == {"prompt": "Be brief.\n\nQ1\n\nA1\n\nQ2", "completion": "A2"}
    assert examples(convert_dataset(ALPACA[:3], "completion").records)[1].reference == "Hello"


def test_convert_from_settings_and_a_csv(tmp_path: Path) -> None:
    csv_path = tmp_path / "qa.csv"
    csv_path.write_text("question,answer\nWhy?,Because.\n", encoding="utf-8")
    result = convert_dataset(DataSettings(source=str(csv_path)), "sharegpt", tmp_path / "out" / "qa.jsonl")
    assert result.path == tmp_path / "out" / "qa.jsonl"
    assert read_jsonl(result.path) == [
        {"conversations": [{"from": "human", "value": "Why?"}, {"from": "gpt", "value": "Because."}]}
    ]


def test_skipped_rows_are_reported() -> None:
    result = convert_dataset(ALPACA + [{"instruction": "x", "input": "", "output": ""}], "chat")
    assert result.rows == 4 and result.skipped == {"empty response": 1}


def test_text_cannot_become_a_conversation_and_targets_are_checked() -> None:
    with pytest.raises(DataError, match="Text rows have no prompt and response"):
        convert_dataset([{"text": "prose"}], "alpaca")
    with pytest.raises(UnknownFormatError, match="Cannot convert to 'text'"):
        convert_dataset(ALPACA, "text")
