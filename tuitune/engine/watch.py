"""Warnings in words while a run trains, when its logged metrics say it is going wrong.

`RunWatch` reads each log dict the trainer hands its callbacks (the names of `tuitune.runs.metrics`)
and says, once per run, what looks wrong and what to do about it; `WatchCallback` writes each
warning into the run's events (level warning), where every face shows it. The checks:
- a loss that is NaN or infinite, or a NaN gradient norm (the Trainer hides a NaN step's loss);
- a preference run's reward accuracy at 1.0 from its first logs: the pairs are told apart at once,
  by a shortcut (length, format, wording) rather than the preference;
- reward margins shrinking while the rewards of the chosen and the rejected answers both fall:
  the model makes every answer less likely instead of preferring the chosen ones;
- GRPO: most prompt groups with no spread in their rewards (no advantage, so nothing to learn);
- GRPO: every completion cut at the length limit.
Only training logs feed the reward checks (an evaluation's `eval_` metrics come from other data).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from tuitune.runs import metrics
from tuitune.store import Store

# Where a broken run shows first, and in whose words. The Trainer logs a NaN step's training loss as
# the mean of the losses before it (`logging_nan_inf_filter`), so its gradient norm says it instead.
NOT_FINITE_SIGNS: tuple[tuple[str, str, str], ...] = (
    ("loss", "training loss", ""),
    (
        "grad_norm",
        "gradient norm",
        " (the loss curve hides it: the Trainer logs such a step's loss as the mean of those before)",
    ),
    ("eval_loss", "evaluation loss", ""),
)
# Reward accuracy counts as "every pair" from this value (a batch mean of 0s and 1s: exactly 1.0,
# give or take float sums), over this many of the run's first informative logs.
FULL_ACCURACY = 1.0 - 1e-6
EARLY_LOGS = 3
# Margins, chosen and rejected rewards all fell at each of this many logs in a row.
SHRINKING_LOGS = 3
# GRPO: at least this share of the prompt groups scored all their completions the same, in each of
# this many logs in a row (one log with little spread is noise; a run of them is a setting).
NO_SPREAD_SHARE = 0.9
NO_SPREAD_LOGS = 3
# GRPO: at least this share of the completions cut at max_completion_length, this many logs in a row.
CLIPPED_SHARE = 1.0 - 1e-6
CLIPPED_LOGS = 2


@dataclass
class RunWatch:
    """The checks over one run's logs; `read` returns the warnings that fire now, each once."""

    told: set[str] = field(default_factory=set)  # the checks that have warned
    _accuracies: list[float] = field(default_factory=list)  # the first informative logs'
    _rewards: deque[tuple[int, float, float, float]] = field(
        default_factory=lambda: deque(maxlen=SHRINKING_LOGS + 1)
    )  # (step, margin, chosen, rejected)
    _no_spread: list[int] = field(default_factory=list)  # steps of the latest logs in a row
    _clipped: list[int] = field(default_factory=list)

    def read(self, logs: dict[str, Any], step: int) -> list[str]:
        """The warnings `logs` (one log dict of the trainer, at `step`) sets off for the first time."""
        found = [
            *self._not_finite(logs, step),
            *self._separable(logs, step),
            *self._shrinking(logs, step),
            *self._no_learning_signal(logs, step),
            *self._all_clipped(logs, step),
        ]
        fresh = [(check, message) for check, message in found if check not in self.told]
        self.told.update(check for check, _ in fresh)
        return [message for _, message in fresh]

    def _not_finite(self, logs: dict[str, Any], step: int) -> list[tuple[str, str]]:
        for name, which, aside in NOT_FINITE_SIGNS:
            value = _number(logs.get(name))
            if value is None or math.isfinite(value) or (name == "grad_norm" and not math.isnan(value)):
                continue  # an infinite gradient norm alone is fp16's loss scaler skipping a step
            kind = "NaN" if math.isnan(value) else "infinite"
            return [
                (
                    "not-finite",
                    f"The {which} is {kind} at step {step}{aside}: the run has stopped learning and its weights may "
                    "already be broken. Start again from an earlier checkpoint with a lower "
                    "training.learning_rate, in bf16 or fp32 rather than fp16.",
                )
            ]
        return []

    def _separable(self, logs: dict[str, Any], step: int) -> list[tuple[str, str]]:
        accuracy = _number(logs.get(metrics.REWARD_ACCURACY))
        if accuracy is None or len(self._accuracies) >= EARLY_LOGS:
            return []
        if accuracy == 0 and _number(logs.get(metrics.REWARD_MARGIN)) == 0:
            return []  # a policy still equal to its reference (DPO's first steps) ties every pair
        self._accuracies.append(accuracy)
        if len(self._accuracies) < EARLY_LOGS or min(self._accuracies) < FULL_ACCURACY:
            return []
        return [
            (
                "separable",
                f"Reward accuracy is 100% from the first steps (to step {step}): the model tells every chosen "
                "answer from its rejected one almost at once, so the pairs differ in something easy (length, "
                "format, wording) and it may learn that instead of the preference. Look at a few pairs "
                "(`tuitune data`): the rejected answers should be plausible, and differ in what you want learned.",
            )
        ]

    def _shrinking(self, logs: dict[str, Any], step: int) -> list[tuple[str, str]]:
        values = [
            _number(logs.get(key)) for key in (metrics.REWARD_MARGIN, metrics.CHOSEN_REWARD, metrics.REJECTED_REWARD)
        ]
        margin, chosen, rejected = values
        if margin is None or chosen is None or rejected is None:
            return []
        self._rewards.append((step, margin, chosen, rejected))
        if len(self._rewards) <= SHRINKING_LOGS:
            return []
        readings = list(self._rewards)
        falling = all(
            later[index] < earlier[index] for earlier, later in itertools.pairwise(readings) for index in (1, 2, 3)
        )
        if not falling:
            return []
        first, last = readings[0], readings[-1]
        return [
            (
                "shrinking",
                f"Reward margins are shrinking while the rewards of both the chosen and the rejected answers "
                f"fall (steps {first[0]} to {last[0]}: margin {first[1]:.3g} to {last[1]:.3g}): the model is "
                "making every answer less likely instead of preferring the chosen ones. Try a lower "
                "training.learning_rate or a higher preference.beta, and check that chosen and rejected differ.",
            )
        ]

    def _no_learning_signal(self, logs: dict[str, Any], step: int) -> list[tuple[str, str]]:
        share = _number(logs.get(metrics.ZERO_SPREAD))
        if share is None:
            return []
        self._no_spread = [*self._no_spread, step] if share >= NO_SPREAD_SHARE else []
        if len(self._no_spread) < NO_SPREAD_LOGS:
            return []
        return [
            (
                "no-spread",
                f"In {share:.0%} of the prompt groups every completion got the same reward (steps "
                f"{self._no_spread[0]} to {step}): those groups give GRPO nothing to learn from. Make the reward "
                "give partial credit, raise grpo.num_generations or grpo.temperature, or use easier prompts.",
            )
        ]

    def _all_clipped(self, logs: dict[str, Any], step: int) -> list[tuple[str, str]]:
        share = _number(logs.get(metrics.CLIPPED))
        if share is None:
            return []
        self._clipped = [*self._clipped, step] if share >= CLIPPED_SHARE else []
        if len(self._clipped) < CLIPPED_LOGS:
            return []
        return [
            (
                "clipped",
                f"Every completion reached the length limit (steps {self._clipped[0]} to {step}): they are cut "
                "before they end, so a reward that reads the end of an answer never sees it. Raise "
                "grpo.max_completion_length, or ask for shorter answers in the prompts.",
            )
        ]


def _number(value: Any) -> float | None:
    """A logged value as a float (None: not logged, or not a number)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass
class WatchCallback(TrainerCallback):
    """Writes `RunWatch`'s warnings into the run's events as the trainer logs (main process only)."""

    store: Store
    run_id: int
    watch: RunWatch = field(default_factory=RunWatch)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kw: Any,
    ) -> None:
        if not logs or not state.is_world_process_zero:
            return  # every rank logs the same numbers: the story is told once
        for message in self.watch.read(logs, state.global_step):
            print(f"[warning] {message}", flush=True)
            try:
                self.store.add_event(self.run_id, message, level="warning")
            except Exception:
                pass  # a warning that cannot be recorded must not stop the training it warns about
