"""From settings to canonical train and validation examples: read, parse, shuffle, cap, split.

Deterministic from the settings alone, so evaluation can call `validation_examples(settings)`
after training and get exactly the prompts and references that were held out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TypeVar

from tuitune.config import DataSettings
from tuitune.data.examples import Example, PreferenceRecord
from tuitune.data.formats import ParsedData, parse_records
from tuitune.data.objective_fit import check_objective_data
from tuitune.data.sources import RecordTable, read_source
from tuitune.errors import EmptyDatasetError, IncompatibleConfigError

T = TypeVar("T")


@dataclass
class LoadedData:
    """A dataset read and split: the table it came from, every example in source order, and the split."""

    table: RecordTable
    parsed: ParsedData
    train: list[Example]
    validation: list[Example]
    # The preference formats' records of the same split, one per example of `train`/`validation`.
    train_records: list[PreferenceRecord] = field(default_factory=list)
    validation_records: list[PreferenceRecord] = field(default_factory=list)

    @property
    def format(self) -> str:
        return self.parsed.format

    @property
    def examples(self) -> list[Example]:
        return self.parsed.examples


def load_examples(
    settings: DataSettings, *, method: str | None = None, objective: str | None = None, chosen_only: bool = False
) -> LoadedData:
    """Read and parse the dataset the settings name, and split it into train and validation.

    Given the run's `objective`, data it does not learn from is refused here, in one line: a
    preference set for sft unless `chosen_only` (preference.chosen_only: sft on the chosen
    answers), an SFT set for dpo, kto, orpo, simpo or grpo. Without one (recovering a finished
    run's held-out rows) any format is read."""
    table = read_source(
        settings.source,
        hub_config=settings.hub_config,
        split=settings.split,
        data_files=settings.data_files,
        text_documents=settings.text_documents,
    )
    parsed = parse_records(table, settings.format, settings.text_columns, objective=objective)
    if objective is not None:
        check_objective_data(
            parsed.format, objective, origin=table.origin, columns=list(table.columns), chosen_only=chosen_only
        )
    if method == "instruction_tuning" and parsed.format != "alpaca":
        raise IncompatibleConfigError(
            f"instruction_tuning trains on alpaca data (instruction/input/output), but {table.origin} is "
            f"{parsed.format}: convert it with `tuitune data {table.origin} --to alpaca -o out.jsonl`, or use method lora."
        )
    # Indices are split, so the preference records split exactly as their conversations do.
    train, validation = split_examples(
        list(range(len(parsed.examples))),
        shuffle=settings.shuffle,
        seed=settings.seed,
        max_samples=settings.max_samples,
        validation_split=settings.validation_split,
    )
    records = parsed.records
    return LoadedData(
        table,
        parsed,
        [parsed.examples[i] for i in train],
        [parsed.examples[i] for i in validation],
        [records[i] for i in train] if records else [],
        [records[i] for i in validation] if records else [],
    )


def validation_examples(settings: DataSettings, *, method: str | None = None) -> list[Example]:
    """The held-out examples of a run, recovered from its data settings alone (for a preference
    format, their conversations: the prompt with the chosen answer; see `validation_records`)."""
    return load_examples(settings, method=method).validation


def validation_records(settings: DataSettings, *, objective: str) -> list[PreferenceRecord]:
    """The held-out preference records (pairs, labelled answers, prompts) of a run of `objective`."""
    return load_examples(settings, objective=objective).validation_records


def split_examples(
    items: list[T],
    *,
    shuffle: bool = True,
    seed: int = 42,
    max_samples: int | None = None,
    validation_split: float = 0.0,
) -> tuple[list[T], list[T]]:
    """(train, validation): shuffled with `seed`, capped at `max_samples`, the validation taken off the end.

    `validation_split` below 1 is a fraction (at least one row when it is above 0 and there are
    two rows or more); 1 or more is a row count.
    """
    order = list(range(len(items)))
    if shuffle:
        random.Random(seed).shuffle(order)
    if max_samples is not None:
        order = order[:max_samples]
    total = len(order)
    held_out = validation_size(total, validation_split)
    if held_out >= total:
        raise EmptyDatasetError(
            f"data.validation_split {validation_split:g} holds out all {total} rows, leaving none to train on: lower it."
        )
    cut = total - held_out
    return [items[i] for i in order[:cut]], [items[i] for i in order[cut:]]


def validation_size(total: int, validation_split: float) -> int:
    if validation_split <= 0 or total < 2:
        return 0
    if validation_split < 1:
        return max(1, round(total * validation_split))
    return int(validation_split)
