"""The examples an evaluation scores: the run's held-out validation split, or a dataset given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tuitune.config import RunConfig
from tuitune.data import Conversation, get_template, load_examples, tokenize_examples
from tuitune.errors import EvaluationError


@dataclass
class HeldOut:
    """Examples to score, with the prompts and references for generation and the template used."""

    examples: list[Any]  # canonical Conversation / Document examples
    prompts: list[str]  # as the model reads them: templated, ending with the assistant's cue
    references: list[str]
    template: Any
    source: str  # "validation split of <dataset>" or the dataset path
    format: str
    # Each prompt as the user wrote it: its messages (role, content) before the reference, which
    # is what a person reads, where `prompts` holds the template's markup around them.
    messages: list[list[dict[str, str]]] = field(default_factory=list)


def held_out(config: RunConfig, tokenizer: Any, *, samples: int, dataset: str | None = None) -> HeldOut:
    """The first `samples` held-out examples of the run, recovered from its data settings.

    The split is deterministic (seeded shuffle), so these are exactly the examples the run never
    trained on. With `dataset`, its rows (shuffled with the run's seed) are used instead, read with
    the run's other data settings (template, max_length) and the format detected afresh.
    """
    if dataset is None:
        settings = config.data
        loaded = load_examples(settings, method=config.method)
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
        loaded = load_examples(settings, method=None)
        examples = loaded.train
        source = dataset
    examples = list(examples[:samples])
    template = get_template(settings.template, tokenizer, format=loaded.format, method=config.method)
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


def tokenized(heldout: HeldOut, tokenizer: Any, *, max_length: int) -> list[Any]:
    """Ids and labels of the held-out examples for perplexity: loss on the responses only (on
    everything for raw text), whatever the run trained on, so runs compare on the same tokens."""
    data = tokenize_examples(
        heldout.examples, heldout.template, tokenizer, max_length=max_length, train_on_responses_only=True
    )
    return data.examples
