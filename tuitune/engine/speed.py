"""The fast path for the machine a run trains on: batching, attention kernel, fused kernels.

Each choice is made once the model is loaded (its size, device and attention are known then), and
said in the run's events, so the user sees what tuitune picked and can set it in the config
instead. The run's config.yaml keeps what the user asked (`auto`), the events what it became.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from tuitune.config import RunConfig
from tuitune.data.collate import choose_packing
from tuitune.engine.methods import count_parameters
from tuitune.errors import IncompatibleConfigError

# torch is imported by the functions that ask the device, as the training stack is everywhere in
# tuitune: importing this module stays light.
Note = Callable[[str, str], None]

# Attention kernels for packed batches, in order of preference; flash attention needs Ampere or newer.
FLASH_ATTENTION_CAPABILITY = (8, 0)


def tune_for_speed(config: RunConfig, model: Any, note: Note) -> RunConfig:
    """`config` with every `auto` speed setting decided for `model` on this machine; each said in `note`."""
    device = _device_type(model)
    attention = _choose_attention(config, model, device, note)
    data, training = config.data, config.training
    if data.packing == "auto":
        packing, why = choose_packing(device=device, attention=attention, parameters=_parameters(model))
        note(f"batching: {'packing' if packing else 'length-grouped padding'} (auto: {why})", "info")
        data = data.model_copy(update={"packing": packing})
    liger = use_liger_kernel(config, device)
    if liger:
        note("Liger kernels on: fused linear cross-entropy, RMSNorm, RoPE and SwiGLU", "info")
    training = training.model_copy(update={"use_liger_kernel": liger})
    if training.torch_compile:
        note("torch.compile on: the first steps compile the model and are slow", "info")
    return config.model_copy(update={"data": data, "training": training})


def use_liger_kernel(config: RunConfig, device: str | None = None) -> bool:
    """Whether the run uses Liger's kernels: the user's choice, else (auto) where liger-kernel is
    installed and the run trains on CUDA. Asked for where there is no CUDA, it is refused."""
    wanted = config.training.use_liger_kernel
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "auto":
        return device == "cuda" and importlib.util.find_spec("liger_kernel") is not None
    if wanted and device != "cuda":
        raise IncompatibleConfigError(
            "training.use_liger_kernel needs a CUDA GPU (its kernels are Triton) and this run trains on "
            f"{device}: set it to auto or false."
        )
    return bool(wanted)


def _choose_attention(config: RunConfig, model: Any, device: str, note: Note) -> str:
    """The model's attention implementation; flash attention where it is installed and the GPU runs it."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    current = str(getattr(base.config, "_attn_implementation", None) or "eager")
    if config.model.attn_implementation or device != "cuda" or current.startswith("flash"):
        return current
    if not _flash_attention_runs(base):
        return current
    try:
        base.set_attn_implementation("flash_attention_2")
    except (ImportError, ValueError) as error:  # this architecture or build does not support it
        note(f"attention: {current} (flash attention is installed but not usable here: {str(error)[:200]})", "info")
        return current
    note("attention: flash_attention_2 (auto: flash-attn is installed and this GPU runs it)", "info")
    return "flash_attention_2"


def _flash_attention_runs(model: Any) -> bool:
    import torch

    if importlib.util.find_spec("flash_attn") is None:
        return False
    if torch.cuda.get_device_capability() < FLASH_ATTENTION_CAPABILITY:
        return False
    # Flash attention computes in 16 bits only: an fp32 model keeps sdpa.
    return getattr(model, "dtype", None) in (torch.bfloat16, torch.float16)


def _device_type(model: Any) -> str:
    try:
        return str(model.device.type)
    except AttributeError:
        return str(next(model.parameters()).device.type)


def _parameters(model: Any) -> int:
    return count_parameters(model)[1]
