"""Random-initialised models from architecture configs: benchmarks that download nothing.

Each entry is a transformers config: the small Llamas the CPU benchmarks train, and the GPU
suite's copies of real architectures (Qwen2.5-0.5B, Qwen2.5-1.5B and Llama-3-8B: the layer
shapes, heads, vocabulary and RoPE of the published config.json files). Weights are random, so
losses mean nothing beyond "it learns", but every matmul, the logits' memory and the FLOPs per
token are those of the real model. The tokenizer is tuitune's demo tokenizer: its 2,048 ids are a
subset of every vocabulary here, so the embedding and the output head keep their real size.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

# name -> (model_type, config fields). Parameter counts are with the demo tokenizer's vocabulary
# for the small ones, and the real vocabulary for the others.
ARCHITECTURES: dict[str, tuple[str, dict[str, Any]]] = {
    # ~4M: the size at which packing lost to padding on the CPU.
    "llama-4m": (
        "llama",
        dict(
            hidden_size=256,
            intermediate_size=688,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=2048,
            max_position_embeddings=1024,
            tie_word_embeddings=False,
        ),
    ),
    # ~11M: the benchmark's default, where the work is in the model rather than the loop.
    "llama-11m": (
        "llama",
        dict(
            hidden_size=384,
            intermediate_size=1024,
            num_hidden_layers=6,
            num_attention_heads=6,
            num_key_value_heads=2,
            vocab_size=2048,
            max_position_embeddings=1024,
            tie_word_embeddings=False,
        ),
    ),
    # ~19M
    "llama-19m": (
        "llama",
        dict(
            hidden_size=512,
            intermediate_size=1376,
            num_hidden_layers=6,
            num_attention_heads=8,
            num_key_value_heads=2,
            vocab_size=2048,
            max_position_embeddings=1024,
            tie_word_embeddings=False,
        ),
    ),
    # Qwen/Qwen2.5-0.5B's config.json (0.49B parameters).
    "qwen2.5-0.5b": (
        "qwen2",
        dict(
            hidden_size=896,
            intermediate_size=4864,
            num_hidden_layers=24,
            num_attention_heads=14,
            num_key_value_heads=2,
            vocab_size=151936,
            max_position_embeddings=32768,
            rope_theta=1000000.0,
            rms_norm_eps=1e-6,
            tie_word_embeddings=True,
            hidden_act="silu",
            attention_dropout=0.0,
            use_sliding_window=False,
        ),
    ),
    # Qwen/Qwen2.5-1.5B's config.json (1.54B parameters).
    "qwen2.5-1.5b": (
        "qwen2",
        dict(
            hidden_size=1536,
            intermediate_size=8960,
            num_hidden_layers=28,
            num_attention_heads=12,
            num_key_value_heads=2,
            vocab_size=151936,
            max_position_embeddings=131072,
            rope_theta=1000000.0,
            rms_norm_eps=1e-6,
            tie_word_embeddings=True,
            hidden_act="silu",
            attention_dropout=0.0,
            use_sliding_window=False,
        ),
    ),
    # meta-llama/Meta-Llama-3-8B's config.json (8.03B parameters).
    "llama-3-8b": (
        "llama",
        dict(
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            vocab_size=128256,
            max_position_embeddings=8192,
            rope_theta=500000.0,
            rms_norm_eps=1e-5,
            tie_word_embeddings=False,
            hidden_act="silu",
        ),
    ),
}


# What `--dry-run`s shrink every architecture to: the same model type and wiring (a Qwen2 stays a
# Qwen2, with its biases and tied head), a few hundred thousand parameters.
TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=2048,
    max_position_embeddings=1024,
)


def tiny(name: str) -> str:
    """The name of `name`'s tiny twin (`qwen2.5-0.5b` -> `tiny-qwen2.5-0.5b`), for dry runs on a CPU."""
    return name if name.startswith("tiny-") else f"tiny-{name}"


def model_config(name: str) -> Any:
    """The transformers config of architecture `name`, with the demo tokenizer's special ids."""
    from transformers import AutoConfig

    from tuitune.models.demo import BOS, EOS, PAD, SPECIAL_TOKENS

    if name.startswith("tiny-"):
        model_type, fields = ARCHITECTURES[name.removeprefix("tiny-")]
        fields = {**fields, **TINY}
    else:
        model_type, fields = ARCHITECTURES[name]
    ids = {token: SPECIAL_TOKENS.index(token) for token in (PAD, EOS, BOS)}
    return AutoConfig.for_model(
        model_type, **fields, bos_token_id=ids[BOS], eos_token_id=ids[EOS], pad_token_id=ids[PAD]
    )


def parameter_count(name: str) -> int:
    """Parameters of architecture `name`, counted on the meta device (no memory, no time)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config(name))
    return sum(p.numel() for p in model.parameters())


def build_model(name: str, folder: Path, *, seed: int = 0, device: str = "cpu", dtype: str = "float32") -> Path:
    """Write a random-initialised `name` and the demo tokenizer to `folder` (kept when already there).

    `device="cuda"` initialises on the GPU, which takes seconds for an 8B model where a CPU takes
    minutes; the weights are saved in `dtype`.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tuitune.models.demo import ensure_demo_model

    marker = folder / "built.json"
    if marker.is_file() and json.loads(marker.read_text()) == {"name": name, "seed": seed, "dtype": dtype}:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(model_config(name), dtype=getattr(torch, dtype))
    model.save_pretrained(folder)
    del model
    AutoTokenizer.from_pretrained(ensure_demo_model()).save_pretrained(folder)
    marker.write_text(json.dumps({"name": name, "seed": seed, "dtype": dtype}))
    return folder
