"""Turn a loaded base model into what each method trains: LoRA, QLoRA, full or instruction tuning."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tuitune.config import RunConfig
from tuitune.models.targets import lora_target_modules, stores_weights_transposed

# peft is imported where a method is applied, as the training stack is everywhere in tuitune:
# importing this module (count_parameters) stays light.
FULL_FINETUNING_WARN_PARAMETERS = 1_000_000_000


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameters."""
    trainable = total = 0
    for parameter in model.parameters():
        n = parameter.numel()
        # 4-bit weights are packed two to a byte; count what they represent.
        if getattr(parameter, "quant_state", None) is not None:
            n *= 2
        total += n
        if parameter.requires_grad:
            trainable += n
    return trainable, total


def prepare_for_method(model: Any, config: RunConfig, note: Callable[[str, str], None]) -> Any:
    """Apply the method's adapters/preparation to `model`; `note(message, level)` reports to the run."""
    if config.method == "full_finetuning":
        _, total = count_parameters(model)
        if total > FULL_FINETUNING_WARN_PARAMETERS:
            note(
                f"full fine-tuning {total / 1e9:.1f}B parameters needs about {total * 16 / 2**30:.0f} GB "
                "for weights, gradients and Adam states; LoRA or QLoRA need far less.",
                "warning",
            )
        if config.training.gradient_checkpointing:
            model.config.use_cache = False
        return model

    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    quantized = config.model.load_in_4bit or config.model.load_in_8bit
    if quantized:
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=config.training.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    lora = config.lora
    targets = lora.target_modules if isinstance(lora.target_modules, list) else lora_target_modules(model)
    peft_config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets,
        bias=lora.bias,
        modules_to_save=lora.modules_to_save,
        use_dora=lora.use_dora,
        use_rslora=lora.use_rslora,
        fan_in_fan_out=stores_weights_transposed(model, targets),
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, peft_config)
    if config.training.gradient_checkpointing:
        # Checkpointed blocks need an input that requires grad when the embeddings are frozen.
        model.enable_input_require_grads()
        model.config.use_cache = False
    trainable, total = count_parameters(model)
    note(
        f"LoRA r={lora.r} on {', '.join(targets)}: {trainable:,} trainable of {total:,} parameters "
        f"({100 * trainable / max(total, 1):.2f}%).",
        "info",
    )
    return model
