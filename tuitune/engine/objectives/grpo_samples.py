"""A few of GRPO's sampled completions, with their rewards, written as the run's events at each log.

The reward functions are wrapped so that the last batch they scored is remembered (prompts,
completions and each function's rewards: TRL calls every function with the same lists); at each
training log a callback writes `grpo.samples_shown` of them, the best and the worst first. The
completions are the model's text: shown quoted, with newlines and control characters escaped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainerCallback

from tuitune.rewards import Reward, RewardFunction, completion_text
from tuitune.text.user_text import literal

SHOWN_CHARACTERS = 160  # of a completion, in an event line


@dataclass
class ScoredBatch:
    """The completions of one generation batch and each reward function's rewards for them."""

    completions: list[Any]
    answers: list[Any] | None
    rewards: dict[str, list[float | None]] = field(default_factory=dict)


class SampleRecorder:
    """Remembers the last batch the wrapped reward functions scored."""

    def __init__(self, weights: dict[str, float], answer_column: str) -> None:
        self.weights = weights
        self.answer_column = answer_column
        self.last: ScoredBatch | None = None
        self._shown: ScoredBatch | None = None
        self._scoring: Any = None  # the completions list of the batch being scored (TRL passes one list to all)

    def wrap(self, reward: Reward) -> RewardFunction:
        """`reward`'s function, recording what it returns; TRL names it as before."""
        function = reward.function
        name = reward.use.name

        def recorded(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
            values = function(prompts=prompts, completions=completions, **columns)
            if completions is not self._scoring:
                self._scoring = completions
                answers = columns.get(self.answer_column)
                self.last = ScoredBatch(list(completions), list(answers) if answers is not None else None)
            if self.last is not None:
                self.last.rewards[name] = [None if v is None else float(v) for v in values]
            return values

        recorded.__name__ = name
        return recorded

    def take(self) -> ScoredBatch | None:
        """The last batch, once: None when it was taken already."""
        if self.last is None or self.last is self._shown:
            return None
        self._shown = self.last
        return self.last

    def lines(self, batch: ScoredBatch, count: int, step: int) -> list[str]:
        """Event lines for `count` completions of `batch`, best and worst first."""
        totals = [self._total(batch, index) for index in range(len(batch.completions))]
        order = sorted(range(len(totals)), key=lambda index: totals[index], reverse=True)
        picked: list[int] = []
        while order and len(picked) < count:
            picked.append(order.pop(0))
            if order and len(picked) < count:
                picked.append(order.pop())
        return [self._line(batch, index, totals[index], step) for index in picked]

    def _total(self, batch: ScoredBatch, index: int) -> float:
        return sum(
            self.weights.get(name, 1.0) * (values[index] or 0.0)
            for name, values in batch.rewards.items()
            if index < len(values)
        )

    def _line(self, batch: ScoredBatch, index: int, total: float, step: int) -> str:
        parts = ", ".join(
            f"{name} {_number(values[index])}" for name, values in batch.rewards.items() if index < len(values)
        )
        answer = ""
        if batch.answers is not None and index < len(batch.answers):
            answer = f" (answer {quoted(batch.answers[index])})"
        text = quoted(completion_text(batch.completions[index]))
        return f"sample at step {step}: reward {total:.2f} [{parts}]{answer}: {text}"


def _number(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}"


def quoted(value: Any) -> str:
    """A user's or the model's text in one quoted line: newlines, tabs and control characters escaped."""
    text = str(value)
    if len(text) > SHOWN_CHARACTERS:
        text = text[: SHOWN_CHARACTERS - 1] + "…"
    return literal(json.dumps(text, ensure_ascii=False))


class SamplesCallback(TrainerCallback):
    """At each training log, a few of the last batch's completions with their rewards, as events."""

    def __init__(self, recorder: SampleRecorder, count: int, note: Callable[..., None]) -> None:
        self.recorder, self.count, self.note = recorder, count, note

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs or "reward" not in logs or not state.is_world_process_zero or self.count == 0:
            return
        batch = self.recorder.take()
        if batch is None:
            return
        for line in self.recorder.lines(batch, self.count, state.global_step):
            self.note(line)
