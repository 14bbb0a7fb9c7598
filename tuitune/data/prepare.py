"""The one entry point the training engine calls: settings + tokenizer -> tokenized train/validation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tuitune.config import DataSettings
from tuitune.data.examples import Conversation, Example
from tuitune.data.preview import PreviewSample, preview_example
from tuitune.data.split import LoadedData, load_examples
from tuitune.data.stats import DatasetStats, TokenLengths, all_padding_fractions, data_warnings
from tuitune.data.templates import Template, get_template
from tuitune.data.tokenize import TokenizedData, tokenize_examples
from tuitune.errors import EmptyDatasetError


@dataclass
class PreparedDataset:
    """Tokenized data ready for `transformers.Trainer`.

    `train` and `validation` are `datasets.Dataset`s with columns `input_ids`, `labels` (-100 where
    no loss) and `length` (what `train_sampling_strategy="group_by_length"` reads); the collator
    from `make_collator` builds `attention_mask` or `position_ids`. `validation_examples` are the
    held-out examples in canonical form (every one, even those whose tokens were dropped), for
    evaluation to prompt with `template.prompt(example)` and compare against `example.reference`.
    """

    train: Any
    validation: Any
    format: str
    template: Template
    stats: DatasetStats
    validation_examples: list[Example]
    examples: list[Example] = field(repr=False)  # every usable example, in source order
    settings: DataSettings = field(repr=False)

    def preview(self, n: int = 3) -> list[PreviewSample]:
        """The first `n` examples of the source, formatted, with the trained part marked."""
        return [
            preview_example(
                example,
                self.template,
                self.template.tokenizer,
                max_length=self.settings.max_length,
                train_on_responses_only=self.settings.train_on_responses_only,
                window_conversations=windows_pairs(self.format),
                window_stride=self.settings.window_stride,
            )
            for example in self.examples[:n]
        ]


def windows_pairs(format: str) -> bool:
    """Whether a long example of this format trains as windows rather than being cut: texts always
    do; so do prompt/completion pairs (a long completion is a document with a prompt)."""
    return format in ("text", "completion")


def prepare_dataset(
    settings: DataSettings, tokenizer: Any, *, method: str = "lora", batch_size: int = 4
) -> PreparedDataset:
    """Read, format, tokenize and measure the dataset `settings` name.

    `method="instruction_tuning"` requires alpaca data and uses the alpaca template unless the
    settings name one. `batch_size` only sizes the padding simulation in the statistics.
    """
    return prepare_loaded(
        load_examples(settings, method=method), settings, tokenizer, method=method, batch_size=batch_size
    )


def prepare_loaded(
    loaded: LoadedData, settings: DataSettings, tokenizer: Any, *, method: str = "lora", batch_size: int = 4
) -> PreparedDataset:
    """`prepare_dataset` for examples already read (so a caller can report bad data before loading a tokenizer)."""
    template = get_template(settings.template, tokenizer, format=loaded.format, method=method)

    def tokenized(examples: Sequence[Example]) -> TokenizedData:
        return tokenize_examples(
            examples,
            template,
            tokenizer,
            max_length=settings.max_length,
            train_on_responses_only=settings.train_on_responses_only,
            window_conversations=windows_pairs(loaded.format),
            window_stride=settings.window_stride,
        )

    train, validation = tokenized(loaded.train), tokenized(loaded.validation)
    if not train.examples:
        reasons = ", ".join(f"{n} {why}" for why, n in train.dropped.most_common())
        raise EmptyDatasetError(
            f"No training sample is left after tokenization ({reasons}): raise data.max_length "
            f"(now {settings.max_length}) or shorten the prompts."
        )
    stats = _stats(loaded, template, train, validation, settings, batch_size)
    return PreparedDataset(
        train=_to_dataset(train),
        validation=_to_dataset(validation),
        format=loaded.format,
        template=template,
        stats=stats,
        validation_examples=loaded.validation,
        examples=loaded.examples,
        settings=settings,
    )


def _to_dataset(data: TokenizedData) -> Any:
    # Imported here: datasets takes about a second to import, and importing tuitune.data stays light.
    from datasets import Dataset, Features, Sequence, Value

    features = Features(
        {
            "input_ids": Sequence(Value("int32")),
            "labels": Sequence(Value("int32")),
            "length": Value("int32"),
        }
    )
    return Dataset.from_dict(
        {
            "input_ids": [e.input_ids for e in data.examples],
            "labels": [e.labels for e in data.examples],
            "length": [len(e.input_ids) for e in data.examples],
        },
        features=features,
    )


def _stats(
    loaded: LoadedData,
    template: Template,
    train: TokenizedData,
    validation: TokenizedData,
    settings: DataSettings,
    batch_size: int,
) -> DatasetStats:
    dropped = loaded.parsed.skipped + train.dropped + validation.dropped
    full_lengths = train.full_lengths + validation.full_lengths
    kept = train.examples + validation.examples
    kept_tokens = sum(len(e.input_ids) for e in kept)
    trained_tokens = sum(e.trained_tokens for e in kept)
    lengths = [len(e.input_ids) for e in train.examples]
    padding = all_padding_fractions(lengths, batch_size, seed=settings.seed)
    batching = "packing" if settings.packing is True else "grouped_by_length"
    total_tokens = train.total_tokens + validation.total_tokens
    cut_tokens = train.cut_tokens + validation.cut_tokens
    stats = DatasetStats(
        source=loaded.table.origin,
        format=loaded.format,
        template=template.name,
        columns=list(loaded.table.columns),
        rows=len(loaded.table),
        used_rows=len(loaded.train) + len(loaded.validation),
        train_rows=len(train.examples),
        validation_rows=len(validation.examples),
        dropped=dict(dropped.most_common()),
        tokens=TokenLengths.of(full_lengths),
        max_length=settings.max_length,
        truncated_fraction=round((train.truncated + validation.truncated) / len(full_lengths), 4)
        if full_lengths
        else 0.0,
        trained_token_fraction=round(trained_tokens / kept_tokens, 4) if kept_tokens else 0.0,
        batch_size=batch_size,
        batching=batching,
        padding_fraction=padding[batching],
        padding=padding,
        text_columns=loaded.parsed.text_columns,
        kind=loaded.table.kind,
        documents=len(full_lengths),
        windowed_documents=train.windowed + validation.windowed,
        total_tokens=total_tokens,
        trained_tokens=trained_tokens,
        cut_token_fraction=round(cut_tokens / total_tokens, 4) if total_tokens else 0.0,
        notes=list(loaded.table.notes),
        tools=_tools_summary(loaded.examples, template),
    )
    stats.warnings = data_warnings(stats)
    return stats


def _tools_summary(examples: Sequence[Example], template: Template) -> str:
    """Where the tool definitions of the data go, said once: "" when no example has any."""
    with_tools = sum(1 for example in examples if isinstance(example, Conversation) and example.tools)
    if not with_tools:
        return ""
    where = (
        "given to the chat template's own tools section"
        if template.tools_in_template
        else "written into the system message (the template has no place for tools)"
    )
    return f"{with_tools:,} conversations define tools: {where}"
