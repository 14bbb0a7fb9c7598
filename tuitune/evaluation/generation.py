"""Greedy generation for evaluation: batched, left-padded, prompts sorted by length."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tuitune.data.collate import pad_token_id
from tuitune.evaluation.report import ProgressCallback, report_progress

# torch and transformers are imported when a model is scored: importing tuitune.evaluation stays light.


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    batch_size: int = 8,
    max_prompt_length: int | None = None,
    add_special_tokens: bool = True,
    eos_token_ids: Sequence[int] | None = None,
    stage: str = "generating",
    progress: ProgressCallback | None = None,
    use_cache: bool = True,
    strip: bool = True,
) -> list[str]:
    """The model's greedy continuation of each prompt (special tokens removed, whitespace stripped
    unless `strip` is False: a reward function sees a completion as TRL decodes it, spaces and all).

    Decoder-only models continue from the last position of each row, so rows are padded on the
    left; a prompt longer than `max_prompt_length` keeps its end (where the answer cue is).
    Generation stops at any of `eos_token_ids` (default: the tokenizer's EOS). Each new token
    reuses the keys and values of those before it (`use_cache`), whatever the model's config says
    (a model saved from training says `use_cache: false`). benchmarks/eval_speed.py measures both.
    """
    import torch
    from transformers import GenerationConfig

    if not prompts:
        return []
    pad_id = pad_token_id(tokenizer)
    saved = (tokenizer.padding_side, tokenizer.truncation_side, tokenizer.pad_token)
    tokenizer.padding_side, tokenizer.truncation_side = "left", "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # A fresh config, so sampling settings shipped with the model cannot make this non-greedy.
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        pad_token_id=pad_id,
        eos_token_id=list(eos_token_ids) if eos_token_ids else tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        use_cache=use_cache,
    )
    # Similar lengths together: less padding, and the same batches whatever the input order.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    outputs: list[str] = [""] * len(prompts)
    device = _device(model)
    report_progress(progress, stage, 0, len(prompts))
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                indices = order[start : start + batch_size]
                encoded = tokenizer(
                    [prompts[i] for i in indices],
                    return_tensors="pt",
                    padding=True,
                    truncation=max_prompt_length is not None,
                    max_length=max_prompt_length,
                    add_special_tokens=add_special_tokens,
                ).to(device)
                generated = model.generate(
                    input_ids=encoded["input_ids"],
                    attention_mask=encoded["attention_mask"],
                    generation_config=config,
                )
                new_tokens = generated[:, encoded["input_ids"].shape[1] :]
                texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
                for i, text in zip(indices, texts, strict=True):
                    outputs[i] = text.strip() if strip else text
                report_progress(progress, stage, min(start + batch_size, len(order)), len(prompts))
    finally:
        tokenizer.padding_side, tokenizer.truncation_side, tokenizer.pad_token = saved
    return outputs


def _device(model: Any) -> Any:
    try:
        return model.device
    except AttributeError:
        return next(model.parameters()).device
