"""A dpo run's speed choices (measured in docs/benchmarks.md, `benchmarks/peers_dpo.py`): pairs
batched by length, and with an adapter over more than one epoch the reference's log-probabilities
computed once before training, which leaves the loss as it was (the reference is the base with the
adapter off whatever the adapter has learnt)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import tuitune
from tuitune.config import ConfigBuilder, RunConfig
from tuitune.engine.objectives.preference import reference_once
from tuitune.store import COMPLETED, open_store


def dpo(
    source: str = "tuitune/sample-preference", *, method: str = "lora", reference: str = "auto", **training: object
) -> RunConfig:
    return (
        ConfigBuilder()
        .demo()
        .method(method)
        .objective("dpo", reference=reference)
        .data(source, validation_split=0)
        .training(batch_size=4, logging_steps=1, save_steps=1000, **training)
        .name("dpo-speed")
        .build()
    )


def arguments(*, max_steps: int = -1, epochs: float = 1.0, batch: int = 4, accumulation: int = 1) -> SimpleNamespace:
    """What `reference_once` reads of the trainer's arguments."""
    return SimpleNamespace(
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation,
        world_size=1,
        max_steps=max_steps,
        num_train_epochs=epochs,
    )


def test_a_lora_dpo_run_computes_its_reference_once_only_when_it_sees_a_pair_more_than_once() -> None:
    lora = dpo()
    # 16 pairs, 4 a step: 4 steps an epoch.
    assert not reference_once(lora, arguments(max_steps=4), 16)
    assert reference_once(lora, arguments(max_steps=5), 16)
    assert not reference_once(lora, arguments(epochs=1), 16)
    assert reference_once(lora, arguments(epochs=2), 16)
    # 8 pairs a step with accumulation: 2 steps an epoch.
    assert not reference_once(lora, arguments(max_steps=2, accumulation=2), 16)
    assert reference_once(lora, arguments(max_steps=3, accumulation=2), 16)
    # Asked for explicitly, or a full fine-tune (precomputed already with auto): not this rule's call.
    assert not reference_once(dpo(reference="live"), arguments(epochs=3), 16)
    assert not reference_once(dpo(method="full_finetuning"), arguments(epochs=3), 16)


@pytest.mark.integration  # trains
def test_a_two_epoch_lora_dpo_run_reads_its_reference_and_reaches_the_live_runs_loss(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"Name a colour, {i}.", "chosen": "Blue. " * (1 + i % 5), "rejected": "No."} for i in range(8)]
    pairs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    # 8 pairs, 4 a step: the sixth step is the second epoch's second.
    once = tuitune.train(dpo(str(pairs), max_steps=6))
    live = tuitune.train(dpo(str(pairs), reference="live", max_steps=6))

    assert once.status == live.status == COMPLETED
    store = open_store()
    said = {
        run: [e.message for e in store.events(run) if e.message.startswith("reference:")]
        for run in (once.run_id, live.run_id)
    }
    assert said[once.run_id] == [
        "reference: the base model with the adapter switched off, its log-probabilities computed in one pass "
        "before training (more than one epoch: each pair's are read, not computed again every epoch)"
    ]
    assert said[live.run_id] == ["reference: the base model with the adapter switched off (no second copy)"]
    losses = {
        run: [p.loss for p in store.metric_points(run) if p.loss is not None] for run in (once.run_id, live.run_id)
    }
    assert len(losses[once.run_id]) == 6
    assert losses[once.run_id] == pytest.approx(losses[live.run_id], abs=1e-4)
