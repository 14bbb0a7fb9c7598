"""Translate a `RunConfig` into transformers' `TrainingArguments`."""

from __future__ import annotations

from pathlib import Path

from transformers import TrainingArguments

from tuitune.config import RunConfig
from tuitune.errors import IncompatibleConfigError


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
        return True, False
    return bool(fp16), bool(bf16)


def training_arguments(config: RunConfig, output_dir: Path, *, has_validation: bool) -> TrainingArguments:
    t = config.training
    fp16, bf16 = resolve_precision(config)
    eval_steps = t.eval_steps or t.logging_steps * 5
    cuda_args: dict[str, object] = {}
    try:
        import torch

        cuda_args["dataloader_pin_memory"] = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return TrainingArguments(
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
        # Length-grouped batches keep dynamic padding small; packed batches have no padding.
        train_sampling_strategy="random" if config.data.packing else "group_by_length",
        remove_unused_columns=False,
        label_names=["labels"],
        disable_tqdm=True,
        **cuda_args,
    )
