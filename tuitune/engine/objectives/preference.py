"""The preference objectives on TRL's trainers: dpo (`DPOTrainer`), kto (`KTOTrainer`), orpo
(`ORPOTrainer`) and simpo (`CPOTrainer` with the SimPO loss).

The data comes rendered by tuitune's template (`tuitune.data`): a prompt string that ends where the
answer begins, and answer strings (`chosen`/`rejected`, or `completion` with a `label` for kto), so
a preference run formats its prompts exactly as an SFT run of the same data would.

The reference model (dpo, kto) is what the policy is kept near. With an adapter it is the base with
the adapter switched off: no second copy. With full fine-tuning it is a second copy, unless its
log-probabilities are computed in one pass before training (`preference.reference`): at that point
the policy still is the base (a resumed run's weights load once training starts), so the
precomputed values are exact, and no copy stays in memory. ORPO and SimPO need no reference.
"""

from __future__ import annotations

import copy
import gc
from typing import Any

from tuitune.config import RunConfig
from tuitune.engine.objectives.parts import TrainerParts

NEEDS_REFERENCE = ("dpo", "kto")


def reference_kind(config: RunConfig) -> str | None:
    """How the run gets its reference log-probabilities: `adapter` (the base with the adapter off),
    `copy` (a second model, kept live), `precomputed` (one pass before training), or None (orpo,
    simpo need none)."""
    if config.objective not in NEEDS_REFERENCE:
        return None
    if config.preference.reference == "precomputed":
        return "precomputed"
    if config.preference.reference == "live":
        return "adapter" if config.uses_adapter else "copy"
    return "adapter" if config.uses_adapter else "precomputed"


def describe_reference(config: RunConfig) -> str | None:
    """The reference, in the words of the run's events."""
    return {
        "adapter": "reference: the base model with the adapter switched off (no second copy)",
        "copy": "reference: a second copy of the model, kept in memory while training",
        "precomputed": "reference: log-probabilities computed in one pass before training (no copy kept)",
        None: None,
    }[reference_kind(config)]


def preference_arguments(config: RunConfig, values: dict[str, Any]) -> Any:
    """The TRL config of `config.objective`, from tuitune's common trainer values."""
    values = dict(values)
    # TRL's trainers tokenize the pairs themselves (no `length` column to group by, no `labels`).
    values.update(train_sampling_strategy="random", label_names=None)
    p = config.preference
    common = dict(values, max_length=config.data.max_length, beta=p.beta)
    precompute = reference_kind(config) == "precomputed"
    if config.objective == "dpo":
        from trl import DPOConfig

        return DPOConfig(**common, loss_type=[p.loss_type], precompute_ref_log_probs=precompute)
    if config.objective == "kto":
        from trl import KTOConfig

        # KTO's KL term pairs each answer with its neighbour's prompt in a fixed order (the data is
        # shuffled once, when it is split).
        common["train_sampling_strategy"] = "sequential"
        return KTOConfig(
            **common,
            desirable_weight=p.desirable_weight,
            undesirable_weight=p.undesirable_weight,
            precompute_ref_log_probs=precompute,
        )
    if config.objective == "orpo":
        from trl.experimental.orpo import ORPOConfig

        return ORPOConfig(**common)
    if config.objective == "simpo":
        from trl.experimental.cpo import CPOConfig

        # SimPO is CPO's loss without its behaviour-cloning term.
        return CPOConfig(**common, loss_type="simpo", cpo_alpha=0.0, simpo_gamma=p.simpo_gamma)
    raise ValueError(f"not a preference objective: {config.objective}")  # the config's Literal keeps this out


def preference_trainer(parts: TrainerParts) -> Any:
    config, prepared = parts.config, parts.prepared
    has_validation = len(prepared.validation) > 0
    kind = reference_kind(config)
    # Taken now, while the policy is the base: a live full fine-tune's reference.
    reference = copy.deepcopy(parts.model) if kind == "copy" else None
    common: dict[str, Any] = dict(
        model=parts.model,
        args=parts.arguments,
        train_dataset=prepared.train,
        eval_dataset=prepared.validation if has_validation else None,
        processing_class=parts.tokenizer,
        callbacks=parts.callbacks,
    )
    if config.objective == "dpo":
        from trl import DPOTrainer

        trainer = DPOTrainer(**common, ref_model=reference)
    elif config.objective == "kto":
        from trl import KTOTrainer

        trainer = KTOTrainer(**common, ref_model=reference)
    elif config.objective == "orpo":
        from trl.experimental.orpo import ORPOTrainer

        trainer = ORPOTrainer(**common)
    else:
        from trl.experimental.cpo import CPOTrainer

        trainer = CPOTrainer(**common)
    if kind == "precomputed" and getattr(trainer, "ref_model", None) is not None:
        trainer.ref_model = None  # its log-probabilities are in the data now
        gc.collect()
    if kind is not None:
        parts.note(describe_reference(config))
    return trainer
