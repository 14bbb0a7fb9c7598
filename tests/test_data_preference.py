"""Preference data in the layouts people publish becomes the string columns TRL's trainers read;
data an objective cannot learn from is refused in one line that says what it would need."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tuitune.bundled import SAMPLE_PREFERENCE, SAMPLE_PROMPTS
from tuitune.config import DataSettings
from tuitune.data import (
    Conversation,
    LabelledAnswer,
    Message,
    PreferencePair,
    PromptExample,
    load_examples,
    prepare_dataset,
)
from tuitune.errors import EmptyDatasetError, IncompatibleConfigError, MalformedDataError, TuituneError

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


def test_prompts_without_answers_are_refused_for_sft(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Say 1.", "level": 1}])
    with pytest.raises(IncompatibleConfigError) as refused:
        load_examples(settings(source), objective="sft")
    assert "train grpo on it" in one_line(refused)


def test_prompts_with_an_answer_are_pairs_to_imitate_for_sft(tmp_path: Path) -> None:
    # So a model can be warmed up on the answers (sft) before it learns from their rewards (grpo).
    source = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Say 1.", "answer": "1"}])
    assert load_examples(settings(source), objective="sft").format == "completion"
    assert (
        load_examples(settings(source)).format == load_examples(settings(source), objective="grpo").format == "prompts"
    )


# --- preference pairs (dpo, orpo, simpo) ---------------------------------------------------
PAIR = PreferencePair(Conversation((Message("user", "Name a colour."),)), "Red.", "No.")
PAIR_LAYOUTS: dict[str, dict[str, Any]] = {
    "prompt, chosen and rejected texts": {"prompt": "Name a colour.", "chosen": "Red.", "rejected": "No."},
    "a message list prompt, assistant turns": {
        "prompt": [user("Name a colour.")],
        "chosen": [assistant("Red.")],
        "rejected": [assistant("No.")],
    },
    "conversations with the prompt implicit (UltraFeedback)": {
        "prompt": "Name a colour.",
        "chosen": [user("Name a colour."), assistant("Red.")],
        "rejected": [user("Name a colour."), assistant("No.")],
    },
    "sharegpt conversations with chosen and rejected turns (LLaMA-Factory)": {
        "conversations": [{"from": "human", "value": "Name a colour."}],
        "chosen": {"from": "gpt", "value": "Red."},
        "rejected": {"from": "gpt", "value": "No."},
    },
    "a question with chosen and rejected texts": {"question": "Name a colour.", "chosen": "Red.", "rejected": "No."},
}


@pytest.mark.parametrize("layout", list(PAIR_LAYOUTS))
def test_each_pair_layout_becomes_the_same_pair(layout: str, tmp_path: Path, tokenizer: Any) -> None:
    source = write_jsonl(tmp_path / "pairs.jsonl", [PAIR_LAYOUTS[layout]] * 2)
    for format in ("auto", "preference"):
        prepared = prepare_dataset(settings(source, format=format), tokenizer, objective="dpo")
        assert prepared.format == "preference" and prepared.train.column_names == ["prompt", "chosen", "rejected"]
        assert prepared.train[0] == {"prompt": PROMPT, "chosen": "Red.<|im_end|>", "rejected": "No.<|im_end|>"}
    assert load_examples(settings(source)).train_records[0] == PAIR


def test_a_multi_turn_pair_keeps_the_earlier_turns_in_its_prompt(tmp_path: Path, tokenizer: Any) -> None:
    earlier = [user("Hi."), assistant("Hello!"), user("Name a colour.")]
    row = {"chosen": [*earlier, assistant("Red.")], "rejected": [*earlier, assistant("No.")], "system": "Be kind."}
    source = write_jsonl(tmp_path / "turns.jsonl", [row])
    (pair,) = load_examples(settings(source)).train_records
    assert isinstance(pair, PreferencePair) and (pair.chosen, pair.rejected) == ("Red.", "No.")
    assert [m.role for m in pair.prompt.messages] == ["system", "user", "assistant", "user"]


def test_pairs_render_with_the_template_the_run_names(tmp_path: Path, tokenizer: Any) -> None:
    source = write_jsonl(tmp_path / "pairs.jsonl", [PAIR_LAYOUTS["prompt, chosen and rejected texts"]])
    alpaca = prepare_dataset(settings(source, template="alpaca"), tokenizer, objective="simpo").train[0]
    assert alpaca["prompt"].endswith("### Instruction:\nName a colour.\n\n### Response:\n")
    assert alpaca["chosen"] == "Red." and alpaca["rejected"] == "No."
    llama2 = prepare_dataset(settings(source, template="llama2"), tokenizer, objective="orpo").train[0]
    assert llama2["prompt"] == "[INST] Name a colour. [/INST]" and llama2["chosen"] == " Red. <|endoftext|>"


def test_held_out_pairs_and_the_preview_show_both_answers(tmp_path: Path, tokenizer: Any) -> None:
    rows = [
        {"prompt": f"Count to {n}.", "chosen": " ".join(map(str, range(1, n + 1))), "rejected": "No."}
        for n in range(2, 12)
    ]
    source = write_jsonl(tmp_path / "pairs.jsonl", rows)
    prepared = prepare_dataset(DataSettings(source=source, validation_split=2), tokenizer, objective="dpo")
    assert len(prepared.validation) == 2 and len(prepared.train) == 8
    held_out = prepared.validation_examples
    assert all(isinstance(pair, PreferencePair) for pair in held_out)
    assert [prepared.template.prompt(p.prompt) for p in held_out if isinstance(p, PreferencePair)] == list(
        prepared.validation["prompt"]
    )
    stats = prepared.stats
    assert stats.records == 10 and stats.prompt_tokens.count == 10 and stats.answer_tokens.count == 20
    assert stats.corpus.startswith("10 pairs → 10 rows") and stats.long_rows == 0
    sample = prepared.preview(1)[0]
    assert sample.pair is not None
    assert (sample.pair.prompt, sample.pair.chosen, sample.pair.rejected) == (
        "<|im_start|>user\nCount to 2.<|im_end|>\n<|im_start|>assistant\n",
        "1 2<|im_end|>",
        "No.<|im_end|>",
    )
    assert [s.trained for s in sample.segments] == [False, True] and sample.trained_tokens == sample.pair.answer_tokens[
        0
    ]


# --- labelled answers (kto) ----------------------------------------------------------------
@pytest.mark.parametrize(
    "rows",
    [
        [
            {"prompt": "Name a colour.", "completion": "Red.", "label": True},
            {"prompt": "Name a colour.", "completion": "No.", "label": False},
        ],
        [
            {"prompt": [user("Name a colour.")], "completion": [assistant("Red.")], "label": 1},
            {"prompt": [user("Name a colour.")], "completion": [assistant("No.")], "label": 0},
        ],
        [
            {
                "conversations": [{"from": "human", "value": "Name a colour."}, {"from": "gpt", "value": "Red."}],
                "kto_tag": True,
            },
            {
                "conversations": [{"from": "human", "value": "Name a colour."}, {"from": "gpt", "value": "No."}],
                "kto_tag": False,
            },
        ],
    ],
    ids=["text", "messages", "sharegpt kto_tag"],
)
def test_labelled_answers_become_kto_rows(rows: list[dict[str, Any]], tmp_path: Path, tokenizer: Any) -> None:
    source = write_jsonl(tmp_path / "kto.jsonl", rows)
    prepared = prepare_dataset(settings(source), tokenizer, objective="kto")
    assert prepared.format == "labelled" and prepared.train.column_names == ["prompt", "completion", "label"]
    assert prepared.train[0] == {"prompt": PROMPT, "completion": "Red.<|im_end|>", "label": True}
    assert prepared.train[1]["label"] is False and prepared.stats.labels == {"desirable": 1, "undesirable": 1}
    record = load_examples(settings(source)).train_records[0]
    assert record == LabelledAnswer(PAIR.prompt, "Red.", True)


def test_labels_from_a_csv_read_as_booleans(tmp_path: Path, tokenizer: Any) -> None:
    path = tmp_path / "kto.csv"
    path.write_text("prompt,completion,label\nName a colour.,Red.,true\nName a colour.,No.,False\n", encoding="utf-8")
    assert prepare_dataset(settings(str(path)), tokenizer, objective="kto").train["label"] == [True, False]


def test_a_pair_given_to_kto_is_two_labelled_rows(tmp_path: Path, tokenizer: Any) -> None:
    source = write_jsonl(tmp_path / "pairs.jsonl", [PAIR_LAYOUTS["prompt, chosen and rejected texts"]])
    prepared = prepare_dataset(settings(source), tokenizer, objective="kto")
    assert prepared.train.to_list() == [
        {"prompt": PROMPT, "completion": "Red.<|im_end|>", "label": True},
        {"prompt": PROMPT, "completion": "No.<|im_end|>", "label": False},
    ]
    assert prepared.validation_examples == [] and prepared.stats.corpus.startswith("1 pair → 2 rows")


# --- the checks ----------------------------------------------------------------------------
@pytest.mark.parametrize("objective", ["dpo", "orpo", "simpo", "kto"])
def test_sft_data_offered_to_a_preference_objective_says_what_it_needs(objective: str, tokenizer: Any) -> None:
    with pytest.raises(IncompatibleConfigError) as refused:
        prepare_dataset(DataSettings(max_samples=5), tokenizer, objective=objective)
    message = one_line(refused)
    assert message.startswith(f"{objective} learns from") and "chosen and rejected columns" in message
    assert "tuitune/sample is alpaca data" in message


def test_a_preference_set_trains_sft_only_on_its_chosen_answers(tmp_path: Path, tokenizer: Any) -> None:
    source = write_jsonl(tmp_path / "pairs.jsonl", [PAIR_LAYOUTS["prompt, chosen and rejected texts"]] * 3)
    with pytest.raises(IncompatibleConfigError) as refused:
        prepare_dataset(settings(source), tokenizer)
    assert "preference.chosen_only" in one_line(refused)
    prepared = prepare_dataset(settings(source), tokenizer, chosen_only=True)
    assert set(prepared.train.column_names) == {"input_ids", "labels", "length"}
    trained = "".join(s.text for s in prepared.preview(1)[0].segments if s.trained)
    assert trained == "Red.<|im_end|><|endoftext|>"
    # Its summary counts samples and tokens, as sft's does (not pairs: none is trained as one).
    assert prepared.stats.corpus.startswith("3 samples → 3 sequences · "), prepared.stats.corpus


def test_labelled_and_prompt_sets_are_refused_for_sft(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "kto.jsonl",
        [{"prompt": "a", "completion": "b", "label": True}, {"prompt": "a", "completion": "c", "label": False}],
    )
    with pytest.raises(IncompatibleConfigError) as refused:
        load_examples(settings(source), objective="sft", chosen_only=True)
    assert "train kto on it" in one_line(refused)


def test_identical_and_empty_pairs_are_dropped_and_warned_about(tmp_path: Path, tokenizer: Any) -> None:
    good = PAIR_LAYOUTS["prompt, chosen and rejected texts"]
    rows = [good, {**good, "rejected": "Red. "}, {**good, "chosen": ""}, {**good, "rejected": [assistant("  ")]}]
    prepared = prepare_dataset(settings(write_jsonl(tmp_path / "pairs.jsonl", rows)), tokenizer, objective="dpo")
    assert len(prepared.train) == 1
    assert prepared.stats.dropped == {"empty chosen or rejected answer": 2, "chosen identical to rejected": 1}
    assert any("3 of 4 rows are dropped" in warning for warning in prepared.stats.warnings)


def test_a_set_of_only_identical_pairs_is_refused(tmp_path: Path, tokenizer: Any) -> None:
    source = write_jsonl(tmp_path / "same.jsonl", [{"prompt": "a", "chosen": "b", "rejected": "b"}] * 3)
    with pytest.raises(EmptyDatasetError) as refused:
        prepare_dataset(settings(source), tokenizer, objective="dpo")
    assert "3 chosen identical to rejected" in one_line(refused)


@pytest.mark.parametrize("label", ["good", 2, [True], 0.5])
def test_a_label_that_is_not_a_boolean_is_refused(label: Any, tmp_path: Path) -> None:
    rows = [{"prompt": "a", "completion": "b", "label": True}, {"prompt": "a", "completion": "c", "label": label}]
    with pytest.raises(MalformedDataError) as refused:
        load_examples(settings(write_jsonl(tmp_path / "kto.jsonl", rows)), objective="kto")
    message = one_line(refused)
    assert "row 2" in message and "is not a boolean" in message


def test_labels_all_one_value_are_refused(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"prompt": "a", "completion": "b", "label": 1},
        {"prompt": "a", "completion": "c", "label": "true"},
    ]
    with pytest.raises(MalformedDataError) as refused:
        load_examples(settings(write_jsonl(tmp_path / "kto.jsonl", rows)), objective="kto")
    assert "every label is true" in one_line(refused) and "labelled false" in str(refused.value)


def test_long_pairs_are_warned_about_and_prompts_without_room_dropped(tmp_path: Path, tokenizer: Any) -> None:
    long_answer = " ".join(["word"] * 40)
    rows = [
        {"prompt": "Name a colour.", "chosen": "Red.", "rejected": "No."},
        {"prompt": "Name a colour.", "chosen": long_answer, "rejected": "No."},
        {"prompt": " ".join(["very long prompt"] * 20), "chosen": "Red.", "rejected": "No."},
    ]
    source = write_jsonl(tmp_path / "long.jsonl", rows)
    prepared = prepare_dataset(settings(source, max_length=24), tokenizer, objective="dpo")
    assert len(prepared.train) == 2 and prepared.stats.long_rows == 1
    assert prepared.stats.dropped == {"prompt leaving no room for an answer at max_length 24": 1}
    warnings = " | ".join(prepared.stats.warnings)
    assert "1 of 2 rows are longer than max_length 24" in warnings and "1 of 3 rows are dropped" in warnings
    with pytest.raises(EmptyDatasetError) as refused:
        prepare_dataset(settings(source, max_length=8), tokenizer, objective="dpo")
    assert "raise data.max_length" in one_line(refused)


def test_a_named_format_the_columns_do_not_fit_says_what_it_needs(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "a", "chosen": "b", "rejected": "c"}])
    with pytest.raises(TuituneError) as refused:
        load_examples(settings(source, format="labelled"), objective="kto")
    assert "Format labelled needs prompt, completion and a true/false label" in one_line(refused)
    with pytest.raises(IncompatibleConfigError) as refused:
        load_examples(settings(source), objective="grpo")
    assert "Name --format prompts" in one_line(refused)
    grpo = load_examples(settings(source, format="prompts"), objective="grpo")
    assert grpo.format == "prompts" and grpo.train_records[0] == PromptExample(
        Conversation((Message("user", "a"),)), {"chosen": "b", "rejected": "c"}
    )


# --- the bundled preference set ------------------------------------------------------------
def test_the_bundled_preference_set_is_learnable_pairs(tokenizer: Any) -> None:
    from tuitune.data.bundled_sets import REJECTED_ANSWERS

    prepared = prepare_dataset(DataSettings(source=SAMPLE_PREFERENCE), tokenizer, objective="dpo")
    assert prepared.format == "preference" and 300 <= prepared.stats.records <= 500
    assert prepared.stats.dropped == {} and prepared.stats.long_rows == 0
    rejected = {text.removesuffix("<|im_end|>") for text in prepared.train["rejected"]}
    assert rejected == set(REJECTED_ANSWERS)
    assert not rejected & {text.removesuffix("<|im_end|>") for text in prepared.train["chosen"]}
    pairs = len(prepared.train) + len(prepared.validation)
    kto = prepare_dataset(DataSettings(source=SAMPLE_PREFERENCE), tokenizer, objective="kto")
    assert kto.stats.labels == {"desirable": pairs, "undesirable": pairs}


# --- tuitune data --------------------------------------------------------------------------
def test_tuitune_data_shows_a_pair_side_by_side_and_its_json_carries_it(tmp_path: Path, demo_model_path: Path) -> None:
    from tests.cli_inprocess import run_inprocess

    # Text that would be markup or a terminal escape reaches the screen as itself.
    rows = [{"prompt": "Is [red]this[/red] bold?", "chosen": "No, it is [b]plain[/b].", "rejected": "Yes\x1b[2J"}] * 2
    source = write_jsonl(tmp_path / "pairs.jsonl", rows)
    shown = run_inprocess("data", source)
    assert shown.returncode == 0, shown.stderr + (shown.traceback or "")
    out = shown.stdout
    assert "preference" in out and "rows for dpo" in out and "Pair 1: prompt" in out
    assert "✓ chosen" in out and "✗ rejected" in out
    assert "Is [red]this[/red] bold?" in out and "[b]plain[/b]" in out and "\x1b" not in out and "\\x1b" in out

    document = json.loads(run_inprocess("data", source, "--json").stdout)
    assert document["format"] == "preference" and document["objective"] == "dpo" and document["records"] == 2
    pair = document["previews"][0]["pair"]
    assert pair["chosen"] == "No, it is [b]plain[/b].<|im_end|>" and pair["rejected"] == "Yes\x1b[2J<|im_end|>"
    assert pair["prompt"].endswith("<|im_start|>assistant\n") and pair["chosen_tokens"] > 0

    kto = json.loads(run_inprocess("data", source, "--json", "--objective", "kto").stdout)
    assert kto["labels"] == {"desirable": 2, "undesirable": 2}

    refused = run_inprocess("data", source, "--objective", "sft")
    assert refused.returncode == 1 and refused.stdout == "" and len(refused.stderr.strip().splitlines()) == 1
    assert "--chosen-only" in run_inprocess("data", "--help").stdout


def test_converting_keeps_a_pair_s_chosen_answer_and_refuses_what_has_none(tmp_path: Path) -> None:
    from tuitune.data import convert_dataset
    from tuitune.errors import UnknownFormatError

    pairs = write_jsonl(tmp_path / "pairs.jsonl", [PAIR_LAYOUTS["prompt, chosen and rejected texts"]])
    assert convert_dataset(pairs, "alpaca").records == [
        {"instruction": "Name a colour.", "input": "", "output": "Red."}
    ]
    for rows in (
        [{"prompt": "a", "answer": "b"}],
        [{"prompt": "a", "completion": "b", "label": 1}, {"prompt": "a", "completion": "c", "label": 0}],
    ):
        with pytest.raises(UnknownFormatError) as refused:
            convert_dataset(write_jsonl(tmp_path / "rows.jsonl", rows), "chat")
        assert "cannot become chat rows" in one_line(refused)
