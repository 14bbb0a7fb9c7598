"""Preference, labelled and prompt records rendered into the string columns TRL's trainers read.

The prompt is the run's template rendering of everything before the answer, the assistant's cue
included, exactly as the SFT path renders a prompt (tools too); an answer is its text followed by
what the template writes after an assistant answer (`<|im_end|>` for chatml), so the model learns
to stop. TRL tokenizes these strings itself and appends the EOS where an answer lacks it, as the
SFT path does.

- dpo, orpo, simpo: `prompt`, `chosen`, `rejected`.
- kto: `prompt`, `completion`, `label` (bool); a pair becomes two labelled rows.
- grpo: `prompt` and every other column of the row (an `answer`…), for the reward functions.

Lengths are measured with the run's tokenizer: a row longer than `data.max_length` is counted and
warned about (TRL cuts the answers' ends), and a prompt that leaves no room for an answer token is
dropped (TRL would train on nothing there).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tuitune.data.examples import Conversation, LabelledAnswer, Message, PreferenceRecord, PromptExample
from tuitune.data.templates import Template
from tuitune.errors import DataError


@dataclass
class PreferenceRow:
    """One row of a preference objective's dataset, rendered, with its token lengths."""

    prompt: str
    chosen: str = ""
    rejected: str = ""
    completion: str = ""
    label: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    answer_tokens: tuple[int, ...] = ()  # chosen and rejected, or the completion

    @property
    def longest(self) -> int:
        return self.prompt_tokens + max(self.answer_tokens, default=0)


@dataclass
class RenderedRows:
    """The rows kept, with what was dropped and why, and how many are longer than max_length."""

    rows: list[PreferenceRow] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    long: int = 0


def answer_text(template: Template, prompt: Conversation, answer: str, rendered_prompt: str) -> str:
    """The answer as the template writes it after `rendered_prompt`: its text, then the end of
    the assistant turn."""
    answered = Conversation((*prompt.messages, Message("assistant", answer)), prompt.instruction_input, prompt.tools)
    full = "".join(segment.text for segment in template.render(answered))
    if not full.startswith(rendered_prompt):
        raise DataError(
            f"The template {template.describe()} renders a prompt differently once it is answered, so the answer "
            "cannot be told apart: choose another template, e.g. --template chatml."
        )
    return full[len(rendered_prompt) :]


def render_records(
    records: Sequence[PreferenceRecord], template: Template, tokenizer: Any, *, objective: str, max_length: int
) -> RenderedRows:
    """Every record as the rows `objective` trains on, measured; prompts that leave no room for an
    answer are dropped."""
    result = RenderedRows()
    rows = [row for record in records for row in _rows(record, template, objective)]
    _measure(rows, tokenizer, add_special_tokens=template.add_special_tokens)
    for row in rows:
        if row.prompt_tokens >= max_length:
            result.dropped[f"prompt leaving no room for an answer at max_length {max_length}"] += 1
            continue
        if row.longest > max_length:
            result.long += 1
        result.rows.append(row)
    return result


def _rows(record: PreferenceRecord, template: Template, objective: str) -> list[PreferenceRow]:
    prompt = template.prompt(record.prompt)
    if isinstance(record, PromptExample):
        return [PreferenceRow(prompt, extra=record.extra)]
    if isinstance(record, LabelledAnswer):
        completion = answer_text(template, record.prompt, record.completion, prompt)
        return [PreferenceRow(prompt, completion=completion, label=record.label)]
    chosen = answer_text(template, record.prompt, record.chosen, prompt)
    rejected = answer_text(template, record.prompt, record.rejected, prompt)
    if objective == "kto":  # a pair is a desirable and an undesirable answer to the same prompt
        return [
            PreferenceRow(prompt, completion=chosen, label=True),
            PreferenceRow(prompt, completion=rejected, label=False),
        ]
    return [PreferenceRow(prompt, chosen=chosen, rejected=rejected)]


def _measure(rows: list[PreferenceRow], tokenizer: Any, *, add_special_tokens: bool) -> None:
    """Token lengths as TRL will count them: the prompt alone, and each answer as what the prompt
    grows by, with the EOS TRL appends where the answer lacks it."""
    if not rows:
        return
    eos = tokenizer.eos_token or ""

    def lengths(texts: list[str]) -> list[int]:
        encoded = tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]
        return [len(ids) for ids in encoded]

    prompt_lengths = lengths([row.prompt for row in rows])
    answers = [_answers(row) for row in rows]
    flat = [row.prompt + answer for row, each in zip(rows, answers) for answer in each]
    whole = iter(lengths(flat)) if flat else iter(())
    for row, each, prompt_length in zip(rows, answers, prompt_lengths):
        row.prompt_tokens = prompt_length
        row.answer_tokens = tuple(
            next(whole) - prompt_length + (0 if eos and answer.endswith(eos) else 1) for answer in each
        )


def _answers(row: PreferenceRow) -> list[str]:
    if row.label is not None:
        return [row.completion]
    if row.chosen or row.rejected:
        return [row.chosen, row.rejected]
    return []


def to_dataset(rows: list[PreferenceRow], objective: str) -> Any:
    """The rows as a `datasets.Dataset` with the columns `objective`'s TRL trainer reads."""
    # Imported here: datasets takes about a second to import, and importing tuitune.data stays light.
    from datasets import Dataset, Features, Value

    if objective == "grpo":
        columns: dict[str, list[Any]] = {"prompt": [row.prompt for row in rows]}
        names = list(dict.fromkeys(key for row in rows for key in row.extra))
        for name in names:
            columns[name] = _one_type([row.extra.get(name) for row in rows])
        if not rows:
            return Dataset.from_dict({"prompt": []}, features=Features({"prompt": Value("string")}))
        return Dataset.from_dict(columns)
    if objective == "kto":
        features = Features({"prompt": Value("string"), "completion": Value("string"), "label": Value("bool")})
        return Dataset.from_dict(
            {
                "prompt": [row.prompt for row in rows],
                "completion": [row.completion for row in rows],
                "label": [bool(row.label) for row in rows],
            },
            features=features,
        )
    features = Features({"prompt": Value("string"), "chosen": Value("string"), "rejected": Value("string")})
    return Dataset.from_dict(
        {
            "prompt": [row.prompt for row in rows],
            "chosen": [row.chosen for row in rows],
            "rejected": [row.rejected for row in rows],
        },
        features=features,
    )


def _one_type(values: list[Any]) -> list[Any]:
    """A column Arrow can hold: values of mixed kinds (7 and "7", a number and a list) become text,
    as a JSON file's mixed column would read anywhere else."""
    kinds = {type(value) for value in values if value is not None}
    if len(kinds) <= 1 or kinds <= {int, float}:
        return values
    return [None if value is None else value if isinstance(value, str) else json.dumps(value) for value in values]


@dataclass
class PreferencePreview:
    """One rendered row as a face shows it: the prompt, then the chosen and rejected answers (or
    the labelled completion, or, for grpo, the columns the rewards read)."""

    format: str
    prompt: str
    chosen: str = ""
    rejected: str = ""
    completion: str = ""
    label: bool | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    answer_tokens: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": self.format, "prompt": self.prompt, "prompt_tokens": self.prompt_tokens}
        if self.label is not None:
            data.update(completion=self.completion, label=self.label, completion_tokens=self.answer_tokens[0])
        elif self.answer_tokens:
            data.update(
                chosen=self.chosen,
                rejected=self.rejected,
                chosen_tokens=self.answer_tokens[0],
                rejected_tokens=self.answer_tokens[1],
            )
        else:
            data["columns"] = {key: _shown(value) for key, value in self.columns.items()}
        return data


def _shown(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else json.dumps(value)


def preview_rows(rows: list[PreferenceRow], format: str) -> list[PreferencePreview]:
    return [
        PreferencePreview(
            format,
            row.prompt,
            row.chosen,
            row.rejected,
            row.completion,
            row.label,
            dict(row.extra),
            row.prompt_tokens,
            row.answer_tokens,
        )
        for row in rows
    ]
