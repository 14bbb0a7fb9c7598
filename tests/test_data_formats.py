"""Whatever shape a user's rows have, tuitune recognises it and reads it into conversations or texts."""

from __future__ import annotations

import pytest

from tuitune.data import detect_format, parse_records
from tuitune.data.examples import Conversation, Document, Example, Message
from tuitune.data.sources import RecordTable
from tuitune.errors import MalformedDataError, NoTextColumnsError, UnknownFormatError


def table(rows: list[dict], kind: str = "jsonl") -> RecordTable:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return RecordTable(rows, columns, "test.jsonl", kind)


def conv(*pairs: tuple[str, str]) -> tuple[Message, ...]:
    return tuple(Message(role, content) for role, content in pairs)


def chat(example: Example) -> Conversation:
    """An example these rows must have made a conversation of (not a text)."""
    assert isinstance(example, Conversation), example
    return example


def test_alpaca_with_and_without_input() -> None:
    parsed = parse_records(
        table(
            [
                {"instruction": "Say hi.", "input": "", "output": "Hi!"},
                {"instruction": "Translate.", "input": "Bonjour", "output": "Hello"},
            ]
        )
    )
    assert parsed.format == "alpaca"
    assert parsed.examples[0] == Conversation(conv(("user", "Say hi."), ("assistant", "Hi!")), ("Say hi.", ""))
    assert chat(parsed.examples[1]).messages == conv(("user", "Translate.\n\nBonjour"), ("assistant", "Hello"))
    assert chat(parsed.examples[1]).instruction_input == ("Translate.", "Bonjour")


def test_alpaca_with_response_column_and_empty_instruction() -> None:
    # Real-world data: the instruction is empty and the whole prompt sits in `input`.
    parsed = parse_records(table([{"instruction": "", "input": "What is 2+2?", "response": "4"}]))
    assert parsed.format == "alpaca"
    assert chat(parsed.examples[0]).messages == conv(("user", "What is 2+2?"), ("assistant", "4"))


def test_alpaca_system_and_history() -> None:
    row = {
        "instruction": "And now?",
        "input": "",
        "output": "Now it is 3.",
        "system": "Be brief.",
        "history": [["Start at 1.", "It is 1."], ["Add one.", "It is 2."]],
    }
    parsed = parse_records(table([row]))
    assert chat(parsed.examples[0]).messages == conv(
        ("system", "Be brief."),
        ("user", "Start at 1."),
        ("assistant", "It is 1."),
        ("user", "Add one."),
        ("assistant", "It is 2."),
        ("user", "And now?"),
        ("assistant", "Now it is 3."),
    )


def test_chat_messages_with_system_and_several_turns() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": [{"type": "text", "text": "Two "}, {"type": "text", "text": "parts"}]},
        {"role": "assistant", "content": "Joined."},
    ]
    parsed = parse_records(table([{"messages": messages}]))
    assert parsed.format == "chat"
    assert chat(parsed.examples[0]).messages == conv(
        ("system", "You are terse."),
        ("user", "Hi"),
        ("assistant", "Hello."),
        ("user", "Two parts"),
        ("assistant", "Joined."),
    )


def test_chat_trailing_user_turn_is_dropped_and_no_response_is_skipped() -> None:
    rows = [
        {
            "messages": [
                {"role": "user", "content": "Q"},
                {"role": "assistant", "content": "A"},
                {"role": "user", "content": "more?"},
            ]
        },
        {"messages": [{"role": "user", "content": "only a question"}]},
        {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "  "}]},
    ]
    parsed = parse_records(table(rows))
    assert [chat(e).messages for e in parsed.examples] == [conv(("user", "Q"), ("assistant", "A"))]
    assert parsed.skipped == {"no assistant response": 1, "empty response": 1}


def test_sharegpt_roles_map_sensibly() -> None:
    turns = [
        {"from": "system", "value": "Use tools."},
        {"from": "human", "value": "Weather in Oslo?"},
        {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Oslo"}}'},
        {"from": "observation", "value": '{"temp": 3}'},
        {"from": "gpt", "value": "It is 3 degrees."},
    ]
    parsed = parse_records(table([{"conversations": turns, "tools": "[]"}]))
    assert parsed.format == "sharegpt"
    assert chat(parsed.examples[0]).messages == conv(
        ("system", "Use tools."),
        ("user", "Weather in Oslo?"),
        ("assistant", '{"name": "weather", "arguments": {"city": "Oslo"}}'),
        ("tool", '{"temp": 3}'),
        ("assistant", "It is 3 degrees."),
    )


def test_sharegpt_top_level_system_and_unknown_role() -> None:
    parsed = parse_records(
        table(
            [{"system": "Sys.", "conversations": [{"from": "user", "value": "a"}, {"from": "assistant", "value": "b"}]}]
        )
    )
    assert chat(parsed.examples[0]).messages == conv(("system", "Sys."), ("user", "a"), ("assistant", "b"))
    with pytest.raises(MalformedDataError, match="row 1: unknown role 'narrator'"):
        parse_records(table([{"conversations": [{"from": "narrator", "value": "x"}]}]))


@pytest.mark.parametrize(
    "row",
    [
        {"prompt": "The sky is", "completion": " blue."},
        {"question": "The sky is", "answer": " blue."},
        {"input": "The sky is", "output": " blue."},
        {"query": "The sky is", "response": " blue."},
    ],
)
def test_completion_pairs(row: dict) -> None:
    parsed = parse_records(table([row]))
    assert parsed.format == "completion"
    assert chat(parsed.examples[0]).messages == conv(("user", "The sky is"), ("assistant", " blue."))


def test_text_column() -> None:
    parsed = parse_records(table([{"text": "Once upon a time.", "meta": 3}, {"text": ""}]))
    assert parsed.format == "text"
    assert parsed.examples == [Document("Once upon a time.")]
    assert parsed.skipped == {"empty text": 1}
    assert parsed.text_columns == ["text"]


def test_string_columns_are_detected_and_joined() -> None:
    rows = [{"id": "a1", "title": "Rain", "body": "It rained.", "year": "2020"}]
    parsed = parse_records(table(rows, kind="csv"))
    assert parsed.format == "text"
    assert parsed.text_columns == ["title", "body"]  # not the id, not the numbers
    assert parsed.examples == [Document("Rain\n\nIt rained.")]


def test_text_columns_can_be_named() -> None:
    rows = [{"title": "Rain", "body": "It rained."}]
    parsed = parse_records(table(rows), text_columns=["body"])
    assert parsed.format == "text" and parsed.examples == [Document("It rained.")]
    with pytest.raises(NoTextColumnsError, match="nope not in"):
        parse_records(table(rows), text_columns=["nope"])


def test_unknown_format_lists_columns_and_known_formats() -> None:
    with pytest.raises(UnknownFormatError) as error:
        parse_records(table([{"dialog": [{"speaker": "a", "line": "x"}], "score": 1}]))
    message = str(error.value)
    assert "dialog, score" in message
    for name in ("alpaca", "chat", "sharegpt", "completion", "text"):
        assert name in message


def test_named_format_that_does_not_match_says_what_the_data_looks_like() -> None:
    with pytest.raises(UnknownFormatError, match="Format chat needs a messages column.*looks like alpaca"):
        parse_records(table([{"instruction": "a", "output": "b"}]), "chat")


def test_detection_prefers_structure_over_columns() -> None:
    assert detect_format([{"messages": [], "text": "x"}]) == "chat"
    assert detect_format([{"conversations": []}]) == "sharegpt"
    assert detect_format([{"instruction": "a", "input": "b", "output": "c"}]) == "alpaca"
    assert detect_format([{"input": "b", "output": "c"}]) == "completion"
    assert detect_format([{"foo": "x"}]) is None
