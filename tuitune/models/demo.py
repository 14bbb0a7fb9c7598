"""The built-in demo model: a tiny Llama with a tokenizer trained on the bundled sample dataset.

It is built locally on first use (a few seconds on a CPU, no network) under
`$TUITUNE_HOME/models/demo-llama-v1/` in the standard Hugging Face layout, so every tool that loads
`AutoModelForCausalLM.from_pretrained(path)` / `AutoTokenizer.from_pretrained(path)` can load it.
Fixed seeds make it the same bytes-for-weights model on every machine.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from tuitune.config import DEMO_NAME
from tuitune.system import paths

# torch, transformers and tokenizers are imported only when the model is built (once per machine):
# asking where the demo model is, or whether it exists, stays light.
SEED = 1234
VOCAB_SIZE = 2048

# No chat template on purpose: tuitune falls back to chatml, whose markers are single tokens here.
PAD, EOS, BOS = "<|pad|>", "<|endoftext|>", "<|bos|>"
CHATML = ("<|im_start|>", "<|im_end|>")
SPECIAL_TOKENS = [PAD, EOS, BOS, *CHATML]

# The tiny architecture: ~0.9M parameters, a training step takes milliseconds on a CPU.
ARCHITECTURE = dict(
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=1024,
    tie_word_embeddings=False,
)

# Template scaffolding the data layer may wrap examples in; training the tokenizer on it keeps
# those prompts a handful of tokens long.
_TEMPLATE_TEXT = [
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.",
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.",
    "### Instruction:\n",
    "### Input:\n",
    "### Response:\n",
    "system\n",
    "user\n",
    "assistant\n",
    "You are a helpful assistant.",
    "[INST] ",
    " [/INST] ",
    "<<SYS>>\n",
    "\n<</SYS>>\n\n",
    "User: ",
    "Assistant: ",
]


def sample_dataset_path() -> Path:
    """The bundled sample dataset (`tuitune/sample`)."""
    return Path(__file__).resolve().parent.parent / "data" / "sample" / "sample.jsonl"


def demo_model_path() -> Path:
    """Where the demo model lives (whether or not it is built yet)."""
    return paths.models_dir() / DEMO_NAME


def is_built(path: Path | None = None) -> bool:
    path = path or demo_model_path()
    return (
        (path / "config.json").is_file()
        and (path / "model.safetensors").is_file()
        and (path / "tokenizer.json").is_file()
    )


def ensure_demo_model() -> Path:
    """Return the demo model's folder, building it first if this home does not have it yet.

    The build happens in a temporary sibling folder that is renamed into place in one step, so a
    concurrent process sees either no model or a whole one; if two processes build at once, the
    first rename wins and the other discards its copy.
    """
    target = demo_model_path()
    if is_built(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{DEMO_NAME}.building-", dir=target.parent))
    try:
        _build(staging)
        try:
            os.rename(staging, target)
        except OSError:
            # Someone else finished first (the target now exists and is not empty).
            if not is_built(target):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _corpus() -> list[str]:
    # Repeated so the template markers clear min_frequency and become whole tokens.
    texts: list[str] = _TEMPLATE_TEXT * 20
    with sample_dataset_path().open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            texts.extend(value for value in (row["instruction"], row.get("input", ""), row["output"]) if value)
    return texts


def build_tokenizer():  # -> PreTrainedTokenizerFast (untyped: transformers is imported lazily)
    """A byte-level BPE tokenizer trained on the sample data: any text encodes, nothing is unknown."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD,
        eos_token=EOS,
        bos_token=BOS,
        additional_special_tokens=list(CHATML),
        padding_side="right",
        model_max_length=ARCHITECTURE["max_position_embeddings"],
    )


def _build(folder: Path) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **ARCHITECTURE,
    )
    # Seed only a private generator state: the caller's global RNG is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(CHATML[1])],
        pad_token_id=tokenizer.pad_token_id,
    )
    # A one-shard progress bar on stderr is noise for a build that takes a second.
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(folder)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    tokenizer.save_pretrained(folder)
