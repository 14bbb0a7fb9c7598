"""The one entry point the training engine calls: settings + tokenizer -> tokenized train/validation.

For sft the rows become token ids and labels; for the preference objectives (dpo, kto, orpo,
simpo, grpo) they become the rendered string columns TRL's trainers read (see preference.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tuitune.config import DataSettings
from tuitune.data.examples import Conversation, Example, PreferenceRecord
from tuitune.data.preference import RenderedRows, preview_rows, render_records, to_dataset
from tuitune.data.preview import PreviewSample, preference_sample, preview_example
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

    For a preference objective `train` and `validation` hold TRL's string columns (`prompt` with
    `chosen`/`rejected`, or `completion`/`label` for kto, or the row's other columns for grpo),
    and `validation_examples` are the held-out records (`PreferencePair`, `LabelledAnswer`,
    `PromptExample`): prompt with `template.prompt(record.prompt)`.
    """

    train: Any
    validation: Any
    format: str
    template: Template
    stats: DatasetStats
    validation_examples: list[Example] | list[PreferenceRecord]
    examples: list[Example] = field(repr=False)  # every usable example, in source order
    settings: DataSettings = field(repr=False)
    objective: str = "sft"
    records: list[PreferenceRecord] = field(default_factory=list, repr=False)  # the preference formats'

    def preview(self, n: int = 3) -> list[PreviewSample]:
        """The first `n` examples of the source, formatted, with the trained part marked (for a
        preference objective: the prompt with its chosen and rejected answers, side by side)."""
        if self.objective != "sft":
            rendered = render_records(
                self.records[:n],
                self.template,
                self.template.tokenizer,
                objective=self.objective,
                max_length=self.settings.max_length,
            )
            return [preference_sample(pair) for pair in preview_rows(rendered.rows[:n], self.format)]
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
    settings: DataSettings,
    tokenizer: Any,
    *,
    method: str = "lora",
    objective: str = "sft",
    chosen_only: bool = False,
    batch_size: int = 4,
) -> PreparedDataset:
    """Read, format, tokenize and measure the dataset `settings` name, for `objective`.

    `method="instruction_tuning"` requires alpaca data and uses the alpaca template unless the
    settings name one. Data the objective does not learn from is refused (`chosen_only`, the
    run's preference.chosen_only, lets sft train on a preference set's chosen answers).
    `batch_size` only sizes the padding simulation in the statistics.
    """
    loaded = load_examples(settings, method=method, objective=objective, chosen_only=chosen_only)
    return prepare_loaded(loaded, settings, tokenizer, method=method, objective=objective, batch_size=batch_size)


def prepare_loaded(
    loaded: LoadedData,
    settings: DataSettings,
    tokenizer: Any,
    *,
    method: str = "lora",
    objective: str = "sft",
    batch_size: int = 4,
) -> PreparedDataset:
    """`prepare_dataset` for examples already read (so a caller can report bad data before loading a tokenizer)."""
    template = get_template(settings.template, tokenizer, format=loaded.format, method=method)
    if objective != "sft":
        return _prepare_records(loaded, settings, template, objective=objective, batch_size=batch_size)

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


def _prepare_records(
    loaded: LoadedData, settings: DataSettings, template: Template, *, objective: str, batch_size: int
) -> PreparedDataset:
    """A preference objective's data: the records rendered into TRL's string columns, measured."""

    def rendered(records: list[PreferenceRecord]) -> RenderedRows:
        return render_records(
            records, template, template.tokenizer, objective=objective, max_length=settings.max_length
        )

    train, validation = rendered(loaded.train_records), rendered(loaded.validation_records)
    if not train.rows:
        reasons = ", ".join(f"{n} {why}" for why, n in train.dropped.most_common())
        raise EmptyDatasetError(
            f"No training row is left ({reasons}): raise data.max_length (now {settings.max_length}) or shorten "
            "the prompts."
        )
    return PreparedDataset(
        train=to_dataset(train.rows, objective),
        validation=to_dataset(validation.rows, objective),
        format=loaded.format,
        template=template,
        stats=_record_stats(loaded, template, train, validation, settings, objective, batch_size),
        validation_examples=loaded.validation_records,
        examples=loaded.examples,
        settings=settings,
        objective=objective,
        records=loaded.parsed.records,
    )


def _record_stats(
    loaded: LoadedData,
    template: Template,
    train: RenderedRows,
    validation: RenderedRows,
    settings: DataSettings,
    objective: str,
    batch_size: int,
) -> DatasetStats:
    rows = train.rows + validation.rows
    prompts = [row.prompt_tokens for row in rows]
    answers = [length for row in rows for length in row.answer_tokens]
    # What the trainer's batches hold: a pair trains as two sequences (prompt with each answer).
    sequences = [row.prompt_tokens + length for row in rows for length in row.answer_tokens] or prompts
    trained = sum(
        min(length, max(settings.max_length - row.prompt_tokens, 0)) for row in rows for length in row.answer_tokens
    )
    total = sum(sequences)
    cut = sum(max(length - settings.max_length, 0) for length in sequences)
    labels = Counter("desirable" if row.label else "undesirable" for row in rows if row.label is not None)
    padding = all_padding_fractions([row.longest for row in train.rows], batch_size, seed=settings.seed)
    stats = DatasetStats(
        **_source_facts(loaded, template),
        used_rows=len(loaded.train_records) + len(loaded.validation_records),
        train_rows=len(train.rows),
        validation_rows=len(validation.rows),
        dropped=dict((loaded.parsed.skipped + train.dropped + validation.dropped).most_common()),
        tokens=TokenLengths.of(sequences),
        max_length=settings.max_length,
        truncated_fraction=round(sum(1 for n in sequences if n > settings.max_length) / len(sequences), 4)
        if sequences
        else 0.0,
        trained_token_fraction=round(trained / total, 4) if total and answers else 0.0,
        batch_size=batch_size,
        batching="random",  # TRL's trainers batch the rows in random order
        padding_fraction=padding["random"],
        padding=padding,
        kind=loaded.table.kind,
        documents=len(rows),
        total_tokens=total,
        trained_tokens=trained,
        cut_token_fraction=round(cut / total, 4) if total else 0.0,
        notes=list(loaded.table.notes),
        tools=_tools_summary(loaded.examples, template),
        objective=objective,
        records=len(loaded.train_records) + len(loaded.validation_records),
        prompt_tokens=TokenLengths.of(prompts),
        answer_tokens=TokenLengths.of(answers),
        long_rows=train.long + validation.long,
        labels=dict(labels),
    )
    stats.warnings = data_warnings(stats)
    return stats


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
        **_source_facts(loaded, template),
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


def _source_facts(loaded: Any, template: Template) -> dict[str, Any]:
    """What every data summary says of its source, whatever the objective."""
    return dict(
        source=loaded.table.origin,
        format=loaded.format,
        template=template.name,
        columns=list(loaded.table.columns),
        rows=len(loaded.table),
    )
