"""Which modules LoRA adapts when `lora.target_modules` is `auto`.

Every linear layer except the output head is adapted, which is what the QLoRA paper found works
best and what peft calls `all-linear`: for Llama/Qwen/Mistral-style models that is exactly
q/k/v/o/gate/up/down_proj (those present), for GPT-2 c_attn/c_proj/c_fc. Detection looks at a real
(or meta-device) model, so it follows what is actually there rather than a table of model types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tuitune.errors import ModelLoadError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn
    from transformers import PretrainedConfig

# torch and transformers are imported inside the functions, as everywhere in tuitune.models:
# importing the package stays light.

# Llama, Mistral, Qwen, Gemma, Phi-3-small, …: separate q/k/v/o and gated-MLP projections.
LLAMA_STYLE = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# GPT-2: fused qkv (c_attn), and Conv1D projections (c_proj in attention and MLP, c_fc).
GPT2_STYLE = ["c_attn", "c_proj", "c_fc"]


def is_linear_layer(module: nn.Module) -> bool:
    """A layer LoRA can wrap: `nn.Linear` (bitsandbytes' 4/8-bit layers subclass it) or GPT-2's Conv1D."""
    from torch import nn

    if isinstance(module, nn.Linear):
        return True
    return _is_conv1d(module)


def _is_conv1d(module: nn.Module) -> bool:
    """GPT-2's Conv1D: a linear layer that keeps its weight as (in, out)."""
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover - very old/new transformers
        return False
    return isinstance(module, Conv1D)


def linear_layer_names(model: nn.Module) -> list[str]:
    """Short names (last path part) of every linear layer except the output head, in model order."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names: list[str] = []
    for path, module in model.named_modules():
        if module is head or not path or not is_linear_layer(module):
            continue
        parts = path.split(".")
        # Inside a peft-wrapped model the original layer is `<name>.base_layer` and the adapter's
        # own layers live under `lora_A`/`lora_B`/…: name the original, skip the adapter's.
        if any(part.startswith("lora_") for part in parts):
            continue
        if parts[-1] == "base_layer" and len(parts) > 1:
            parts = parts[:-1]
        short = parts[-1]
        # Heads that get_output_embeddings() does not report (e.g. a wrapped model) are still heads.
        if short in ("lm_head", "embed_out") or short in names:
            continue
        names.append(short)
    return names


def _from_names(present: list[str]) -> list[str]:
    # The set is always "every linear layer but the head" (peft's `all-linear`); for known
    # families that is exactly their projection set, listed in the order people expect to read it.
    known = [name for name in (*LLAMA_STYLE, *GPT2_STYLE) if name in present]
    return known + [name for name in present if name not in known]


def lora_target_modules(model_or_config: Any, *, trust_remote_code: bool = False) -> list[str]:
    """Module names for peft's `LoraConfig(target_modules=...)`.

    Accepts a model instance (quantized or not, wrapped by peft or not) or a transformers config;
    a config is instantiated on the meta device, which allocates no memory.
    """
    from transformers import PretrainedConfig

    if isinstance(model_or_config, PretrainedConfig):
        return lora_target_modules_for_config(model_or_config, trust_remote_code=trust_remote_code)
    targets = _from_names(linear_layer_names(model_or_config))
    if not targets:
        raise ModelLoadError(
            f"No linear layers found in {type(model_or_config).__name__} for LoRA to adapt: "
            "set lora.target_modules to module names, or use method full_finetuning."
        )
    return targets


def stores_weights_transposed(model: nn.Module, targets: list[str]) -> bool:
    """Whether the targeted layers are GPT-2's Conv1D, which keeps its weight as (in, out): peft must
    be told (`fan_in_fan_out=True`) rather than find out and warn."""
    wanted = set(targets)
    return any(_is_conv1d(module) for path, module in model.named_modules() if path.rsplit(".", 1)[-1] in wanted)


def meta_model(config: PretrainedConfig, *, trust_remote_code: bool = False) -> nn.Module:
    """The causal LM a config describes, with every tensor on the meta device (no memory, no download)."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    except ValueError as exc:
        raise ModelLoadError(
            f"{type(config).__name__} (model_type {getattr(config, 'model_type', '?')!r}) is not a causal "
            "language model transformers can build: tuitune fine-tunes causal LMs only."
        ) from exc


def lora_target_modules_for_config(config: PretrainedConfig, *, trust_remote_code: bool = False) -> list[str]:
    """`lora_target_modules` from a config alone, through a meta-device model."""
    return lora_target_modules(meta_model(config, trust_remote_code=trust_remote_code))


__all__ = [
    "GPT2_STYLE",
    "LLAMA_STYLE",
    "is_linear_layer",
    "linear_layer_names",
    "lora_target_modules",
    "lora_target_modules_for_config",
    "meta_model",
]
