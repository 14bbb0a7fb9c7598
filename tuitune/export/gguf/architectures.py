"""The model families tuitune writes as GGUF, and what each needs said in the file's metadata.

A family is listed only where both ends agree on its layout: llama.cpp's tensor names (the `gguf`
package's maps) and transformers' GGUF reader, which the export's round trip loads the file back
with. Everything else is refused before anything is written, in words that say what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuitune.errors import ExportError


@dataclass(frozen=True)
class Family:
    """How one transformers `model_type` becomes a GGUF architecture."""

    model_type: str
    arch: str  # llama.cpp's name for it (general.architecture)
    # llama.cpp applies rotary embeddings to interleaved pairs, transformers' Llama to halves:
    # the q and k rows must be permuted on the way in (llama.cpp's convert_hf_to_gguf does the same).
    permute_qk: bool
    # Said in general.name too: llama.cpp (and transformers' reader) know Mistral as a llama.
    name_hint: str = ""


FAMILIES: dict[str, Family] = {
    "llama": Family("llama", "llama", permute_qk=True),
    "mistral": Family("mistral", "llama", permute_qk=True, name_hint="mistral"),
    "qwen2": Family("qwen2", "qwen2", permute_qk=False),
    "qwen3": Family("qwen3", "qwen3", permute_qk=False),
}


def family_of(config: dict[str, Any]) -> Family:
    """The family of a model's `config.json`, or an ExportError naming what can be exported."""
    model_type = str(config.get("model_type") or "")
    family = FAMILIES.get(model_type)
    if family is None:
        raise ExportError(
            f"tuitune cannot write a {model_type or 'model of unknown type'} model as GGUF (it writes "
            f"{', '.join(sorted(FAMILIES))}): export --to vllm instead, or merge it and convert it with "
            "llama.cpp's convert_hf_to_gguf.py."
        )
    rope = rope_settings(config)
    if rope.get("rope_type", "default") not in ("default", None):
        raise ExportError(
            f"This {model_type} model scales its rotary embeddings ({rope['rope_type']}), which tuitune's GGUF "
            "writer does not carry over yet: export --to vllm instead, or convert the merged model with "
            "llama.cpp's convert_hf_to_gguf.py."
        )
    if config.get("use_sliding_window"):
        raise ExportError(
            f"This {model_type} model uses sliding-window attention, which tuitune's GGUF writer does not carry "
            "over: export --to vllm instead."
        )
    return family


def rope_settings(config: dict[str, Any]) -> dict[str, Any]:
    """transformers 5 keeps rotary settings in `rope_parameters`; older configs at the top level."""
    parameters = config.get("rope_parameters") or config.get("rope_scaling") or {}
    settings = dict(parameters) if isinstance(parameters, dict) else {}
    settings.setdefault("rope_theta", config.get("rope_theta", 10000.0))
    if "type" in settings and "rope_type" not in settings:
        settings["rope_type"] = settings["type"]
    return settings


def head_dim(config: dict[str, Any]) -> int:
    return int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])


def permute_rows(weights: Any, n_head: int) -> Any:
    """llama.cpp's q/k permutation: each head's rows from [first half, second half] to interleaved pairs."""
    rows = weights.shape[0]
    return weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)
