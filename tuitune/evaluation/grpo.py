"""A GRPO run's held-out prompts scored by its own reward functions: the mean reward of the
model's greedy completions, in total (weighted as TRL weighs them) and per function, for the
fine-tuned model and its base. The names are those of the run's training curves without `/mean`:
`reward`, `rewards/<function>`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tuitune.config import RunConfig
from tuitune.data import PromptExample
from tuitune.rewards import Reward, RewardScores, load_rewards, score_completions

TOTAL = "reward"
MEANING = (
    "reward: the run's reward functions on the greedy completion of each held-out prompt; "
    "reward is their weighted sum (as training logs it), rewards/NAME each function's mean."
)


@dataclass
class RewardSet:
    """The run's reward functions, their weights, and the held-out rows' other columns by name."""

    functions: list[Reward]
    weights: list[float] | None
    columns: dict[str, list[Any]] = field(default_factory=dict)


def reward_set(config: RunConfig) -> RewardSet:
    """The run's reward functions, loaded: a missing or broken file is a one-line error before a
    model loads."""
    return RewardSet(load_rewards(config.grpo), config.grpo.reward_weights)


def columns(records: Sequence[Any]) -> dict[str, list[Any]]:
    """The held-out prompts' other columns by name, one value per prompt, as TRL passes them."""
    prompts = [r for r in records if isinstance(r, PromptExample)]
    names = list(dict.fromkeys(key for r in prompts for key in r.extra))
    return {name: [r.extra.get(name) for r in prompts] for name in names}


def reward_scores(rewards: RewardSet, prompts: Sequence[str], completions: Sequence[str]) -> RewardScores:
    """Every reward function on the completions (one per held-out prompt, in order)."""
    return score_completions(rewards.functions, prompts, completions, rewards.columns, weights=rewards.weights)


def reward_metrics(scores: RewardScores) -> dict[str, float]:
    """`reward` and `rewards/<function>`: the means over the completions (a function that scored
    none is left out)."""
    metrics: dict[str, float] = {}
    if scores.mean is not None:
        metrics[TOTAL] = scores.mean
    for name, mean in scores.means().items():
        if mean is not None:
            metrics[f"rewards/{name}"] = mean
    return metrics
