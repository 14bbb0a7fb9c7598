"""The examples an evaluation scores: the run's held-out validation split, or a dataset given.

A preference or GRPO run's held-out rows are its records (pairs, labelled answers, prompts), read
as the run read them (`load_examples(..., objective=)`, the same split as
`validation_records(settings, objective=)`); their generation metrics compare the model's answer
with the chosen answer (a desirable one for kto, the answer column for grpo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tuitune.config import RunConfig
from tuitune.data import (
    Conversation,
    LabelledAnswer,
    Message,
    PreferencePair,
    PreferenceRecord,
    PromptExample,
    get_template,
    load_examples,
    tokenize_examples,
)
from tuitune.errors import EvaluationError


@dataclass
class HeldOut:
    """Examples to score, with the prompts and references for generation and the template used."""

    examples: list[Any]  # canonical Conversation / Document examples
    prompts: list[str]  # as the model reads them: templated, ending with the assistant's cue
    references: list[str]  # "" where a grpo prompt has no answer: scored by its rewards only
    template: Any
    source: str  # "validation split of <dataset>" or the dataset path
    format: str
    # Each prompt as the user wrote it: its messages (role, content) before the reference, which
    # is what a person reads, where `prompts` holds the template's markup around them.
    messages: list[list[dict[str, str]]] = field(default_factory=list)
    # A preference or grpo run's held-out records; for grpo one per prompt, in the same order.
    records: list[PreferenceRecord] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many held-out rows are scored."""
        return len(self.records) if self.records else len(self.examples)


def held_out(config: RunConfig, tokenizer: Any, *, samples: int, dataset: str | None = None) -> HeldOut:
    """The first `samples` held-out examples of the run, recovered from its data settings.

    The split is deterministic (seeded shuffle), so these are exactly the examples the run never
    trained on. With `dataset`, its rows (shuffled with the run's seed) are used instead, read with
    the run's other data settings (template, max_length) and the format detected afresh.
    """
    if dataset is None:
        settings = config.data
        loaded = load_examples(settings, method=config.method, objective=_objective(config))
        examples = loaded.validation
        source = f"validation split of {settings.source}"
        if not examples:
            raise EvaluationError(
                f"The run held out no validation examples (data.validation_split is {settings.validation_split}): "
                "evaluate on another dataset with --dataset PATH."
            )
    else:
        settings = config.data.model_copy(
            update=dict(
                source=dataset,
                hub_config=None,
                split="train",
                data_files=None,
                format="auto",
                text_columns=None,
                max_samples=samples,
                validation_split=0.0,
            )
        )
        loaded = load_examples(settings, method=None, objective=_objective(config))
        examples = loaded.train
        source = dataset
    template = get_template(settings.template, tokenizer, format=loaded.format, method=config.method)
    records = loaded.validation_records if dataset is None else loaded.train_records
    if config.objective != "sft" and records:
        return _from_records(config, list(records[:samples]), template, source, loaded.format)
    examples = list(examples[:samples])
    conversations = [e for e in examples if isinstance(e, Conversation) and e.reference]
    return HeldOut(
        examples=examples,
        prompts=[template.prompt(c) for c in conversations],
        references=[c.reference for c in conversations],
        template=template,
        source=source,
        format=loaded.format,
        messages=[[m.as_dict() for m in c.prompt_messages] for c in conversations],
    )


def _objective(config: RunConfig) -> str | None:
    # An sft run's data is read as any format (a preference set's chosen answers, say); another
    # objective's as it trained on it (a prompt with an answer column is a grpo prompt).
    return None if config.objective == "sft" else config.objective


def _from_records(
    config: RunConfig, records: list[PreferenceRecord], template: Any, source: str, format: str
) -> HeldOut:
    """A preference or grpo run's held-out records, with the prompts to generate for: every
    prompt of a grpo run (its rewards score them all), else those with a good answer to compare."""
    answered = [(record, reference) for record in records if (reference := _reference(config, record)) is not None]
    generated = [(r, _reference(config, r) or "") for r in records] if config.objective == "grpo" else answered
    return HeldOut(
        examples=[_answered(record.prompt, reference) for record, reference in answered],
        prompts=[template.prompt(record.prompt) for record, _ in generated],
        references=[reference for _, reference in generated],
        template=template,
        source=source,
        format=format,
        messages=[[m.as_dict() for m in record.prompt.prompt_messages] for record, _ in generated],
        records=records,
    )


def _reference(config: RunConfig, record: PreferenceRecord) -> str | None:
    """The answer a generation is compared with: the chosen one, a desirable one, grpo's answer column."""
    if isinstance(record, PreferencePair):
        return record.chosen
    if isinstance(record, LabelledAnswer):
        return record.completion if record.label else None
    if isinstance(record, PromptExample):
        answer = record.extra.get(config.grpo.answer_column)
        return None if answer is None or str(answer) == "" else str(answer)
    return None


def _answered(prompt: Conversation, answer: str) -> Conversation:
    return Conversation((*prompt.messages, Message("assistant", answer)), prompt.instruction_input, prompt.tools)


def tokenized(heldout: HeldOut, tokenizer: Any, *, max_length: int) -> list[Any]:
    """Ids and labels of the held-out examples for perplexity: loss on the responses only (on
    everything for raw text), whatever the run trained on, so runs compare on the same tokens."""
    data = tokenize_examples(
        heldout.examples, heldout.template, tokenizer, max_length=max_length, train_on_responses_only=True
    )
    return data.examples
