"""The training engine asks for a dataset by its settings and gets tokenized, measured data back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuitune.config import DataSettings
from tuitune.data import IGNORE_INDEX, prepare_dataset, validation_examples
from tuitune.data.examples import Conversation, Document
from tuitune.errors import EmptyDatasetError, IncompatibleConfigError


@pytest.fixture(scope="module")
def tokenizer(demo_model_path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(demo_model_path))


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_sample_dataset_prepares_for_training(tokenizer) -> None:
    prepared = prepare_dataset(DataSettings(), tokenizer, method="lora")
    assert prepared.format == "alpaca" and prepared.template.name == "chatml"
    assert set(prepared.train.column_names) == {"input_ids", "labels", "length"}
    row = prepared.train[0]
    assert row["length"] == len(row["input_ids"]) == len(row["labels"])
    assert row["input_ids"][-1] == tokenizer.eos_token_id and row["labels"][-1] == tokenizer.eos_token_id
    assert row["labels"][0] == IGNORE_INDEX
    stats = prepared.stats
    assert stats.rows == stats.used_rows == stats.train_rows + stats.validation_rows
    assert stats.validation_rows == round(stats.rows * 0.1)
    assert len(prepared.validation_examples) == stats.validation_rows
    assert stats.tokens.max <= 512 and stats.truncated_fraction == 0.0
    assert stats.padding_fraction == stats.padding["grouped_by_length"]


def test_instruction_tuning_uses_the_alpaca_template(tokenizer) -> None:
    prepared = prepare_dataset(DataSettings(max_samples=20), tokenizer, method="instruction_tuning")
    assert prepared.template.name == "alpaca"
    preview = prepared.preview(1)[0]
    assert preview.segments[0].text.startswith("Below is an instruction") and not preview.segments[0].trained
    assert preview.segments[-1].trained and preview.segments[-1].text.endswith("<|endoftext|>")
    # A template the user names wins over the method's default.
    assert (
        prepare_dataset(
            DataSettings(max_samples=20, template="llama2"), tokenizer, method="instruction_tuning"
        ).template.name
        == "llama2"
    )


def test_instruction_tuning_refuses_chat_data(tmp_path: Path, tokenizer) -> None:
    source = write_jsonl(
        tmp_path / "chat.jsonl",
        [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}],
    )
    with pytest.raises(IncompatibleConfigError, match="instruction_tuning trains on alpaca data.*--to alpaca"):
        prepare_dataset(DataSettings(source=source), tokenizer, method="instruction_tuning")


def test_dropped_rows_and_truncation_are_counted(tmp_path: Path, tokenizer) -> None:
    rows = [{"instruction": f"Say {i}.", "input": "", "output": f"{i}."} for i in range(7)]
    rows += [{"instruction": "Nothing to say.", "input": "", "output": ""}] * 2
    rows += [{"instruction": "word " * 80, "input": "", "output": "Too late."}]
    settings = DataSettings(source=write_jsonl(tmp_path / "d.jsonl", rows), validation_split=0, max_length=64)
    prepared = prepare_dataset(settings, tokenizer)
    stats = prepared.stats
    assert stats.rows == 10 and stats.used_rows == 8 and stats.train_rows == 7
    assert stats.dropped == {"empty response": 2, "response cut off by max_length 64": 1}
    assert stats.dropped_rows == 3
    assert stats.tokens.count == 8 and stats.tokens.max > 64
    assert stats.truncated_fraction == pytest.approx(1 / 8)
    assert len(prepared.train) == 7
    assert all(len(ids) <= 64 for ids in prepared.train["input_ids"])


def test_nothing_left_to_train_says_to_raise_max_length(tmp_path: Path, tokenizer) -> None:
    rows = [{"instruction": "word " * 80, "input": "", "output": "Too late."}] * 3
    settings = DataSettings(source=write_jsonl(tmp_path / "d.jsonl", rows), validation_split=0, max_length=16)
    with pytest.raises(EmptyDatasetError, match="raise data.max_length"):
        prepare_dataset(settings, tokenizer)


@pytest.mark.parametrize(
    ("rows", "format", "first_trained"),
    [
        (
            [
                {
                    "messages": [
                        {"role": "system", "content": "S"},
                        {"role": "user", "content": "Hi"},
                        {"role": "assistant", "content": "Yo"},
                    ]
                }
            ],
            "chat",
            "Yo<|im_end|>",
        ),
        (
            [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}],
            "sharegpt",
            "Yo<|im_end|>",
        ),
        ([{"prompt": "The sky is", "completion": " blue."}], "completion", " blue.<|endoftext|>"),
        ([{"text": "Plain prose here."}], "text", "Plain prose here.<|endoftext|>"),
    ],
)
def test_every_format_prepares(tmp_path: Path, tokenizer, rows: list[dict], format: str, first_trained: str) -> None:
    settings = DataSettings(source=write_jsonl(tmp_path / "d.jsonl", rows * 4), validation_split=0)
    prepared = prepare_dataset(settings, tokenizer)
    assert prepared.format == format
    trained = [s.text for s in prepared.preview(1)[0].segments if s.trained]
    assert trained[0].startswith(first_trained.split("<")[0])
    assert "".join(trained).endswith("<|endoftext|>")


def test_text_columns_from_a_csv(tmp_path: Path, tokenizer) -> None:
    path = tmp_path / "notes.csv"
    path.write_text("id,title,body\n1,Rain,It rained all day.\n2,Sun,It was sunny.\n", encoding="utf-8")
    prepared = prepare_dataset(DataSettings(source=str(path), validation_split=0), tokenizer)
    assert prepared.format == "text" and prepared.stats.text_columns == ["title", "body"]
    assert prepared.examples[0] == Document("Rain\n\nIt rained all day.")
    assert prepared.stats.trained_token_fraction == 1.0


def test_validation_examples_match_the_prepared_split(tmp_path: Path, tokenizer) -> None:
    rows = [{"instruction": f"Question {i}?", "input": "", "output": f"Answer {i}."} for i in range(30)]
    settings = DataSettings(source=write_jsonl(tmp_path / "d.jsonl", rows), validation_split=5, seed=11)
    prepared = prepare_dataset(settings, tokenizer)
    recovered = validation_examples(settings)
    assert recovered == prepared.validation_examples and len(recovered) == 5 == len(prepared.validation)
    example = recovered[0]
    assert isinstance(example, Conversation)
    # Evaluation prompts with the template and compares with the reference.
    prompt = prepared.template.prompt(example)
    assert prompt.endswith("<|im_start|>assistant\n") and example.reference not in prompt


def test_preview_marks_prompt_and_trained_parts(tokenizer) -> None:
    prepared = prepare_dataset(DataSettings(max_samples=10), tokenizer)
    previews = prepared.preview(3)
    assert len(previews) == 3
    first = prepared.examples[0]
    assert isinstance(first, Conversation)
    for sample in previews:
        assert [s.trained for s in sample.segments] == [False, True]
        assert sample.trained_tokens < sample.tokens and not sample.truncated and sample.dropped is None
    assert previews[0].segments[1].text == first.reference + "<|im_end|><|endoftext|>"
    as_dict = previews[0].to_dict()
    assert as_dict["segments"][1] == {"text": first.reference + "<|im_end|><|endoftext|>", "trained": True}


def test_preview_of_a_sample_that_is_dropped(tmp_path: Path, tokenizer) -> None:
    rows = [{"instruction": "word " * 80, "input": "", "output": "Too late."}] + [
        {"instruction": "Hi.", "input": "", "output": "Hello."}
    ] * 3
    settings = DataSettings(
        source=write_jsonl(tmp_path / "d.jsonl", rows), validation_split=0, max_length=32, shuffle=False
    )
    sample = prepare_dataset(settings, tokenizer).preview(1)[0]
    assert sample.dropped == "response cut off by max_length 32" and sample.truncated
    assert [s.trained for s in sample.segments] == [False] and sample.tokens == 32
