"""A run's watch warns in words, once, when its logged metrics say it is going wrong.

The watch is pure logic over the trainer's log dicts: here it is fed log dicts shaped as TRL's
GRPOTrainer and DPOTrainer log them (the names they use, every other key they log beside), through
the real callback and a real store, for what a few steps on the demo model do not produce at will
(noise that must not warn, margins shrinking while both rewards fall, an infinite loss). Real runs
set off the other cases in tests/test_logged_metrics.py: a NaN, pairs told apart at once, GRPO
groups without reward spread, every completion cut.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerControl, TrainerState, TrainingArguments

from tuitune.config import OBJECTIVES
from tuitune.engine.watch import (
    CLIPPED_LOGS,
    NO_SPREAD_LOGS,
    NO_SPREAD_SHARE,
    SHRINKING_LOGS,
    RunWatch,
    WatchCallback,
)
from tuitune.runs import metrics
from tuitune.store import RUNNING, Store, open_store


def grpo_log(step: int, *, zero_std: float = 0.25, clipped: float = 0.1, reward: float = 0.4) -> dict[str, float]:
    """One training log of TRL's GRPOTrainer (1.16) with one reward function, `exact_match`."""
    return {
        "loss": 0.0123,
        "grad_norm": 0.31,
        "learning_rate": 1e-5,
        "num_tokens": 512.0 * step,
        "completions/mean_length": 48.0,
        "completions/min_length": 12.0,
        "completions/max_length": 64.0,
        "completions/clipped_ratio": clipped,
        "completions/mean_terminated_length": 40.0,
        "completions/min_terminated_length": 12.0,
        "completions/max_terminated_length": 63.0,
        "rewards/exact_match/mean": reward,
        "rewards/exact_match/std": 0.3,
        "reward": reward,
        "reward_std": 0.3,
        "frac_reward_zero_std": zero_std,
        "entropy": 2.1,
        "clip_ratio/low_mean": 0.0,
        "clip_ratio/low_min": 0.0,
        "clip_ratio/high_mean": 0.0,
        "clip_ratio/high_max": 0.0,
        "clip_ratio/region_mean": 0.0,
        "epoch": step / 10,
    }


def dpo_log(step: int, margin: float, chosen: float, rejected: float, accuracy: float = 0.75) -> dict[str, float]:
    """One training log of TRL's DPOTrainer (1.16)."""
    return {
        "loss": 0.69,
        "grad_norm": 0.75,
        "learning_rate": 2e-4,
        "entropy": 7.6,
        "num_tokens": 168.0 * step,
        "logits/chosen": -0.0005,
        "logits/rejected": 0.0006,
        "mean_token_accuracy": 0.0,
        "rewards/chosen": chosen,
        "rewards/rejected": rejected,
        "rewards/accuracies": accuracy,
        "rewards/margins": margin,
        "logps/chosen": -53.4,
        "logps/rejected": -37.6,
        "epoch": step / 10,
    }


class Watched:
    """A recorded run and the watch callback over it, fed log dicts as a Trainer would feed them."""

    def __init__(self, store: Store, tmp_path: Path) -> None:
        self.store = store
        self.run = store.create_run(name="watched", config={}, model="m", method="lora", dataset="d", status=RUNNING)
        self.callback = WatchCallback(store, self.run.id)
        self.args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to=[])
        self.state = TrainerState()

    def log(self, step: int, logs: dict[str, Any]) -> None:
        self.state.global_step = step
        self.callback.on_log(self.args, self.state, TrainerControl(), logs=dict(logs, step=step))

    def warnings(self) -> list[str]:
        return [event.message for event in self.store.events(self.run.id) if event.level == "warning"]


def test_grpo_groups_with_no_reward_spread_are_told_once_as_no_learning_signal(tmp_path: Path) -> None:
    watched = Watched(open_store(), tmp_path)
    # One log of little spread among good ones is noise, not a setting.
    for step, share in enumerate([0.25, 0.95, 0.5, 0.25], start=1):
        watched.log(step, grpo_log(step, zero_std=share))
    assert watched.warnings() == []

    for step in range(5, 5 + NO_SPREAD_LOGS + 3):
        watched.log(step, grpo_log(step, zero_std=1.0, reward=0.0))
    (warning,) = watched.warnings()
    assert warning.startswith("In 100% of the prompt groups every completion got the same reward (steps 5 to 7)")
    assert "nothing to learn from" in warning and "grpo.num_generations" in warning


def test_every_completion_clipped_at_the_length_limit_is_told_once(tmp_path: Path) -> None:
    watched = Watched(open_store(), tmp_path)
    watched.log(1, grpo_log(1, clipped=1.0))
    watched.log(2, grpo_log(2, clipped=0.75))  # one log of it is not yet "every completion"
    assert watched.warnings() == []
    for step in range(3, 3 + CLIPPED_LOGS + 2):
        watched.log(step, grpo_log(step, clipped=1.0))
    assert watched.warnings() == [
        "Every completion reached the length limit (steps 3 to 4): they are cut before they end, so a reward "
        "that reads the end of an answer never sees it. Raise grpo.max_completion_length, or ask for shorter "
        "answers in the prompts."
    ]


def test_margins_shrinking_while_both_rewards_fall_are_told_once(tmp_path: Path) -> None:
    watched = Watched(open_store(), tmp_path)
    # Learning as it should: the margin grows, chosen up, rejected down; then a wobble.
    steps = [(0.01, 0.005, -0.005), (0.03, 0.012, -0.018), (0.05, 0.02, -0.03), (0.04, 0.01, -0.03)]
    for step, (margin, chosen, rejected) in enumerate(steps, start=1):
        watched.log(step, dpo_log(step, margin, chosen, rejected))
    assert watched.warnings() == []
    # Both rewards fall, the rejected less than the chosen: the margin shrinks, log after log.
    for step in range(5, 5 + SHRINKING_LOGS + 2):
        fall = step - 4
        watched.log(step, dpo_log(step, 0.04 - 0.008 * fall, 0.01 - 0.02 * fall, -0.03 - 0.012 * fall))
    (warning,) = watched.warnings()
    assert warning.startswith(
        "Reward margins are shrinking while the rewards of both the chosen and the rejected answers fall "
        "(steps 4 to 7: margin 0.04 to 0.016)"
    )
    assert "preference.beta" in warning


def test_an_infinite_loss_is_told_once_and_fp16_skipping_a_step_is_not(tmp_path: Path) -> None:
    watched = Watched(open_store(), tmp_path)
    # fp16's loss scaler: an overflowing step logs an infinite gradient norm, and is skipped.
    watched.log(1, dpo_log(1, 0.0, 0.0, 0.0) | {"grad_norm": float("inf")})
    assert watched.warnings() == []
    watched.log(2, dpo_log(2, 0.01, 0.005, -0.005) | {"loss": float("inf")})
    watched.log(3, dpo_log(3, 0.01, 0.005, -0.005) | {"loss": float("nan"), "eval_loss": float("nan")})
    (warning,) = watched.warnings()
    assert warning.startswith("The training loss is infinite at step 2: the run has stopped learning")
    assert open_store().metric_points(watched.run.id) == []  # the watch only tells; the store keeps


def test_an_evaluation_never_sets_off_the_training_checks(tmp_path: Path) -> None:
    watched = Watched(open_store(), tmp_path)
    for step in range(1, 8):
        evaluation = {f"eval_{k}": v for k, v in grpo_log(step, zero_std=1.0, clipped=1.0).items() if k != "epoch"}
        watched.log(step, evaluation | {"epoch": step / 10})
    assert watched.warnings() == []


def test_a_watch_counts_only_the_logs_it_reads() -> None:
    # Pure logic: the same warning fires at the same log, however the logs before it were spaced.
    watch = RunWatch()
    fired = [watch.read(grpo_log(step, zero_std=NO_SPREAD_SHARE), step * 10) for step in range(1, NO_SPREAD_LOGS + 2)]
    assert [len(found) for found in fired] == [0] * (NO_SPREAD_LOGS - 1) + [1, 0]
    assert "(steps 10 to 30)" in fired[NO_SPREAD_LOGS - 1][0]


def test_every_objective_has_its_key_curves_declared() -> None:
    assert set(metrics.KEY_CURVES) == set(OBJECTIVES)
    assert metrics.KEY_CURVES["sft"] == ()
    for objective in ("dpo", "orpo", "simpo"):
        assert [c.label for c in metrics.key_curves(objective)] == ["reward margin", "reward accuracy"]
    assert [c.key for c in metrics.key_curves("grpo")] == ["reward", "reward_std"]
    assert metrics.objective_of({}) == "sft" and metrics.objective_of({"objective": "kto"}) == "kto"
    # What the fixed columns hold is not repeated among the others; flags are not measurements.
    logged = metrics.logged_extra(dpo_log(3, 0.1, 0.05, -0.05) | {"step": 3, "eval_loss": 0.7, "flag": True})
    assert metrics.COLUMN_KEYS.isdisjoint(logged) and "flag" not in logged
    assert logged["rewards/margins"] == 0.1 and len(logged) == 11
