"""Tool-calling data: the model sees the functions it learns to call. Tool definitions reach the
rendered prompt, through the chat template's own tools section where it has one, else written
into the system message, and the data summary says which."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tuitune.config import DataSettings
from tuitune.data import prepare_dataset
from tuitune.data.examples import Conversation
from tuitune.errors import MalformedDataError

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city today",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
# A chat template that reads `tools`, as Qwen's, Llama 3's and Mistral's do.
WITH_TOOLS = (
    "{% if tools %}<tools>{% for tool in tools %}{{ tool | tojson }}{% endfor %}</tools>\n{% endif %}"
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer(demo_model_path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(demo_model_path))


def glaive(folder: Path) -> Path:
    """sharegpt tool-calling rows as glaive ships them: the schemas as a JSON string in `tools`."""
    rows = [
        {
            "tools": json.dumps([WEATHER]),
            "conversations": [
                {"from": "human", "value": f"Is it raining in city {index}?"},
                {
                    "from": "function_call",
                    "value": json.dumps({"name": "get_weather", "arguments": {"city": str(index)}}),
                },
                {"from": "observation", "value": json.dumps({"rain": index % 2 == 0})},
                {"from": "gpt", "value": "Yes, bring an umbrella." if index % 2 == 0 else "No, it is dry."},
            ],
        }
        for index in range(6)
    ]
    path = folder / "glaive.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def openai(folder: Path) -> Path:
    rows = [
        {
            "tools": [{"type": "function", "function": WEATHER}],
            "messages": [
                {"role": "system", "content": "You are a weather bot."},
                {"role": "user", "content": "Weather in Oslo?"},
                {"role": "assistant", "content": '{"name": "get_weather", "arguments": {"city": "Oslo"}}'},
                {"role": "tool", "content": '{"rain": true}'},
                {"role": "assistant", "content": "It rains in Oslo."},
            ],
        }
    ] * 4
    path = folder / "openai.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def rendered(prepared) -> str:
    return "".join(segment.text for segment in prepared.preview(1)[0].segments)


@pytest.mark.parametrize("make", [glaive, openai])
def test_tools_reach_the_prompt_through_the_system_message_where_the_template_has_no_place_for_them(
    tmp_path: Path, tokenizer, make
) -> None:
    prepared = prepare_dataset(DataSettings(source=str(make(tmp_path)), template="chatml"), tokenizer)
    assert all(isinstance(e, Conversation) and e.tools for e in prepared.examples)
    text = rendered(prepared)
    system = text.split("<|im_end|>")[0]
    assert system.startswith("<|im_start|>system\n") and '"name": "get_weather"' in system
    assert "You can call these tools" in system and '"required": ["city"]' in system
    assert prepared.stats.tools.endswith("written into the system message (the template has no place for tools)")
    # The function call is something the model says: it is trained on.
    trained = "".join(s.text for s in prepared.preview(1)[0].segments if s.trained)
    assert '"get_weather"' in trained and '"name": "get_weather", "description"' not in trained
    # Evaluation and chat prompt the model with the tools too.
    first = prepared.examples[0]
    assert isinstance(first, Conversation)
    assert '"name": "get_weather"' in prepared.template.prompt(first)


def test_tools_go_to_a_chat_template_that_reads_them(tmp_path: Path, tokenizer) -> None:
    own = copy.deepcopy(tokenizer)
    own.chat_template = WITH_TOOLS
    prepared = prepare_dataset(DataSettings(source=str(openai(tmp_path)), template="auto"), own)
    text = rendered(prepared)
    assert text.startswith("<tools>") and '"get_weather"' in text.split("</tools>")[0]
    assert "You can call these tools" not in text  # not written twice
    assert prepared.stats.tools == "4 conversations define tools: given to the chat template's own tools section"
    first = prepared.examples[0]
    assert isinstance(first, Conversation)
    assert prepared.template.prompt(first).startswith("<tools>")


def test_data_without_tools_says_nothing_about_them_and_broken_tools_are_named(tmp_path: Path, tokenizer) -> None:
    plain = tmp_path / "plain.jsonl"
    plain.write_text(
        json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}) + "\n"
    )
    assert prepare_dataset(DataSettings(source=str(plain), validation_split=0), tokenizer).stats.tools == ""
    broken = tmp_path / "broken.jsonl"
    broken.write_text(
        json.dumps(
            {"tools": "{not json", "conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]}
        )
        + "\n"
    )
    with pytest.raises(MalformedDataError, match="tools is not JSON"):
        prepare_dataset(DataSettings(source=str(broken)), tokenizer)
