"""Does the model now prefer the chosen answer? A preference run's held-out pairs scored by its
objective's implicit reward, for the fine-tuned model and its base.

The reward of an answer is the one the run's trainer logs (TRL's `rewards/chosen`):
- dpo, kto: beta × (log p(answer) under the model − under the base, the run's reference), summed
  over the answer's tokens. The base is its own reference, so its reward is 0 for every answer;
- orpo, simpo (no reference): beta × the answer's mean log-probability per token.

`reward_accuracy` is the share of pairs whose chosen answer's reward is above the rejected one's
(a tie is no preference), `reward_margin` the mean of chosen minus rejected. For kto's labelled
answers (no pairs), accuracy is the share whose reward has its label's sign (above 0 when
desirable, below when not), and the margin the mean reward of desirable answers minus undesirable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tuitune.config import RunConfig
from tuitune.data import LabelledAnswer, PreferencePair
from tuitune.data.preference import PreferenceRow, render_records
from tuitune.evaluation.logprobs import AnswerSequence, LogProb, answer_sequence

NEEDS_REFERENCE = ("dpo", "kto")
ACCURACY, MARGIN = "reward_accuracy", "reward_margin"

# What the two numbers mean, per objective: kept with the evaluation (settings["reward_meaning"]) so
# every face says it the same way.
MEANING = {
    "dpo": "reward: beta × (log-probability of an answer under the model − under the base); accuracy: the share "
    "of held-out pairs whose chosen answer's reward beats the rejected one's. The base is its own reference: "
    "its reward is 0, so its accuracy and margin are 0.",
    "orpo": "reward: beta × an answer's mean log-probability per token; accuracy: the share of held-out pairs "
    "whose chosen answer's reward beats the rejected one's.",
}
MEANING["kto"] = MEANING["dpo"]
MEANING["simpo"] = MEANING["orpo"]


@dataclass
class PairSet:
    """The held-out pairs (or kto's labelled answers) rendered as the run trained on them, and the
    sequences to score: a pair's chosen then rejected answer, a labelled row's one answer."""

    rows: list[PreferenceRow] = field(default_factory=list)
    sequences: list[AnswerSequence] = field(default_factory=list)
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.rows)


def pair_set(config: RunConfig, records: Sequence[Any], template: Any, tokenizer: Any) -> PairSet:
    """The records' pairs and labelled answers, rendered by the run's template (prompts that leave
    no room for an answer within data.max_length are dropped, as training drops them)."""
    scored = [r for r in records if isinstance(r, (PreferencePair, LabelledAnswer))]
    max_length = config.data.max_length
    # Rendered as dpo renders them: a pair stays one row (kto would split it into two answers).
    rendered = render_records(scored, template, tokenizer, objective="dpo", max_length=max_length)
    result = PairSet(rows=rendered.rows, dropped=sum(rendered.dropped.values()))
    eos = tokenizer.eos_token or ""
    special = template.add_special_tokens
    for row in rendered.rows:
        prompt_ids = tokenizer(row.prompt, add_special_tokens=special)["input_ids"]
        for answer in _answers(row):
            # TRL appends the EOS where an answer lacks it.
            whole = row.prompt + answer + ("" if not eos or answer.endswith(eos) else eos)
            full_ids = tokenizer(whole, add_special_tokens=special)["input_ids"]
            result.sequences.append(answer_sequence(prompt_ids, full_ids, max_length=max_length))
    return result


def _answers(row: PreferenceRow) -> list[str]:
    return [row.completion] if row.label is not None else [row.chosen, row.rejected]


def rewards(objective: str, beta: float, policy: Sequence[LogProb], reference: Sequence[LogProb] | None) -> list[float]:
    """Each answer's implicit reward under the objective (`reference`: the base's, for dpo and kto)."""
    if objective in NEEDS_REFERENCE:
        if reference is None:
            raise ValueError(f"{objective}'s reward needs the reference's log-probabilities")
        return [beta * (p.total - r.total) for p, r in zip(policy, reference, strict=True)]
    return [beta * p.mean for p in policy]


def preference_scores(pairs: PairSet, answer_rewards: Sequence[float]) -> dict[str, float]:
    """`reward_accuracy` and `reward_margin` of the rows, from their answers' rewards in the
    order of `pairs.sequences`."""
    margins: list[float] = []
    agreed: list[bool] = []
    good: list[float] = []
    bad: list[float] = []
    position = 0
    for row in pairs.rows:
        if row.label is None:
            chosen, rejected = answer_rewards[position], answer_rewards[position + 1]
            position += 2
            margins.append(chosen - rejected)
            agreed.append(chosen > rejected)
        else:
            reward = answer_rewards[position]
            position += 1
            (good if row.label else bad).append(reward)
            agreed.append(reward > 0 if row.label else reward < 0)
    scores: dict[str, float] = {}
    if agreed:
        scores[ACCURACY] = sum(agreed) / len(agreed)
    if margins and not (good or bad):
        scores[MARGIN] = sum(margins) / len(margins)
    elif good and bad and not margins:
        scores[MARGIN] = sum(good) / len(good) - sum(bad) / len(bad)
    return scores
