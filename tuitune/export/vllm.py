"""Serve a run with vLLM: the command, written as a script in the run's folder, after the checks
vLLM itself would make when it starts (so a user finds out now, not after loading a 70B base).

An adapter run is served as a LoRA on its base (`--enable-lora --lora-modules NAME=PATH`), which
keeps one base for many adapters; a fully fine-tuned or merged model is served as it is. Either way
the run's chat template goes with it (`--chat-template`): a base model's own template is not the
one the run trained with.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.errors import ExportError

# vLLM's `--max-lora-rank` takes one of these (vllm/config/lora.py, `MaxLoRARanks`); an adapter's
# rank is served under the smallest that holds it.
VLLM_LORA_RANKS: tuple[int, ...] = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# The layers vLLM applies LoRA to in decoder models like the ones tuitune trains (its packed
# qkv_proj / gate_up_proj are made of these); anything else it refuses when loading the adapter.
VLLM_LORA_MODULES: frozenset[str] = frozenset(
    {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "embed_tokens", "lm_head"}
)
SCRIPT_NAME = "serve-vllm.sh"


class VllmCheckError(ExportError):
    """vLLM would refuse to serve this adapter."""


@dataclass(frozen=True)
class LoraServing:
    """How vLLM serves an adapter: the `--max-lora-rank` it needs, and the modules it adapts."""

    max_lora_rank: int
    modules: tuple[str, ...]


def check_adapter(adapter: dict[str, Any], *, run_hint: str) -> LoraServing:
    """The checks vLLM makes on a peft adapter config; `run_hint` (e.g. "tuitune export 3 --to
    vllm --merge") is what the refusals offer instead."""
    rank = int(adapter.get("r") or 0)
    if rank < 1 or rank > VLLM_LORA_RANKS[-1]:
        raise VllmCheckError(
            f"vLLM serves LoRA ranks up to {VLLM_LORA_RANKS[-1]} and this adapter's rank is {rank}: "
            f"serve the merged model instead ({run_hint})."
        )
    if adapter.get("use_dora"):
        raise VllmCheckError(f"vLLM does not serve DoRA adapters: serve the merged model instead ({run_hint}).")
    if (adapter.get("bias") or "none") != "none":
        raise VllmCheckError(
            f"vLLM does not serve adapters that train biases (lora.bias is {adapter['bias']}): "
            f"serve the merged model instead ({run_hint})."
        )
    if adapter.get("modules_to_save"):
        saved = ", ".join(adapter["modules_to_save"])
        raise VllmCheckError(
            f"vLLM does not serve an adapter's fully trained modules ({saved}): serve the merged model instead "
            f"({run_hint})."
        )
    targets = adapter.get("target_modules") or []
    if isinstance(targets, str):
        raise VllmCheckError(
            f"The adapter names its layers by a pattern ({targets!r}), which vLLM does not read: "
            f"serve the merged model instead ({run_hint})."
        )
    unknown = sorted(set(targets) - VLLM_LORA_MODULES)
    if unknown:
        raise VllmCheckError(
            f"vLLM applies LoRA to {', '.join(sorted(VLLM_LORA_MODULES))}, not to {', '.join(unknown)}: "
            f"serve the merged model instead ({run_hint})."
        )
    serving_rank = next(allowed for allowed in VLLM_LORA_RANKS if allowed >= rank)
    return LoraServing(serving_rank, tuple(sorted(targets)))


def lora_command(
    base: str, adapter_path: Path, name: str, serving: LoraServing, chat_template: Path | None
) -> list[str]:
    command = [
        "vllm", "serve", base,
        "--enable-lora",
        "--lora-modules", f"{name}={adapter_path}",
        "--max-lora-rank", str(serving.max_lora_rank),
    ]  # fmt: skip
    return command + (["--chat-template", str(chat_template)] if chat_template else [])


def model_command(model_path: Path, name: str, chat_template: Path | None) -> list[str]:
    command = ["vllm", "serve", str(model_path), "--served-model-name", name]
    return command + (["--chat-template", str(chat_template)] if chat_template else [])


def script(command: Sequence[str], comments: Sequence[str]) -> str:
    """A shell script that runs `command` with any extra vLLM options the user adds."""
    lines = ["#!/bin/sh", *(f"# {line}" for line in comments), f'exec {shlex.join(command)} "$@"', ""]
    return "\n".join(lines)
