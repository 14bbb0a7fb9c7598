"""A random-initialised Qwen2-style model for the GGUF tests, built in seconds and offline.

It differs from the demo model (Llama) where GGUF files break: a Qwen2 byte-level tokenizer
(Qwen's split pattern, then bytes), tied input and output embeddings, attention biases, a large
rope base, and no q/k permutation in the file.
"""

from __future__ import annotations

from pathlib import Path

from tuitune.export.gguf.vocab import SPLITS

QWEN2_SPLIT = next(pattern for pattern, name in SPLITS.items() if name == "qwen2")
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "Hello Ada, it is good to see you. Let us talk about the weather.",
    "The quick brown fox jumps over the lazy dog 1234567890 times.",
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.",
    "### Instruction:\nGreet Linus.\n\n### Response:\nHello Linus!",
    "user\nWhat is 2 + 2?\nassistant\nFour. Unicode too: café, naïve, 日本語.",
]


def build_qwen2(folder: Path) -> Path:
    """Save a tiny random Qwen2ForCausalLM with its tokenizer in `folder`."""
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL[1:],
    )  # fmt: skip
    config = Qwen2Config(
        vocab_size=len(fast) + 6,  # padded past the tokenizer, as real checkpoints are
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        rope_theta=1_000_000.0,
        tie_word_embeddings=True,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        bos_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        model = Qwen2ForCausalLM(config)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
