"""The log-probability a model gives each answer after its prompt: summed over the answer's tokens,
with their count (a preference evaluation's implicit rewards are made of these), batched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tuitune.data.collate import PaddingCollator
from tuitune.data.tokenize import IGNORE_INDEX
from tuitune.evaluation.report import ProgressCallback, report_progress

# torch is imported when a model is scored: importing tuitune.evaluation stays light.


@dataclass(frozen=True)
class AnswerSequence:
    """A prompt and its answer as one row of ids; `labels` is -100 over the prompt."""

    input_ids: list[int]
    labels: list[int]


@dataclass(frozen=True)
class LogProb:
    """log p(answer | prompt): the sum over the answer's tokens, and how many there are."""

    total: float
    tokens: int

    @property
    def mean(self) -> float:
        """Per token: the length-normalised log-probability (orpo's and simpo's)."""
        return self.total / self.tokens if self.tokens else 0.0


def answer_sequence(prompt_ids: Sequence[int], full_ids: Sequence[int], *, max_length: int) -> AnswerSequence:
    """The answer starts where the tokenized prompt and prompt+answer part (as TRL's DPO trainer
    splits them: tokens may merge across the boundary), and the row keeps its first `max_length`."""
    start = 0
    for a, b in zip(prompt_ids, full_ids):
        if a != b:
            break
        start += 1
    ids = list(full_ids[:max_length])
    labels = [IGNORE_INDEX] * min(start, len(ids)) + ids[start:]
    return AnswerSequence(ids, labels)


def answer_logprobs(
    model: object,
    sequences: Sequence[AnswerSequence],
    *,
    pad_token_id: int,
    batch_size: int = 8,
    stage: str = "log-probabilities",
    progress: ProgressCallback | None = None,
) -> list[LogProb]:
    """log p(answer | prompt) of each sequence under `model`, in the order given."""
    import torch

    collate = PaddingCollator(pad_token_id)
    device = next(model.parameters()).device  # type: ignore[attr-defined]
    results: list[LogProb | None] = [None] * len(sequences)
    # Similar lengths together: less padding.
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i].input_ids))
    report_progress(progress, stage, 0, len(order))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            batch = collate([{"input_ids": sequences[i].input_ids, "labels": sequences[i].labels} for i in indices])
            batch = {key: value.to(device) for key, value in batch.items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # type: ignore[operator]
            # Position t predicts token t+1.
            labels = batch["labels"][:, 1:]
            mask = labels != IGNORE_INDEX
            logps = torch.log_softmax(logits[:, :-1, :].float(), dim=-1)
            picked = torch.gather(logps, 2, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            totals = (picked * mask).sum(dim=1)
            counts = mask.sum(dim=1)
            for row, index in enumerate(indices):
                results[index] = LogProb(float(totals[row]), int(counts[row]))
            report_progress(progress, stage, min(start + batch_size, len(order)), len(order))
    return [result if result is not None else LogProb(0.0, 0) for result in results]
