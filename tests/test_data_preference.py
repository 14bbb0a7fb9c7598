"""Preference data in the layouts people publish becomes the string columns TRL's trainers read;
data an objective cannot learn from is refused in one line that says what it would need."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tuitune.bundled import SAMPLE_PROMPTS
from tuitune.config import DataSettings
from tuitune.data import (
    Conversation,
    Message,
    PromptExample,
    load_examples,
    prepare_dataset,
)
from tuitune.errors import IncompatibleConfigError, TuituneError

PROMPT = "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def tokenizer(demo_model_path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(demo_model_path))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def settings(source: str, **options: Any) -> DataSettings:
    return DataSettings(source=source, shuffle=False, validation_split=0, **options)


def one_line(error: pytest.ExceptionInfo[TuituneError]) -> str:
    message = str(error.value)
    assert "\n" not in message and message.strip(), message
    return message


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


# --- prompts (grpo) ------------------------------------------------------------------------
def test_prompt_rows_keep_every_other_column_for_the_rewards(tmp_path: Path, tokenizer: Any) -> None:
    source = write_jsonl(
        tmp_path / "prompts.jsonl",
        [
            {"prompt": "Name a colour.", "answer": "red", "level": 1},
            {
                "prompt": [{"role": "system", "content": "Be brief."}, user("Name a colour.")],
                "answer": "blue",
                "level": 2,
            },
        ],
    )
    prepared = prepare_dataset(settings(source), tokenizer, objective="grpo")
    assert prepared.format == "prompts" and prepared.train.column_names == ["prompt", "answer", "level"]
    assert prepared.train[0] == {"prompt": PROMPT, "answer": "red", "level": 1}
    assert prepared.train[1]["prompt"] == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n"
    )
    assert prepared.stats.records == 2 and prepared.stats.prompt_tokens.count == 2
    record = load_examples(settings(source)).train_records[0]
    assert record == PromptExample(Conversation((Message("user", "Name a colour."),)), {"answer": "red", "level": 1})
    preview = prepared.preview(1)[0]
    assert preview.pair is not None and preview.segments[0].text == PROMPT and preview.trained_tokens == 0
    assert preview.to_dict()["pair"]["columns"] == {"answer": "red", "level": 1}


def test_a_question_answer_set_is_prompts_for_grpo_and_pairs_for_sft(tmp_path: Path, tokenizer: Any) -> None:
    source = write_jsonl(tmp_path / "gsm.jsonl", [{"question": "What is 2 + 2?", "answer": "4"}] * 3)
    grpo = prepare_dataset(settings(source), tokenizer, objective="grpo")
    assert grpo.format == "prompts" and grpo.train[0]["answer"] == "4"
    assert prepare_dataset(settings(source), tokenizer).format == "completion"


def test_tools_reach_the_prompt_as_for_sft(tmp_path: Path, tokenizer: Any) -> None:
    tool = {"type": "function", "function": {"name": "weather", "parameters": {}}}
    source = write_jsonl(tmp_path / "tools.jsonl", [{"prompt": "Weather in Oslo?", "tools": [tool], "answer": "x"}])
    prompt = prepare_dataset(settings(source), tokenizer, objective="grpo").train[0]["prompt"]
    assert prompt.startswith("<|im_start|>system\nYou can call these tools") and '"weather"' in prompt


def test_the_bundled_prompts_load(tokenizer: Any) -> None:
    prepared = prepare_dataset(DataSettings(source=SAMPLE_PROMPTS), tokenizer, objective="grpo")
    assert prepared.format == "prompts" and len(prepared.train) + len(prepared.validation) == 80
    for row in prepared.train:
        assert row["answer"] in row["prompt"] and len(row["answer"]) == 1


# --- the checks ----------------------------------------------------------------------------
def test_sft_data_offered_to_grpo_says_what_it_needs(tokenizer: Any) -> None:
    with pytest.raises(IncompatibleConfigError) as refused:
        prepare_dataset(DataSettings(), tokenizer, objective="grpo")
    assert "grpo learns from prompts" in one_line(refused) and "prompt column" in str(refused.value)


def test_prompts_offered_to_sft_are_refused(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Say 1.", "answer": "1"}])
    with pytest.raises(IncompatibleConfigError) as refused:
        load_examples(settings(source), objective="sft")
    assert "train grpo on it" in one_line(refused)
