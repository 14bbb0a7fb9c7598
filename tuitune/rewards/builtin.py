"""The built-in reward functions, which need no code: exact_match, numeric_match, format, length.

Each returns a float in [0, 1] per completion; `builtin_reward` gives them TRL's signature with
the run's settings (the answer column, the format pattern, the target length) bound in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import regex

from tuitune.config import GrpoSettings
from tuitune.errors import ConfigError
from tuitune.text.user_text import shorten

# TRL's signature: f(prompts, completions, **columns) -> one reward per completion.
RewardFunction = Callable[..., list[float]]


class RewardFunctionError(ConfigError):
    """A reward function cannot be loaded, or fails on the run's own data."""

    field = "grpo.rewards"


_CLOSING = " \t\r\n.!?\"'`"
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")


def completion_text(completion: Any) -> str:
    """A completion's text: TRL passes a string, or for conversational prompts a list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def normalise(text: Any) -> str:
    """Text as exact_match compares it: case folded, spaces collapsed, closing punctuation dropped."""
    return " ".join(str(text).split()).casefold().strip(_CLOSING)


def last_number(text: Any) -> float | None:
    """The last number written in `text` (commas as thousands separators), or None."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text) if math.isfinite(text) else None
    found = _NUMBER.findall(str(text))
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def _answers(columns: dict[str, Any], column: str, count: int, name: str) -> list[Any]:
    answers = columns.get(column)
    if answers is None:
        known = ", ".join(sorted(key for key in columns if key not in _TRL_KEYWORDS)) or "none"
        raise RewardFunctionError(
            f"grpo.rewards: {name} compares with column {shorten(column)}, which the data lacks (columns: {known}): "
            "set grpo.answer_column to the column holding the answers."
        )
    return list(answers)[:count]


# Keywords TRL adds to the data's columns in every reward call.
_TRL_KEYWORDS = frozenset({"completion_ids", "trainer_state", "log_extra", "log_metric", "environments"})


def exact_match_reward(completions: list[Any], answers: list[Any]) -> list[float]:
    return [
        float(answer is not None and normalise(completion_text(c)) == normalise(answer))
        for c, answer in zip(completions, answers, strict=True)
    ]


def numeric_match_reward(completions: list[Any], answers: list[Any]) -> list[float]:
    rewards = []
    for completion, answer in zip(completions, answers, strict=True):
        got, wanted = last_number(completion_text(completion)), last_number(answer)
        same = got is not None and wanted is not None and math.isclose(got, wanted, rel_tol=1e-9, abs_tol=1e-9)
        rewards.append(float(same))
    return rewards


# A pattern such as ^(a+)+$ can backtrack for longer than the run lives on a completion it almost
# matches; one match gets this long, and a completion that needs more scores 0.
FORMAT_MATCH_SECONDS = 0.25


def format_reward(completions: list[Any], pattern: str) -> list[float]:
    compiled = regex.compile(pattern, regex.DOTALL)
    rewards = []
    for completion in completions:
        try:
            matched = compiled.search(completion_text(completion), timeout=FORMAT_MATCH_SECONDS) is not None
        except TimeoutError:
            matched = False
        rewards.append(float(matched))
    return rewards


def length_reward(completions: list[Any], target: int) -> list[float]:
    rewards = []
    for completion in completions:
        length = len(completion_text(completion).strip())
        rewards.append(min(length, target) / max(length, target))
    return rewards


def builtin_reward(spec: str, settings: GrpoSettings) -> RewardFunction:
    """The built-in reward function `spec` names, with the settings it reads."""
    column, pattern, target = settings.answer_column, settings.format_pattern, settings.target_length

    def exact_match(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        return exact_match_reward(completions, _answers(columns, column, len(completions), "exact_match"))

    def numeric_match(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        return numeric_match_reward(completions, _answers(columns, column, len(completions), "numeric_match"))

    def format_match(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        return format_reward(completions, pattern)

    def length_closeness(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        return length_reward(completions, target)

    functions: dict[str, RewardFunction] = {
        "exact_match": exact_match,
        "numeric_match": numeric_match,
        "format": format_match,
        "length": length_closeness,
    }
    function = functions[spec]
    function.__name__ = spec  # TRL names the reward's metrics after it: rewards/format/mean
    return function
