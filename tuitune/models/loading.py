"""Load a model and its tokenizer the way a run's `model:` settings say.

Names resolve in one place (`tuitune/demo` → the locally built demo model, a local folder → its
absolute path, anything else → a Hub id), and every way loading can fail becomes a
`ModelLoadError` that says where tuitune looked and what to do. torch, transformers, bitsandbytes
and huggingface_hub's errors are imported inside the functions so importing this module stays cheap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuitune.config import DEMO_MODEL, ModelSettings
from tuitune.errors import ModelLoadError
from tuitune.models.demo import ensure_demo_model
from tuitune.system.hub import hub_offline, local_files_only
from tuitune.text.user_text import path_problem, shorten

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase


def _looks_like_path(name: str) -> bool:
    # Hub ids are `name` or `owner/name`; anything else with a slash, or starting like a path,
    # is meant as a folder on this machine.
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)


def resolve_model_path(name_or_path: str) -> str:
    """`tuitune/demo` → the demo model's folder (built on first use); a local folder → its absolute
    path; anything else is returned unchanged as a Hugging Face Hub id."""
    if name_or_path == DEMO_MODEL:
        return str(ensure_demo_model())
    problem = path_problem(name_or_path)
    if problem is not None:
        raise ModelLoadError(f"Model {shorten(name_or_path)} is neither a folder nor a Hub id ({problem}): check it.")
    local = Path(name_or_path).expanduser()
    if local.exists():
        if not local.is_dir():
            raise ModelLoadError(
                f"Model path {name_or_path} is a file: give the folder holding config.json and the weights."
            )
        return os.path.abspath(local)
    if _looks_like_path(name_or_path):
        raise ModelLoadError(f"Model folder {shorten(name_or_path)} does not exist: check the path.")
    return name_or_path


def model_load_error(name: str, exc: BaseException, *, revision: str | None = None) -> ModelLoadError:
    """Turn whatever transformers/huggingface_hub raised into one line that says what to do."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__

    def found(kind: type[BaseException]) -> bool:
        return any(isinstance(error, kind) for error in chain)

    local = Path(name).expanduser()
    download = f"`hf download {name}`"
    if local.is_dir():
        if not (local / "config.json").is_file():
            return ModelLoadError(
                f"{name} has no config.json: it is not a Hugging Face model folder "
                "(a folder saved with save_pretrained, or a run's model/ folder)."
            )
        return ModelLoadError(f"Model {name} could not be loaded: {_first_line(exc)}")
    if found(GatedRepoError):
        return ModelLoadError(
            f"Model '{name}' is gated: accept its license on https://huggingface.co/{name} and log in "
            "with `hf auth login` (or set HF_TOKEN)."
        )
    if found(RevisionNotFoundError):
        return ModelLoadError(f"Model '{name}' has no revision {revision!r}: check the branch, tag or commit.")
    if found(RepositoryNotFoundError):
        return ModelLoadError(
            f"Model '{name}' was not found: no local folder of that name, and the Hugging Face Hub has no "
            "such repository (or it is private: log in with `hf auth login`). Check the id."
        )
    if found(LocalEntryNotFoundError) or "couldn't connect" in str(exc).lower():
        why = (
            "offline: HF_HUB_OFFLINE=1 is set and it is not in the local cache"
            if hub_offline()
            else "network error: the Hub could not be reached and it is not in the local cache"
        )
        return ModelLoadError(
            f"Model '{name}' was not found: no local folder of that name, and the Hugging Face Hub could not "
            f"provide it ({why}). Check the id, or download it first with {download}"
            + (
                " (or unset HF_HUB_OFFLINE to let tuitune download it)."
                if hub_offline()
                else " on a machine with network access."
            )
        )
    if found(EntryNotFoundError):
        return ModelLoadError(
            f"Model '{name}' has no config.json on the Hub: it is not a transformers model. Check the id."
        )
    return ModelLoadError(f"Model '{name}' could not be loaded: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_model_config(
    name_or_path: str, *, revision: str | None = None, trust_remote_code: bool = False
) -> PretrainedConfig:
    """The model's `config.json` only (from a folder, or just that file from the Hub)."""
    from transformers import AutoConfig

    path = resolve_model_path(name_or_path)
    try:
        return AutoConfig.from_pretrained(
            path, revision=revision, trust_remote_code=trust_remote_code, local_files_only=local_files_only()
        )
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        if isinstance(exc, ValueError) and "trust_remote_code" in str(exc):
            raise ModelLoadError(
                f"Model '{name_or_path}' ships its own code: set model.trust_remote_code: true "
                "(--trust-remote-code) if you trust it."
            ) from exc
        raise model_load_error(name_or_path, exc, revision=revision) from exc


def load_tokenizer(settings: ModelSettings) -> PreTrainedTokenizerBase:
    """The model's tokenizer, with a pad token (the eos token when it has none) and right padding."""
    from transformers import AutoTokenizer

    path = resolve_model_path(settings.name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            path,
            revision=settings.revision,
            trust_remote_code=settings.trust_remote_code,
            local_files_only=local_files_only(),
        )
    except (OSError, ValueError, KeyError) as exc:
        raise model_load_error(settings.name_or_path, exc, revision=settings.revision) from exc
    if tokenizer.pad_token is None:
        # Reusing eos (or unk) keeps the vocabulary, and so the embedding matrix, unchanged; padded
        # positions are masked out of the loss by the collator anyway.
        fallback = tokenizer.eos_token or tokenizer.unk_token
        if fallback is None:
            raise ModelLoadError(
                f"The tokenizer of '{settings.name_or_path}' has no pad, eos or unk token to pad with: "
                "use a model whose tokenizer defines one."
            )
        tokenizer.pad_token = fallback
    # Right padding for training: causal attention then never sees pads before real tokens.
    tokenizer.padding_side = "right"
    return tokenizer


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _auto_dtype(on_gpu: bool) -> str:
    import torch

    if not on_gpu:
        return "float32"
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def resolved_dtype(settings: ModelSettings, device: str | None = None) -> str:
    """The dtype the model's (non-quantized) weights and computations use: float32/float16/bfloat16.

    `auto` means bf16 on GPUs that support it, fp16 on older GPUs, fp32 on a CPU.
    """
    on_gpu = _on_gpu(device)
    if settings.dtype != "auto":
        return settings.dtype
    return _auto_dtype(on_gpu)


def describe_precision(settings: ModelSettings, device: str | None = None) -> str:
    """One phrase for reports: e.g. `bfloat16`, or `4-bit NF4 (compute bfloat16)`."""
    dtype = resolved_dtype(settings, device)
    if settings.load_in_4bit:
        return f"4-bit NF4 (compute {dtype})"
    if settings.load_in_8bit:
        return f"8-bit (compute {dtype})"
    return dtype


def _on_gpu(device: str | None) -> bool:
    if device is None:
        return _cuda_available()
    return device.startswith("cuda")


def quantization_config(settings: ModelSettings, device: str | None = None) -> Any | None:
    """The `BitsAndBytesConfig` for 4-bit NF4 (double quantization) or 8-bit loading, else None."""
    if not (settings.load_in_4bit or settings.load_in_8bit):
        return None
    try:
        import bitsandbytes  # noqa: F401
        import torch
        from transformers import BitsAndBytesConfig
    except ImportError as exc:
        raise ModelLoadError(
            "4-bit and 8-bit loading need bitsandbytes: `pip install bitsandbytes`, or turn off "
            "model.load_in_4bit/load_in_8bit (method lora instead of qlora)."
        ) from exc
    if settings.load_in_8bit:
        return BitsAndBytesConfig(load_in_8bit=True)
    compute = getattr(torch, resolved_dtype(settings, device))
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )


def _device_map(device: str, for_training: bool) -> Any:
    if not device.startswith("cuda"):
        return {"": "cpu"}
    if ":" in device:
        return {"": int(device.split(":", 1)[1])}
    if for_training:
        # One whole copy per process: under `accelerate launch`/torchrun each rank takes its own
        # GPU; splitting layers across GPUs ("auto") would serialise training.
        return {"": int(os.environ.get("LOCAL_RANK", "0"))}
    return "auto"


def load_model(settings: ModelSettings, *, for_training: bool = True, device: str | None = None) -> PreTrainedModel:
    """Load the causal LM named in `settings` (dtype, quantization, attention, revision applied).

    `device` is `cpu`, `cuda` or `cuda:N`; None means the GPU when there is one. A quantized model is
    returned as loaded: preparing it for k-bit training (peft) is the training method's job.
    """
    import torch
    from transformers import AutoModelForCausalLM

    device = device or ("cuda" if _cuda_available() else "cpu")
    path = resolve_model_path(settings.name_or_path)
    dtype = getattr(torch, resolved_dtype(settings, device))
    kwargs: dict[str, Any] = {
        "dtype": dtype,
        "revision": settings.revision,
        "trust_remote_code": settings.trust_remote_code,
        "local_files_only": local_files_only(),
        "device_map": _device_map(device, for_training),
    }
    if local_files_only():
        # transformers looks for an adapter_config.json without `local_files_only` (and retries
        # the network for half a minute): pass the flag to that lookup as well.
        kwargs["adapter_kwargs"] = {"local_files_only": True}
    quantization = quantization_config(settings, device)
    if quantization is not None:
        kwargs["quantization_config"] = quantization
    if settings.attn_implementation:
        kwargs["attn_implementation"] = settings.attn_implementation
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except torch.cuda.OutOfMemoryError as exc:
        raise ModelLoadError(
            f"Model '{settings.name_or_path}' does not fit in GPU memory: use method qlora (4-bit), "
            "or a smaller model (`tuitune recommend MODEL` suggests settings)."
        ) from exc
    except (OSError, ValueError, KeyError, ImportError) as exc:
        message = str(exc)
        if isinstance(exc, (ValueError, ImportError)) and (
            "attn_implementation" in message or "flash" in message.lower()
        ):
            raise ModelLoadError(
                f"Attention implementation {settings.attn_implementation!r} is not available for this "
                f"model or machine: {_first_line(exc)} Use sdpa or eager (or leave it unset)."
            ) from exc
        if isinstance(exc, ValueError) and "trust_remote_code" in message:
            raise ModelLoadError(
                f"Model '{settings.name_or_path}' ships its own code: set model.trust_remote_code: true "
                "if you trust it."
            ) from exc
        raise model_load_error(settings.name_or_path, exc, revision=settings.revision) from exc
    if for_training:
        # The key/value cache only helps generation, and it conflicts with gradient checkpointing.
        model.config.use_cache = False
    return model


__all__ = [
    "describe_precision",
    "hub_offline",
    "load_model",
    "load_model_config",
    "load_tokenizer",
    "model_load_error",
    "quantization_config",
    "resolve_model_path",
    "resolved_dtype",
]
