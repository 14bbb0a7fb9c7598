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

import contextlib
import copy
import gc
import math
from collections.abc import Iterator
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

        # Batches of pairs of alike lengths (benchmarks/peers_dpo.py): the Trainer's sampler reads the
        # `length` column `group_pairs_by_length` adds once TRL has tokenized the pairs.
        common["train_sampling_strategy"] = "group_by_length"
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
    once = config.objective == "dpo" and reference_once(config, parts.arguments, len(prepared.train))
    if config.objective == "dpo":
        from trl import DPOTrainer

        if once:
            parts.arguments.precompute_ref_log_probs = True
        with kept_random_state():
            trainer = DPOTrainer(**common, ref_model=reference)
        group_pairs_by_length(trainer, config.data.max_length)
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
        parts.note(ONCE if once else describe_reference(config))
    if parts.collator is not None:  # None: a trainer built without the run's speed count (tests)
        parts.collator.wrap(trainer)  # the speed counts both answers of every pair it trains on
    return trainer


ONCE = (
    "reference: the base model with the adapter switched off, its log-probabilities computed in one pass "
    "before training (more than one epoch: each pair's are read, not computed again every epoch)"
)


def reference_once(config: RunConfig, arguments: Any, pairs: int) -> bool:
    """Whether a dpo run with an adapter and `reference: auto` computes the reference's
    log-probabilities in one pass before training rather than at every step: when it trains more
    than one epoch, so each pair's would be computed once per epoch. Exact: the reference is the
    base with the adapter off whatever the adapter has learnt, and TRL's pass switches it off too."""
    if config.preference.reference != "auto" or reference_kind(config) != "adapter":
        return False
    per_step = arguments.per_device_train_batch_size * arguments.gradient_accumulation_steps * arguments.world_size
    steps_per_epoch = max(1, math.ceil(pairs / per_step))
    steps = arguments.max_steps if arguments.max_steps > 0 else math.ceil(arguments.num_train_epochs * steps_per_epoch)
    return steps > steps_per_epoch


@contextlib.contextmanager
def kept_random_state() -> Iterator[None]:
    """torch's global random state as it was: a reference pass before training iterates a data
    loader, which draws its seed from that state, and the length-grouped sampler draws the order of
    the batches from it too; without this, computing the reference once would train on other
    batches than computing it live, and the losses would part (tests/test_preference_speed.py)."""
    import torch  # the training stack is loaded already (TRL's trainer is being built)

    state = torch.random.get_rng_state()
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


def group_pairs_by_length(trainer: Any, max_length: int | None) -> None:
    """Give the tokenized pairs the `length` column the Trainer's length-grouped sampler reads:
    TRL pads a batch's chosen and rejected sequences to its longest, so in random order a batch
    that mixes a short pair with a long one is mostly padding (as for sft, `data.packing: false`).
    A pair's length is its longer sequence as TRL cuts it at max_length."""

    def lengths(rows: dict[str, list[Any]]) -> dict[str, list[int]]:
        longer = [
            len(prompt) + max(len(chosen), len(rejected))
            for prompt, chosen, rejected in zip(
                rows["prompt_ids"], rows["chosen_ids"], rows["rejected_ids"], strict=True
            )
        ]
        return {"length": [min(n, max_length) if max_length else n for n in longer]}

    for name in ("train_dataset", "eval_dataset"):
        dataset = getattr(trainer, name)
        if dataset is not None:
            setattr(trainer, name, dataset.map(lengths, batched=True))
