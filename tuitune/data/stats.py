"""What a dataset looks like once tokenized: rows, drops and why, lengths, truncation, padding.

The padding fraction is measured by simulating the batches the Trainer will build: in random order,
grouped by length (transformers' own `get_length_grouped_indices`, as its `LengthGroupedSampler`
does), or packed (padding-free, so none).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

# numpy (~140 ms), torch and transformers are imported by the functions that compute with them:
# importing tuitune.data stays light.
BATCHINGS: tuple[str, ...] = ("random", "grouped_by_length", "packing")


@dataclass
class TokenLengths:
    """Distribution of sequence lengths in tokens."""

    count: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    max: int = 0
    min: int = 0
    total: int = 0

    @classmethod
    def of(cls, lengths: Sequence[int]) -> TokenLengths:
        if not lengths:
            return cls()
        import numpy as np

        values = np.asarray(lengths)
        return cls(
            count=len(values),
            mean=round(float(values.mean()), 1),
            p50=round(float(np.percentile(values, 50)), 1),
            p95=round(float(np.percentile(values, 95)), 1),
            max=int(values.max()),
            min=int(values.min()),
            total=int(values.sum()),
        )


@dataclass
class DatasetStats:
    """Statistics of a prepared dataset (`PreparedDataset.stats`, `tuitune data`)."""

    source: str
    format: str
    template: str
    columns: list[str]
    rows: int  # rows in the source
    used_rows: int  # rows taken (after skipping unusable rows and max_samples)
    train_rows: int  # training sequences kept
    validation_rows: int  # validation sequences kept
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows
    tokens: TokenLengths = field(default_factory=TokenLengths)  # formatted length, before truncation
    max_length: int = 0
    truncated_fraction: float = 0.0  # of the formatted samples, how many exceed max_length
    trained_token_fraction: float = 0.0  # of the kept tokens, how many carry a loss
    batch_size: int = 4
    batching: str = "grouped_by_length"
    padding_fraction: float = 0.0  # padding / all tokens in the batches, for `batching`
    padding: dict[str, float] = field(default_factory=dict)  # the same for every batching
    text_columns: list[str] | None = None  # the columns joined, for the text format
    kind: str = ""  # where the rows came from: json, jsonl, csv, tsv, parquet, txt, disk, hub, sample
    documents: int = 0  # examples tokenized (train and validation), dropped ones included
    windowed_documents: int = 0  # long texts trained as several windows instead of being cut
    total_tokens: int = 0  # tokens of every example, whole
    trained_tokens: int = 0  # tokens that carry a loss, over all kept sequences
    cut_token_fraction: float = 0.0  # of all tokens, those cut off at max_length and never trained
    notes: list[str] = field(default_factory=list)  # how the source was read ("documents: 30 lines")
    tools: str = ""  # where the conversations' tool definitions go, when some have them
    warnings: list[str] = field(default_factory=list)  # what the user should know before training
    # The preference formats (preference, labelled, prompts), for the objective that reads them:
    objective: str = "sft"
    records: int = 0  # pairs, labelled answers or prompts used (train and validation)
    prompt_tokens: TokenLengths = field(default_factory=TokenLengths)
    answer_tokens: TokenLengths = field(default_factory=TokenLengths)  # chosen and rejected, or completions
    long_rows: int = 0  # rows whose prompt and answer exceed max_length (TRL cuts the answer's end)
    labels: dict[str, int] = field(default_factory=dict)  # kto: desirable / undesirable rows

    @property
    def dropped_rows(self) -> int:
        return sum(self.dropped.values())

    @property
    def corpus(self) -> str:
        """The dataset's size as training sees it: `30 documents → 1,204 sequences (29 long texts
        in windows) · 441,890 tokens, 0.0% cut` (samples, for data other than text)."""
        sequences = self.train_rows + self.validation_rows
        if self.format in RECORD_NOUNS and self.objective != "sft":  # sft on a set's chosen answers: samples
            return self._records_corpus(sequences)
        noun = "document" if self.format == "text" else "sample"
        text = f"{_plural(self.documents, noun)} → {_plural(sequences, 'sequence')}"
        if self.windowed_documents:
            text += f" ({_plural(self.windowed_documents, 'long text')} in windows)"
        return text + f" · {self.total_tokens:,} tokens, {self.cut_token_fraction:.1%} cut"

    def _records_corpus(self, rows: int) -> str:
        """`300 pairs → 300 rows · prompts 21 tokens, answers 9 (mean) · 2 longer than max_length 512`."""
        text = f"{_plural(self.records, RECORD_NOUNS[self.format])} → {_plural(rows, 'row')}"
        text += f" · prompts {self.prompt_tokens.mean:g} tokens"
        if self.answer_tokens.count:
            text += f", answers {self.answer_tokens.mean:g} (mean)"
        return text + f" · {self.long_rows:,} longer than max_length {self.max_length}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dropped_rows"] = self.dropped_rows
        data["corpus"] = self.corpus
        return data


# What one record of each preference format is called.
RECORD_NOUNS = {"preference": "pair", "labelled": "labelled answer", "prompts": "prompt"}


def _plural(amount: int, noun: str) -> str:
    return f"{amount:,} {noun}" + ("" if amount == 1 else "s")


# Cutting more than this share of the tokens is said as a warning: the run trains on less than the data.
CUT_WARNING_FRACTION = 0.02


def data_warnings(stats: DatasetStats) -> list[str]:
    """What is wrong with a dataset that training would not say: tokens cut, samples dropped,
    too few samples to mean anything, nothing held out."""
    warnings = []
    if stats.long_rows:
        warnings.append(
            f"{stats.long_rows:,} of {stats.train_rows + stats.validation_rows:,} rows are longer than max_length "
            f"{stats.max_length} (prompt and answer): TRL cuts their answers' ends, so those parts are never "
            "learned; raise data.max_length"
        )
    if stats.cut_token_fraction > CUT_WARNING_FRACTION and stats.format not in RECORD_NOUNS:
        warnings.append(
            f"{stats.cut_token_fraction:.0%} of the tokens are cut off at max_length {stats.max_length} "
            f"({stats.truncated_fraction:.0%} of the samples) and never trained: raise data.max_length"
        )
    if stats.dropped_rows:
        reasons = ", ".join(f"{count:,} {why}" for why, count in stats.dropped.items())
        warnings.append(f"{stats.dropped_rows:,} of {stats.rows:,} rows are dropped ({reasons})")
    if stats.train_rows < stats.batch_size:
        warnings.append(
            f"only {stats.train_rows:,} training sequences, fewer than one batch of {stats.batch_size}: an epoch "
            "is a single step and the run learns little; add data or lower training.batch_size"
        )
    if stats.validation_rows == 0:
        warnings.append(
            "no validation samples: the eval loss cannot be measured and overfitting goes unseen; "
            "set data.validation_split (e.g. 0.1) or add rows"
        )
    return warnings


def padding_fraction(lengths: Sequence[int], batch_size: int, batching: str, *, seed: int = 42) -> float:
    """Share of the tokens in the batches that are padding, for one way of batching."""
    if batching == "packing" or not lengths:
        return 0.0
    order = list(range(len(lengths)))
    if batching == "grouped_by_length":
        import torch
        from transformers.trainer_pt_utils import get_length_grouped_indices

        generator = torch.Generator().manual_seed(seed)
        order = list(get_length_grouped_indices(list(lengths), batch_size, generator=generator))
    elif batching == "random":
        random.Random(seed).shuffle(order)
    else:
        raise ValueError(f"unknown batching {batching!r}")
    real = padded = 0
    for start in range(0, len(order), batch_size):
        batch = [lengths[i] for i in order[start : start + batch_size]]
        real += sum(batch)
        padded += max(batch) * len(batch)
    return round(1 - real / padded, 4) if padded else 0.0


def all_padding_fractions(lengths: Sequence[int], batch_size: int, *, seed: int = 42) -> dict[str, float]:
    return {name: padding_fraction(lengths, batch_size, name, seed=seed) for name in BATCHINGS}
