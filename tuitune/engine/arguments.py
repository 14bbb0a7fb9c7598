"""Translate a `RunConfig` into transformers' `TrainingArguments`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transformers import TrainingArguments

from tuitune.config import PREFERENCE_OBJECTIVES, RunConfig
from tuitune.engine import early_stop
from tuitune.engine.objectives import arguments_for
from tuitune.engine.speed import use_liger_kernel
from tuitune.engine.trackers import PROJECT, run_label
from tuitune.errors import IncompatibleConfigError

# torch is imported inside the functions, as the training stack is everywhere in tuitune (here
# transformers, imported above, has loaded it already).


def resolve_precision(config: RunConfig) -> tuple[bool, bool]:
    """(fp16, bf16): the user's choice, else bf16 on GPUs that support it, fp16 on older GPUs, fp32 on CPU."""
    import torch

    fp16, bf16 = config.training.fp16, config.training.bf16
    cuda = torch.cuda.is_available()
    if fp16 and not cuda:
        raise IncompatibleConfigError(
            "training.fp16 needs a CUDA GPU and none is visible: drop --fp16 (CPU trains in fp32 or bf16)."
        )
    if fp16 is None and bf16 is None:
        if not cuda:
            return False, False
        if torch.cuda.is_bf16_supported():
            return False, True
        if config.objective in PREFERENCE_OBJECTIVES:
            return False, False  # fp16 makes their log-probability ratios NaN-prone (the config refuses it when asked)
        return True, False
    return bool(fp16), bool(bf16)


def sharding(config: RunConfig) -> dict[str, object]:
    """TrainingArguments that shard the model across the group (FSDP, DeepSpeed ZeRO), from the
    run's strategy; nothing for DDP. Told to the Trainer itself, which sets accelerate up."""
    strategy = config.distributed.strategy
    if strategy == "fsdp":
        checkpointing = config.training.gradient_checkpointing
        return {
            "fsdp": "full_shard auto_wrap",
            "fsdp_config": {
                "version": 2,
                "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                "reshard_after_forward": True,
                # Whole weights in checkpoints and in the final folder: the standard layout every
                # tool loads (gathered on rank 0 when saving).
                "state_dict_type": "FULL_STATE_DICT",
                # FSDP checkpoints activations itself; the model's own checkpointing would clash.
                "activation_checkpointing": checkpointing,
            },
            "activation_checkpointing": False,
        }
    if strategy.startswith("deepspeed"):
        stage = 3 if strategy.endswith("3") else 2
        zero: dict[str, object] = {"stage": stage, "overlap_comm": True, "contiguous_gradients": True}
        if stage == 3:
            zero["stage3_gather_16bit_weights_on_model_save"] = True
        return {
            "deepspeed": {
                "zero_optimization": zero,
                "train_micro_batch_size_per_gpu": "auto",
                "gradient_accumulation_steps": "auto",
                "gradient_clipping": "auto",
                "bf16": {"enabled": "auto"},
                "fp16": {"enabled": "auto"},
            }
        }
    return {}


def training_arguments(config: RunConfig, output_dir: Path, *, has_validation: bool) -> TrainingArguments:
    """The run's trainer arguments: tuitune's common values, in the class its objective's trainer takes."""
    return arguments_for(config, argument_values(config, output_dir, has_validation=has_validation))


def argument_values(config: RunConfig, output_dir: Path, *, has_validation: bool) -> dict[str, Any]:
    """What every objective's arguments share, as keyword arguments of `TrainingArguments`."""
    t = config.training
    fp16, bf16 = resolve_precision(config)
    eval_steps = t.eval_steps or t.logging_steps * 5
    import torch

    cuda_args: dict[str, object] = {"dataloader_pin_memory": torch.cuda.is_available()}
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # One rank of a group (accelerate launch): how long to wait for the others, and the
        # collective backend. LoRA leaves no parameter unused, so DDP need not look for them.
        cuda_args["ddp_timeout"] = config.distributed.timeout_seconds
        cuda_args["ddp_find_unused_parameters"] = False
        if not torch.cuda.is_available():
            cuda_args.update(use_cpu=True, ddp_backend="gloo")
        cuda_args.update(sharding(config))
    arguments: dict[str, object] = dict(
        output_dir=str(output_dir / "checkpoints"),
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        # transformers takes a float below 1 as a ratio of the total steps.
        warmup_steps=t.warmup_steps if t.warmup_steps > 0 else t.warmup_ratio,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        fp16=fp16,
        bf16=bf16,
        activation_checkpointing=t.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        logging_strategy="steps",
        logging_steps=t.logging_steps,
        logging_first_step=True,
        eval_strategy="steps" if has_validation else "no",
        eval_steps=eval_steps if has_validation else None,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        # Rotation then keeps the best checkpoint besides the newest ones.
        metric_for_best_model="eval_loss" if has_validation else None,
        greater_is_better=False if has_validation else None,
        seed=t.seed,
        data_seed=t.seed,
        report_to=t.report_to or "none",
        # The run as its trackers name it (tuitune.engine.trackers): its folder, `<id>-<name>`.
        run_name=run_label(output_dir),
        project=PROJECT,
        # Length-grouped batches keep dynamic padding small; packed batches have no padding. An
        # `auto` not yet decided for a loaded model (tuitune.engine.speed) trains padded.
        train_sampling_strategy="random" if config.data.packing is True else "group_by_length",
        use_liger_kernel=use_liger_kernel(config),
        torch_compile=t.torch_compile,
        remove_unused_columns=False,
        label_names=["labels"],
        disable_tqdm=True,
    )
    if t.early_stopping_patience is not None:
        if not has_validation:
            raise IncompatibleConfigError(
                "training.early_stopping_patience watches evaluations, but the data held no sample out: "
                "raise data.validation_split (or data.max_samples), or turn early stopping off."
            )
        arguments.update(early_stop.argument_values(config, eval_steps))
    arguments.update(cuda_args)  # a group's settings win (FSDP takes over activation checkpointing)
    return arguments
