"""Batches waste no compute on padding, and packed samples never see each other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuitune.config import DataSettings
from tuitune.data import IGNORE_INDEX, make_collator, prepare_dataset

TEXTS = [
    "Hello there, how are you today?",
    "Short one.",
    "A third sample that is a bit longer than the others, for sure.",
]


@pytest.fixture(scope="module")
def tokenizer(demo_model_path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(demo_model_path))


def features(tokenizer) -> list[dict]:
    rows = []
    for text in TEXTS:
        ids = tokenizer(text)["input_ids"]
        rows.append({"input_ids": ids, "labels": [IGNORE_INDEX] * 2 + ids[2:], "length": len(ids)})
    return rows


def test_padding_collator_pads_to_the_longest_in_the_batch(tokenizer) -> None:
    rows = features(tokenizer)
    batch = make_collator(tokenizer, packing=False)(rows)
    longest = max(len(r["input_ids"]) for r in rows)
    assert batch["input_ids"].shape == (3, longest)
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        assert batch["input_ids"][i, :n].tolist() == row["input_ids"]
        assert batch["input_ids"][i, n:].tolist() == [tokenizer.pad_token_id] * (longest - n)
        assert batch["attention_mask"][i].tolist() == [1] * n + [0] * (longest - n)
        assert batch["labels"][i].tolist() == row["labels"] + [IGNORE_INDEX] * (longest - n)


def test_packing_collator_is_padding_free_with_restarting_positions(tokenizer) -> None:
    rows = features(tokenizer)
    batch = make_collator(tokenizer, packing=True)(rows)
    assert "attention_mask" not in batch
    assert batch["input_ids"][0].tolist() == sum((r["input_ids"] for r in rows), [])
    assert batch["position_ids"][0].tolist() == sum((list(range(len(r["input_ids"]))) for r in rows), [])
    # The first label of each sample is masked: no sample learns to predict across a boundary.
    expected_labels: list[int] = sum(([IGNORE_INDEX] + r["labels"][1:] for r in rows), [])
    assert batch["labels"][0].tolist() == expected_labels
    assert batch["use_cache"] is False


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_batch_gives_each_sample_the_logits_it_has_alone(
    demo_model_path: Path, tokenizer, attention: str
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(demo_model_path), attn_implementation=attention)
    model.train()  # as in training; the config still says use_cache=True
    rows = features(tokenizer)
    packed = make_collator(tokenizer, packing=True)(rows)
    with torch.no_grad():
        out = model(**packed)
        alone = [model(input_ids=torch.tensor([r["input_ids"]]), labels=torch.tensor([r["labels"]])) for r in rows]
    start = 0
    for row, single in zip(rows, alone):
        n = len(row["input_ids"])
        torch.testing.assert_close(out.logits[0, start : start + n], single.logits[0], atol=1e-4, rtol=1e-4)
        start += n
    # The packed loss is the token-weighted mean of the samples' own losses.
    weights = [sum(1 for label in r["labels"][1:] if label != IGNORE_INDEX) for r in rows]
    expected = sum(s.loss * w for s, w in zip(alone, weights)) / sum(weights)
    torch.testing.assert_close(out.loss, expected, atol=1e-4, rtol=1e-4)


def test_without_use_cache_false_transformers_would_mix_packed_samples(demo_model_path: Path, tokenizer) -> None:
    # Why the packing collator says use_cache=False: with a KV cache transformers skips its
    # packed-sequence detection and attends across samples. If this starts failing, transformers
    # fixed it and the note in docs/data.md can go.
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(demo_model_path), attn_implementation="sdpa")
    rows = features(tokenizer)
    packed = make_collator(tokenizer, packing=True)(rows)
    with torch.no_grad():
        mixed = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=True).logits
        second_alone = model(input_ids=torch.tensor([rows[1]["input_ids"]])).logits
    n0, n1 = len(rows[0]["input_ids"]), len(rows[1]["input_ids"])
    assert not torch.allclose(mixed[0, n0 : n0 + n1], second_alone[0], atol=1e-3)


@pytest.mark.integration  # trains
@pytest.mark.parametrize("packing", [False, True])
def test_trainer_trains_on_prepared_data(tmp_path: Path, demo_model_path: Path, tokenizer, packing: bool) -> None:
    import math

    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    rows = [{"instruction": f"Repeat {i}.", "input": "", "output": f"{i} " * (1 + i % 7)} for i in range(24)]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    prepared = prepare_dataset(DataSettings(source=str(path), packing=packing, validation_split=4), tokenizer)
    model = AutoModelForCausalLM.from_pretrained(str(demo_model_path))
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        train_sampling_strategy="random" if packing else "group_by_length",
        remove_unused_columns=False,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=prepared.train,
        eval_dataset=prepared.validation,
        data_collator=make_collator(tokenizer, packing=packing),
        processing_class=tokenizer,
    )
    assert trainer.model.config.use_cache is False
    result = trainer.train()
    assert result.global_step == 2 and math.isfinite(result.training_loss)
    assert math.isfinite(trainer.evaluate()["eval_loss"])
