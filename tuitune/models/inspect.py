"""What a model is, from its `config.json` alone: size, shape and LoRA targets, without its weights.

The model is instantiated on the meta device (no memory, nothing downloaded but config.json), so
the parameter count is exact and a 70B model is described in a fraction of a second.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tuitune.models.loading import load_model_config, resolve_model_path
from tuitune.models.targets import is_linear_layer, lora_target_modules, meta_model


@dataclass(frozen=True)
class ModelInfo:
    """A model's shape, as `tuitune recommend` and the memory estimate need it."""

    name: str  # as the user gave it (`tuitune/demo`, a Hub id, a folder)
    path: str  # the local folder, or the Hub id
    architecture: str  # e.g. LlamaForCausalLM
    model_type: str  # e.g. llama
    parameters: int  # exact, counted once for tied weights
    num_layers: int
    hidden_size: int
    intermediate_size: int
    num_attention_heads: int
    vocab_size: int
    max_position_embeddings: int | None
    lora_targets: list[str]
    # Parameters in the linear layers bitsandbytes quantizes (all but the output head).
    linear_parameters: int
    # Trainable LoRA parameters per unit of rank: sum of in+out features over the target layers.
    lora_parameters_per_rank: int
    stored_dtype: str | None = None  # the dtype config.json says the weights are saved in
    has_chat_template: bool | None = None  # None: not known without downloading the tokenizer

    def lora_parameters(self, r: int) -> int:
        """Trainable parameters of a rank-`r` LoRA adapter on the default targets."""
        return r * self.lora_parameters_per_rank

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _first(config: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return default


def _chat_template_known(folder: Path) -> bool | None:
    if not folder.is_dir():
        return None
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    tokenizer_config = folder / "tokenizer_config.json"
    if not tokenizer_config.is_file():
        return None
    try:
        return bool(json.loads(tokenizer_config.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError):
        return None


def describe_model(name_or_path: str, revision: str | None = None, trust_remote_code: bool = False) -> ModelInfo:
    """Describe a model from its config alone (demo model, local folder, or Hub id).

    Raises `ModelLoadError` when the config cannot be found or is not a causal LM.
    """
    path = resolve_model_path(name_or_path)
    config = load_model_config(name_or_path, revision=revision, trust_remote_code=trust_remote_code)
    model = meta_model(config, trust_remote_code=trust_remote_code)
    targets = lora_target_modules(model)

    head = model.get_output_embeddings()
    linear_parameters = 0
    per_rank = 0
    for module_path, module in model.named_modules():
        if module is head or not is_linear_layer(module):
            continue
        linear_parameters += module.weight.numel()
        if module_path.rsplit(".", 1)[-1] in targets:
            per_rank += sum(module.weight.shape)

    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = int(_first(text, "hidden_size", "n_embd", "d_model", default=0))
    # transformers 5 says `dtype`; 4.x said `torch_dtype` (reading it on 5 warns, so only as a fallback).
    dtype = config.dtype if hasattr(config, "dtype") else getattr(config, "torch_dtype", None)
    return ModelInfo(
        name=name_or_path,
        path=path,
        architecture=(getattr(config, "architectures", None) or [type(model).__name__])[0],
        model_type=str(getattr(config, "model_type", "")),
        parameters=sum(p.numel() for p in model.parameters()),
        num_layers=int(_first(text, "num_hidden_layers", "n_layer", "num_layers", default=0)),
        hidden_size=hidden,
        intermediate_size=int(_first(text, "intermediate_size", "n_inner", "ffn_dim", default=None) or 4 * hidden),
        num_attention_heads=int(_first(text, "num_attention_heads", "n_head", default=0)),
        vocab_size=int(_first(text, "vocab_size", default=0)),
        max_position_embeddings=_first(
            text, "max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"
        ),
        lora_targets=targets,
        linear_parameters=linear_parameters,
        lora_parameters_per_rank=per_rank,
        stored_dtype=str(dtype).removeprefix("torch.") if dtype is not None else None,
        has_chat_template=_chat_template_known(Path(path)),
    )


__all__ = ["ModelInfo", "describe_model"]
