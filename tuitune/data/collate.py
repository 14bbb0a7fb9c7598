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

from collections.abc import Callable
from typing import Any

from tuitune.data.tokenize import IGNORE_INDEX

# torch and transformers are imported where a batch is built: importing tuitune.data stays light.
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
        for row, row_labels in zip(ids, labels, strict=True):
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


def make_collator(tokenizer: Any, packing: bool | str = False, *, pad_to_multiple_of: int | None = None) -> Collator:
    """The Trainer's data collator: padding-free packing, or dynamic padding to the batch's longest.

    Only `packing=True` packs: an `auto` not yet decided for a loaded model (`choose_packing`) pads.
    """
    if packing is True:
        return PackingCollator()
    return PaddingCollator(pad_token_id(tokenizer), pad_to_multiple_of)


# Attention kernels that keep packed samples apart without scoring across them, on a CUDA GPU:
# flash attention's varlen kernels take the boundaries from the restarting position ids, and flex
# attention's block mask skips the blocks between samples. Packing then removes the padding's
# work and adds none.
SPARSE_PACKED_ATTENTION = ("flash_attention_2", "flash_attention_3", "flex_attention")


def choose_packing(*, device: str, attention: str | None, parameters: int) -> tuple[bool, str]:
    """Whether `packing: auto` packs, and why, for a model of `parameters` on `device` ("cpu",
    "cuda") whose attention implementation is `attention`. The figures behind it are in
    docs/benchmarks.md, "Packing or padding".

    Every other attention (sdpa, eager, and anything on a CPU) sees a packed batch as one row of
    all its samples under a dense block-diagonal mask: it scores every token against every other
    token of the batch, about batch-size times the work of scoring within samples, while packing
    saves only the little padding that length-grouped batches leave. Measured on a CPU, padding
    trained 1.6-1.8x more tokens/s than packing on a real-world length mix (4M to 19M
    parameters) and 1.05-1.1x on short samples; the gap narrows as models grow (the attention's
    share of the work shrinks) but by the FLOP count packing only breaks even around 70B.
    """
    attention = attention or "sdpa"
    sparse = any(attention.startswith(kernel) for kernel in SPARSE_PACKED_ATTENTION)
    if device == "cuda" and sparse:
        return True, f"{attention} keeps packed samples apart without scoring across them"
    return False, (
        f"{attention} on {device} scores a packed batch as one long row, so length-grouped padding is faster "
        f"at {_size(parameters)} parameters"
    )


def _size(parameters: int) -> str:
    return f"{parameters / 1e9:.1f}B" if parameters >= 1e9 else f"{max(parameters / 1e6, 1):,.0f}M"
