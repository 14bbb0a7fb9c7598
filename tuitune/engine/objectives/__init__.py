"""Which trainer a run's objective trains with, and the arguments it takes.

The method says which weights train (LoRA, QLoRA, full); the objective says what they learn from.
`sft` is transformers' `Trainer` on tuitune's own tokenized data; the preference objectives are
TRL's trainers (`tuitune.engine.objectives.preference`), `grpo` TRL's `GRPOTrainer`
(`tuitune.engine.objectives.grpo`). Every trainer gets the same callbacks, so each face follows
every objective the same way.
"""

from __future__ import annotations

from typing import Any

from tuitune.config import RunConfig
from tuitune.engine.objectives.parts import TrainerParts

__all__ = ["TrainerParts", "arguments_for", "build_trainer"]


def arguments_for(config: RunConfig, values: dict[str, Any]) -> Any:
    """The objective's `TrainingArguments` (a TRL config for all but sft), from tuitune's common values."""
    if config.objective == "sft":
        from transformers import TrainingArguments

        return TrainingArguments(**values)
    if config.objective == "grpo":
        from tuitune.engine.objectives.grpo import grpo_arguments

        return grpo_arguments(config, values)
    from tuitune.engine.objectives.preference import preference_arguments

    return preference_arguments(config, values)


def build_trainer(parts: TrainerParts) -> Any:
    """The trainer for `parts.config.objective`, ready to `train()`."""
    objective = parts.config.objective
    if objective == "sft":
        return _sft_trainer(parts)
    if objective == "grpo":
        from tuitune.engine.objectives.grpo import grpo_trainer

        return grpo_trainer(parts)
    from tuitune.engine.objectives.preference import preference_trainer

    return preference_trainer(parts)


def _sft_trainer(parts: TrainerParts) -> Any:
    from transformers import Trainer

    prepared = parts.prepared
    has_validation = len(prepared.validation) > 0
    return Trainer(
        model=parts.model,
        args=parts.arguments,
        data_collator=parts.collator,
        train_dataset=prepared.train,
        eval_dataset=prepared.validation if has_validation else None,
        processing_class=parts.tokenizer,
        callbacks=parts.callbacks,
    )
