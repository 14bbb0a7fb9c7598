"""A batch of completions scored by a run's reward functions, totalled as TRL totals them.

TRL's `reward` is, per completion, the weighted sum of the functions' rewards (a function's None,
"no reward for this one", counts as nothing), and `rewards/<name>/mean` each function's mean over
the completions it scored. An evaluation reports the same numbers for greedy completions.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tuitune.errors import TuituneError
from tuitune.rewards.builtin import RewardFunctionError
from tuitune.rewards.loading import Reward
from tuitune.text.user_text import excerpt, literal


@dataclass
class RewardScores:
    """Each function's rewards for the completions (None where it gave none), and their weighted totals."""

    per_function: dict[str, list[float | None]] = field(default_factory=dict)
    totals: list[float] = field(default_factory=list)

    def means(self) -> dict[str, float | None]:
        """Each function's mean over the completions it scored (None: it scored none)."""
        result: dict[str, float | None] = {}
        for name, values in self.per_function.items():
            given = [v for v in values if v is not None]
            result[name] = sum(given) / len(given) if given else None
        return result

    @property
    def mean(self) -> float | None:
        return sum(self.totals) / len(self.totals) if self.totals else None


def score_completions(
    rewards: Sequence[Reward],
    prompts: Sequence[Any],
    completions: Sequence[Any],
    columns: dict[str, list[Any]],
    *,
    weights: Sequence[float] | None = None,
) -> RewardScores:
    """Every reward function called once on the whole batch (`columns`: the data's other columns,
    one value per completion, passed by name as TRL passes them); a function that raises, or does
    not return one number (or None) per completion, is a one-line `RewardFunctionError`."""
    chosen = list(weights) if weights is not None else [1.0] * len(rewards)
    scores = RewardScores(totals=[0.0] * len(completions))
    for reward, weight in zip(rewards, chosen, strict=True):
        values = _call(reward, list(prompts), list(completions), columns)
        scores.per_function[reward.use.name] = values
        for index, value in enumerate(values):
            if value is not None:
                scores.totals[index] += weight * value
    return scores


def _call(
    reward: Reward, prompts: list[Any], completions: list[Any], columns: dict[str, list[Any]]
) -> list[float | None]:
    name = reward.use.name
    # TRL's logging hooks, as no-ops: a function written for training may call them.
    hooks = {"log_extra": lambda *a, **k: None, "log_metric": lambda *a, **k: None}
    try:
        values = reward.function(prompts=prompts, completions=completions, **columns, **hooks)
    except TuituneError:
        raise
    except Exception as error:  # the user's code: whatever it raises, say it in one line
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise RewardFunctionError(
            f"grpo.rewards: {name} raised {type(error).__name__} ({literal(first[:200])}) on {len(completions)} "
            f"completions: fix it (it gets prompts, completions and the columns {', '.join(columns) or 'none'} by name)."
        ) from None
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__") or len(values) != len(completions):
        raise RewardFunctionError(
            f"grpo.rewards: {name} returned {excerpt(values)} for {len(completions)} completions: "
            "return one float (or None) per completion."
        )
    result: list[float | None] = []
    for value in values:
        if value is None:
            result.append(None)
            continue
        if not isinstance(value, numbers.Real) and not hasattr(value, "__float__"):  # numpy's and torch's too
            raise RewardFunctionError(
                f"grpo.rewards: {name} returned {excerpt(value)} among its rewards: return one float (or None) "
                "per completion."
            )
        number = float(value)
        result.append(number if math.isfinite(number) else None)
    return result
