"""How `tuitune train` ends, in words: the loss, then the run's objective's key values (a DPO
run's reward margin and accuracy, a GRPO run's mean reward: their losses say little), and the
default name says the objective. Real store records, no training."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from tuitune.cli.follow import _fields
from tuitune.cli.outcome import completed_line
from tuitune.config import ConfigBuilder
from tuitune.engine.launcher import default_run_name
from tuitune.runs.documents import run_outcome
from tuitune.runs.metrics import KEY_CURVES, MEAN_REWARD, REWARD_ACCURACY, REWARD_MARGIN
from tuitune.store import COMPLETED, open_store


def said(text: object) -> str:
    console = Console(width=200, record=True)
    console.print(text)
    return console.export_text().strip()


def completed(objective: str, extra: dict[str, float]) -> int:
    store = open_store()
    config = ConfigBuilder().demo(objective).build()
    run = store.create_run(
        name=default_run_name(config), config=config.to_dict(), model="tuitune/demo", method=config.method, dataset="d"
    )
    store.add_metric_points(
        run.id, [{"step": 1, "loss": 0.5, "extra": extra}, {"step": 2, "loss": 0.25, "extra": extra}]
    )
    store.set_status(run.id, COMPLETED)
    return run.id


def test_a_dpo_runs_last_line_says_its_reward_margin_and_accuracy_after_the_loss(tuitune_home: Path) -> None:
    run_id = completed("dpo", {REWARD_MARGIN: 9.25, REWARD_ACCURACY: 1.0})
    run = open_store().get_run(run_id)
    outcome = run_outcome(run, open_store())
    assert outcome.key_values == {REWARD_MARGIN: 9.25, REWARD_ACCURACY: 1.0}
    line = said(completed_line(run, outcome))
    assert line.startswith(f"Run {run_id} (demo-lora-dpo) completed: 2 steps, train loss 0.2500")
    assert "reward margin 9.25, reward accuracy 100% in " in line
    # The progress bar has room for one: the most telling, in a word.
    fields = _fields(run, 0.25, 1234.0, KEY_CURVES["dpo"][0], 9.25)
    assert fields["loss"] == "loss 0.2500 margin 9.25"


def test_an_sft_runs_line_and_name_are_as_they_were(tuitune_home: Path) -> None:
    run_id = completed("sft", {})
    run = open_store().get_run(run_id)
    outcome = run_outcome(run, open_store())
    assert outcome.key_values == {} and run.name == "demo-lora"
    assert ", " not in said(completed_line(run, outcome)).split("train loss", 1)[1]
    assert _fields(run, None, None)["loss"] == "loss –"


def test_a_grpo_run_is_named_for_its_objective_and_says_its_mean_reward(tuitune_home: Path) -> None:
    run_id = completed("grpo", {MEAN_REWARD: 0.875})
    run = open_store().get_run(run_id)
    assert run.name == "demo-full-grpo"
    line = said(completed_line(run, run_outcome(run, open_store())))
    assert "train loss 0.2500, mean reward 0.875 in " in line
    assert _fields(run, 0.0, None, KEY_CURVES["grpo"][0], None)["loss"] == "loss 0.0000 reward –"
