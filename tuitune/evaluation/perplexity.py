"""Perplexity: exp of the mean loss over the tokens a run trains on (the responses), batched."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tuitune.data.collate import PaddingCollator
from tuitune.data.tokenize import IGNORE_INDEX
from tuitune.evaluation.report import ProgressCallback, report_progress

# torch and transformers are imported when a model is scored: importing tuitune.evaluation stays light.


def perplexity(
    model: Any,
    sequences: Sequence[Any],
    *,
    pad_token_id: int,
    batch_size: int = 8,
    stage: str = "perplexity",
    progress: ProgressCallback | None = None,
) -> float | None:
    """exp(total negative log-likelihood / number of labelled tokens) over `sequences`.

    Each sequence has `input_ids` and `labels` (-100 where no loss is taken), as the data layer's
    tokenization makes them. Summing over tokens (not averaging per batch) weighs every response
    token the same. None when there is no labelled token at all.
    """
    import torch
    import torch.nn.functional as F

    collate = PaddingCollator(pad_token_id)
    device = next(model.parameters()).device
    total_loss, total_tokens = 0.0, 0
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i].input_ids))
    report_progress(progress, stage, 0, len(order))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = [sequences[i] for i in order[start : start + batch_size]]
            batch = collate([{"input_ids": s.input_ids, "labels": s.labels} for s in chunk])
            batch = {key: value.to(device) for key, value in batch.items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            # Position t predicts token t+1.
            shifted_logits = logits[:, :-1, :].float()
            shifted_labels = batch["labels"][:, 1:]
            loss = F.cross_entropy(
                shifted_logits.reshape(-1, shifted_logits.size(-1)),
                shifted_labels.reshape(-1),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            )
            total_loss += float(loss)
            total_tokens += int((shifted_labels != IGNORE_INDEX).sum())
            report_progress(progress, stage, min(start + batch_size, len(order)), len(order))
    if total_tokens == 0:
        return None
    return math.exp(total_loss / total_tokens)
