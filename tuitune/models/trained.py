"""A run's trained model, or its base, loaded for generation (evaluation and chat share this)."""

from __future__ import annotations

import warnings
from typing import Any

from tuitune.models.loading import load_model, load_tokenizer

# transformers and peft are imported when a model is loaded, as everywhere in tuitune.models:
# importing the package (chat, evaluation) stays light.


def load_trained(config: Any, weights: Any, *, device: str | None = None) -> tuple[Any, Any]:
    """The fine-tuned model (base + adapter, or the saved full model) and the run's tokenizer."""
    from transformers import AutoTokenizer

    try:
        # The tokenizer saved with the weights is exactly the one training used.
        tokenizer = AutoTokenizer.from_pretrained(str(weights.path))
    except (OSError, ValueError):
        tokenizer = load_tokenizer(config.model)
    if weights.is_adapter:
        from peft import PeftModel

        base = load_model(config.model, for_training=False, device=device)
        with warnings.catch_warnings():
            # peft calls a transformers API deprecated in v5; nothing a user can act on.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model = PeftModel.from_pretrained(base, str(weights.path))
    else:
        settings = config.model.model_copy(update={"name_or_path": str(weights.path), "revision": None})
        model = load_model(settings, for_training=False, device=device)
    model.eval()
    return model, tokenizer


def load_base(config: Any, *, device: str | None = None) -> Any:
    model = load_model(config.model, for_training=False, device=device)
    model.eval()
    return model


def stop_token_ids(model: Any, tokenizer: Any, template: str) -> list[int]:
    """Token ids that end an answer: the model's configured EOS ids, the tokenizer's, and the
    end-of-turn marker of the chatml template when it is one token."""
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured if isinstance(configured, list) else [configured]) + [tokenizer.eos_token_id]:
        if isinstance(value, int) and value not in ids:
            ids.append(value)
    if template == "chatml":
        marker = tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(marker, int) and marker != tokenizer.unk_token_id and marker not in ids:
            ids.append(marker)
    return ids


__all__ = ["load_base", "load_trained", "stop_token_ids"]
