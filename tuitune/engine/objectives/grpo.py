"""The grpo objective on TRL's `GRPOTrainer`: the model samples `grpo.num_generations` completions
per prompt, the reward functions (`tuitune.rewards`) score them, and each completion is
pushed up or down by how its reward compares with its group's.

The data comes rendered by tuitune's template (`tuitune.data`): a `prompt` string that ends where
the answer begins, plus every other column of the source, which TRL hands to the reward functions
by name. A prompt and its completion are one sequence of at most `data.max_length` tokens (checked
before training, `grpo_checks`). The reference model (the KL penalty, `grpo.beta` > 0) is TRL's:
with an adapter, a frozen copy of the adapter as training starts; with full fine-tuning, a second
copy of the model. With beta 0 (the default) no reference is kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tuitune.config import RunConfig
from tuitune.engine.objectives.grpo_checks import check_generations, processes
from tuitune.engine.objectives.grpo_samples import SampleRecorder, SamplesCallback
from tuitune.engine.objectives.parts import TrainerParts
from tuitune.rewards import RECORD, Reward, load_rewards


def grpo_arguments(config: RunConfig, values: dict[str, Any]) -> Any:
    """TRL's `GRPOConfig` from tuitune's common trainer values and `config.grpo`."""
    from trl import GRPOConfig

    check_generations(config, processes(config))
    g = config.grpo
    values = dict(values)
    # TRL samples its own batches (each prompt repeated num_generations times) and scores them:
    # no `length` column to group by, no `labels`.
    values.update(train_sampling_strategy="random", label_names=None)
    if values.get("eval_strategy", "no") != "no":
        # The best checkpoint is the one whose held-out completions earn the most reward (GRPO's
        # loss says little), and an eval batch holds whole groups.
        values.update(metric_for_best_model="reward", greater_is_better=True)
        groups = -(-config.training.batch_size // g.num_generations)
        values["per_device_eval_batch_size"] = groups * g.num_generations
    return GRPOConfig(
        **values,
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        beta=g.beta,
        loss_type=g.loss_type,
        reward_weights=g.reward_weights,
        log_completions=False,  # tuitune writes its own samples as events (grpo_samples)
    )


def grpo_trainer(parts: TrainerParts) -> Any:
    """`GRPOTrainer` on the run's prompts, its reward functions recorded and their samples shown."""
    from trl import GRPOTrainer

    config, prepared = parts.config, parts.prepared
    g = config.grpo
    rewards = load_rewards(g)
    weights = dict(zip((r.use.name for r in rewards), g.reward_weights or [1.0] * len(rewards), strict=True))
    recorder = SampleRecorder(weights, g.answer_column)
    record_rewards(rewards, parts.output, parts.note)
    has_validation = len(prepared.validation) > 0
    trainer = GRPOTrainer(
        model=parts.model,
        reward_funcs=[recorder.wrap(reward) for reward in rewards],
        args=parts.arguments,
        train_dataset=prepared.train,
        eval_dataset=prepared.validation if has_validation else None,
        processing_class=parts.tokenizer,
        callbacks=[*parts.callbacks, SamplesCallback(recorder, g.samples_shown, parts.note)],
    )
    if parts.collator is not None:  # None: a trainer built without the run's speed count (tests)
        parts.collator.from_state = True  # it counts the prompt and completion tokens it trains on
    parts.note(describe_reference(config))
    return trainer


def describe_reference(config: RunConfig) -> str:
    """The KL penalty's reference, in the words of the run's events."""
    if config.grpo.beta == 0:
        return "reference: none (grpo.beta 0: no KL penalty, no reference kept)"
    if config.uses_adapter:
        return "reference: a frozen copy of the adapter as training starts (no second model)"
    return "reference: a second copy of the model, kept in memory while training"


def record_rewards(rewards: list[Reward], output: Path, note: Any) -> None:
    """Say which reward functions the run uses (and each file's sha256) in its events and in
    `rewards.json` in its folder; on a resume, warn when a file changed since the run began."""
    for reward in rewards:
        note(reward.use.describe())
    if int(os.environ.get("RANK", "0")) != 0:
        return  # one rank writes the run's files
    record = output / RECORD
    before = _recorded(record)
    for reward in rewards:
        earlier = before.get(reward.use.spec)
        if earlier is not None and earlier != reward.use.sha256:
            note(
                f"reward file {reward.use.path} changed since this run began (sha256 {earlier} then, "
                f"{reward.use.sha256} now): the rest of the run is scored by the new code",
                "warning",
            )
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"rewards": [r.use.to_dict() for r in rewards]}, indent=2) + "\n", encoding="utf-8")


def _recorded(record: Path) -> dict[str, str | None]:
    try:
        document = json.loads(record.read_text(encoding="utf-8"))
        return {entry["spec"]: entry.get("sha256") for entry in document["rewards"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
