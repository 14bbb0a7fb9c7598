"""Every objective with every method that trains it: LoRA, QLoRA (a 4-bit base, on the CPU too)
and full fine-tuning. test_objectives trains dpo on all three and the others on LoRA through the
worker; this trains each remaining pair for two real steps in this process (`tuitune.train`, the
run layer the worker runs), and checks the run completed with the weights its method leaves and
its objective's key curve logged; grpo and kto also train with two processes (dpo's is test_objectives')."""

from __future__ import annotations

from pathlib import Path

import pytest

import tuitune
from tests.helpers import cli_json
from tuitune.config import ConfigBuilder, RunConfig
from tuitune.runs.files import folder_of
from tuitune.runs.metrics import KEY_CURVES
from tuitune.store import COMPLETED, open_store

pytestmark = pytest.mark.integration  # trains

PAIRS = [
    ("kto", "qlora"),
    ("kto", "full_finetuning"),
    ("orpo", "qlora"),
    ("orpo", "full_finetuning"),
    ("simpo", "qlora"),
    ("simpo", "full_finetuning"),
    ("grpo", "lora"),
    ("grpo", "qlora"),
]


def config(objective: str, method: str) -> RunConfig:
    builder = ConfigBuilder().demo(objective).method(method).name(f"{objective}-{method}")
    builder = builder.data(max_length=64, max_samples=24, validation_split=0)
    if objective == "grpo":  # two prompts a step, four completions each: the smallest real groups
        builder = builder.objective("grpo", num_generations=4, max_completion_length=4)
    return builder.training(max_steps=2, batch_size=8, logging_steps=1, save_steps=1000).build()


@pytest.mark.parametrize(("objective", "method"), PAIRS, ids=[f"{o}-{m}" for o, m in PAIRS])
def test_each_objective_trains_with_each_method(
    objective: str, method: str, tuitune_home: Path, demo_model_path: Path
) -> None:
    result = tuitune.train(config(objective, method))
    assert result.status == COMPLETED, result
    store = open_store()
    run = store.get_run(result.run_id)
    assert (run.config["objective"], run.method, run.steps_done) == (objective, method, 2)
    key = KEY_CURVES[objective][0].key
    logged = [p for p in store.metric_points(run.id) if p.loss is not None]
    assert [p.step for p in logged] == [1, 2] and all(isinstance(p.extra.get(key), float) for p in logged), [
        p.extra for p in logged
    ]
    kind = "model" if method == "full_finetuning" else "adapter"
    assert (folder_of(run) / kind).is_dir()


@pytest.mark.slow
@pytest.mark.parametrize(("objective", "method"), [("grpo", "full_finetuning"), ("kto", "lora")])
def test_grpo_and_kto_train_with_two_processes(
    objective: str, method: str, tuitune_home: Path, demo_model_path: Path
) -> None:
    # dpo's two-process run is test_objectives'; grpo samples on every rank, kto's KL batch spans them.
    document = cli_json(
        "train",
        "--demo",
        "--objective",
        objective,
        "--method",
        method,
        "--nproc",
        "2",
        "--batch-size",
        "8",
        "--max-steps",
        "2",
        timeout=600,
    )
    assert (document["status"], document["steps_completed"]) == (COMPLETED, 2), document
    store = open_store()
    assert [process.rank for process in store.processes(document["run_id"])] == [0, 1]
    assert set(document["key_values"]) == {curve.key for curve in KEY_CURVES[objective]}
    # Rank 0 alone writes: no step logged twice.
    steps = [p.step for p in store.metric_points(document["run_id"]) if p.loss is not None]
    assert steps and len(steps) == len(set(steps)), steps
