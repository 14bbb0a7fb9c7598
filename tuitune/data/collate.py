"""Batches without padding waste.

- Padded batches (`packing=False`): each batch is padded only to its own longest sample (right
  side, labels with -100). With the Trainer's `train_sampling_strategy="group_by_length"`, which
  reads the datasets' `length` column, batches hold samples of similar length and little padding.
- Packed batches (`packing=True`): transformers' `DataCollatorWithFlattening` concatenates the
  batch into one row with no padding at all; `position_ids` restart at 0 for every sample and the
  first label of each sample is -100, so no sample learns to predict across a boundary. From the
  restarting position ids transformers builds a block-diagonal mask (sdpa, eager, flex) or
  varlen boundaries (flash attention), so no token attends to another sample: see docs/data.md.
"""

from __future__ import annotations

from typing import Any, Callable

from tuitune.data.tokenize import IGNORE_INDEX

Collator = Callable[[list[dict[str, Any]]], dict[str, Any]]


class PaddingCollator:
    """Pads `input_ids` (with the pad id), `attention_mask` (0) and `labels` (-100) to the batch's longest.

    It does not need the tokenizer to have a pad token (many causal LMs have none) and never changes
    the tokenizer; keys other than input_ids and labels (such as `length`) are ignored.
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        ids = [list(f["input_ids"]) for f in features]
        labels = [list(f["labels"]) if "labels" in f else list(f["input_ids"]) for f in features]
        width = max(len(x) for x in ids)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        batch_ids, batch_mask, batch_labels = [], [], []
        for row, row_labels in zip(ids, labels):
            pad = width - len(row)
            batch_ids.append(row + [self.pad_token_id] * pad)
            batch_mask.append([1] * len(row) + [0] * pad)
            batch_labels.append(row_labels + [IGNORE_INDEX] * pad)
        return {
            "input_ids": torch.tensor(batch_ids, dtype=torch.long),
            "attention_mask": torch.tensor(batch_mask, dtype=torch.long),
            "labels": torch.tensor(batch_labels, dtype=torch.long),
        }


class PackingCollator:
    """Padding-free batches: transformers' `DataCollatorWithFlattening`, plus `use_cache=False`.

    transformers (5.x) keeps packed samples apart only when the model builds no KV cache: with a
    cache it skips the packed-sequence detection and every token attends to the samples packed
    before it. The Trainer turns the cache off (`TrainingArguments.use_cache=False`), but a model
    called any other way would not, so each packed batch says so itself.
    """

    def __init__(self) -> None:
        from transformers import DataCollatorWithFlattening

        self._flatten = DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE_INDEX)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self._flatten([{k: f[k] for k in ("input_ids", "labels") if k in f} for f in features])
        batch["use_cache"] = False
        return batch


def pad_token_id(tokenizer: Any) -> int:
    """The id padding uses: the pad token, else EOS (padding is masked out either way), else 0."""
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    return 0


def make_collator(tokenizer: Any, packing: bool = False, *, pad_to_multiple_of: int | None = None) -> Collator:
    """The Trainer's data collator: padding-free packing, or dynamic padding to the batch's longest."""
    if packing:
        return PackingCollator()
    return PaddingCollator(pad_token_id(tokenizer), pad_to_multiple_of)
