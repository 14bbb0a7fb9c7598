"""What a run's trainer logs beyond the loss, declared once: the names, and each objective's key curves.

The store keeps every number the trainer logs at a step (`MetricPoint.extra`, under TRL's own
names); this module says which of them tell how an objective is doing, in the user's words. The
training and detail screens draw an objective's key curves beside the loss, the engine's watch
(`tuitune.engine.watch`) reads the same names to warn while a run goes wrong, and every face that
plots the families reads them here. An evaluation logs the same names behind `eval_`.

Light: the store's records only (no torch, pydantic or textual).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tuitune.store import MetricPoint, Run

# Evaluation scores where lower is better (a drop is the improvement); every other is better higher.
LOWER_IS_BETTER = frozenset({"perplexity", "loss", "eval_loss"})

# What the preference trainers (DPO, KTO, ORPO, SimPO) log: the implicit rewards of the chosen and
# rejected answers (beta times the log-probability ratio against the reference; ORPO and SimPO
# scale the policy's own), their difference, and the share of pairs where the chosen one wins.
REWARD_MARGIN = "rewards/margins"
REWARD_ACCURACY = "rewards/accuracies"  # not logged by KTO: its answers come unpaired
CHOSEN_REWARD = "rewards/chosen"
REJECTED_REWARD = "rewards/rejected"
CHOSEN_LOGPS = "logps/chosen"
REJECTED_LOGPS = "logps/rejected"
KL = "kl"  # KTO's estimate of the policy's distance from the reference; GRPO's with beta > 0

# What GRPO logs: the mean and spread of the rewards of its sampled completions (and per reward
# function, `rewards/<name>/mean`), the share of prompt groups whose completions all scored the
# same (no advantage, so no learning signal from them), and how the completions ended.
MEAN_REWARD = "reward"
REWARD_STD = "reward_std"
ZERO_SPREAD = "frac_reward_zero_std"
CLIPPED = "completions/clipped_ratio"  # the share cut at max_completion_length
MEAN_LENGTH = "completions/mean_length"

EVAL_PREFIX = "eval_"  # an evaluation's metrics: `eval_rewards/margins`

# What a point's fixed columns hold already (`MetricPoint`'s fields), under the names the
# Trainer logs them: not repeated in `extra`.
COLUMN_KEYS: frozenset[str] = frozenset({"loss", "eval_loss", "learning_rate", "grad_norm", "epoch", "step"})


@dataclass(frozen=True)
class KeyCurve:
    """One metric that tells how an objective is doing."""

    key: str  # the trainer's name, in a point's `extra`
    label: str  # in the user's words, as panels and legends title it
    share: bool = False  # a fraction of pairs or groups (0 to 1): shown as a percentage
    short: str = ""  # a word for a line with no room (the CLI's progress bar at 80 columns)

    def show(self, value: float) -> str:
        """The value as a panel prints it."""
        return f"{value:.0%}" if self.share else f"{value:.4g}"


_MARGIN = KeyCurve(REWARD_MARGIN, "reward margin", short="margin")
_ACCURACY = KeyCurve(REWARD_ACCURACY, "reward accuracy", share=True, short="accuracy")
_PAIRED = (_MARGIN, _ACCURACY)

# Each objective's key curves, the most telling first (the names are config.OBJECTIVES; a test
# checks that every objective has its entry). sft has none beyond the loss.
KEY_CURVES: dict[str, tuple[KeyCurve, ...]] = {
    "sft": (),
    "dpo": _PAIRED,
    "orpo": _PAIRED,
    "simpo": _PAIRED,
    "kto": (_MARGIN, KeyCurve(KL, "KL to the reference", short="KL")),
    "grpo": (KeyCurve(MEAN_REWARD, "mean reward", short="reward"), KeyCurve(REWARD_STD, "reward std", short="std")),
}

# Shown in a run's log lines too (the rest stay in the store): every objective's key curves.
IN_LOG_LINES: frozenset[str] = frozenset(curve.key for curves in KEY_CURVES.values() for curve in curves)


def objective_of(config: dict[str, Any]) -> str:
    """A run's objective from its stored config (runs from before objectives trained sft)."""
    objective = config.get("objective")
    return objective if isinstance(objective, str) and objective else "sft"


def key_curves(objective: str) -> tuple[KeyCurve, ...]:
    """The objective's key curves (none for sft or an objective this version does not know)."""
    return KEY_CURVES.get(objective, ())


def key_curves_of(run: Run) -> tuple[KeyCurve, ...]:
    """The key curves of the run's objective."""
    return key_curves(objective_of(run.config))


def logged_extra(logs: dict[str, Any]) -> dict[str, float]:
    """From a Trainer's log dict, every number its point's fixed columns do not hold."""
    return {
        name: float(value)
        for name, value in logs.items()
        # numbers.Real: numpy's scalars too; a bool is a flag, not a measurement.
        if name not in COLUMN_KEYS and isinstance(value, numbers.Real) and not isinstance(value, bool)
    }


def curve(points: Iterable[MetricPoint], key: str) -> tuple[list[float], list[float]]:
    """Steps and values of one metric over `points`, where it was logged as a number."""
    steps: list[float] = []
    values: list[float] = []
    for point in points:
        value = point.extra.get(key)
        if value is not None:
            steps.append(float(point.step))
            values.append(value)
    return steps, values
