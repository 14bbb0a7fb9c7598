"""A tokenizer as GGUF metadata: the vocabulary, its merges, how text is split, the special tokens.

A GGUF file has no `tokenizer.json`; llama.cpp, Ollama and transformers' GGUF reader rebuild the
tokenizer from these keys. Two kinds are written: byte-level BPE (GPT-2, Llama 3, Qwen, the demo
model: `tokenizer.ggml.model = gpt2`) and sentencepiece-style BPE with byte fallback (Llama 2,
Mistral: `llama`). How a byte-level tokenizer splits text before merging is named by llama.cpp's
`tokenizer.ggml.pre`, recognised here from the tokenizer's own split pattern; a tokenizer that
cannot be named is refused, since llama.cpp would split its text differently and the model would
read garbled ids. The round trip checks the ids anyway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitune.errors import ExportError

# llama.cpp's token types (gguf.TokenType): the numbers are the file format.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# The split patterns llama.cpp knows by name (its llama-vocab.cpp), as the tokenizers spell them.
_QWEN2 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)
SPLITS: dict[str, str] = {_QWEN2: "qwen2", _LLAMA3: "llama-bpe"}


@dataclass
class Vocabulary:
    """What `tokenizer.ggml.*` says, ready for GGUFWriter."""

    model: str  # gpt2 or llama
    pre: str | None
    tokens: list[str]
    types: list[int]
    merges: list[str]
    scores: list[float] | None = None
    special: dict[str, int] = field(default_factory=dict)  # bos, eos, eot, pad, unk -> id
    add_bos: bool = False
    add_eos: bool = False
    add_space_prefix: bool | None = None
    chat_template: str | None = None

    @property
    def end_of_turn_tokens(self) -> list[str]:
        """The tokens that end an answer: EOS and the end-of-turn marker, each once."""
        seen: list[str] = []
        for key in ("eos", "eot"):
            if key in self.special and self.tokens[self.special[key]] not in seen:
                seen.append(self.tokens[self.special[key]])
        return seen


def read_vocabulary(folder: Path, tokenizer: Any, vocab_size: int, *, chat_template: str | None) -> Vocabulary:
    """The vocabulary of the tokenizer saved in `folder` (its `tokenizer.json`), padded to the
    model's `vocab_size` with unused tokens, as llama.cpp's converter does."""
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise ExportError(
            f"{folder} has no tokenizer.json (a slow-only tokenizer): tuitune writes GGUF from fast tokenizers; "
            "export --to vllm instead."
        )
    spec = json.loads(path.read_text(encoding="utf-8"))
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise ExportError(
            f"The tokenizer is a {model.get('type') or 'unknown'} tokenizer; tuitune writes BPE tokenizers as GGUF: "
            "export --to vllm instead."
        )
    byte_fallback = bool(model.get("byte_fallback"))
    kind = "llama" if byte_fallback else "gpt2"
    pre = None if kind == "llama" else _split_name(spec.get("pre_tokenizer"))

    by_id: dict[int, str] = {int(i): t for t, i in model["vocab"].items()}
    types: dict[int, int] = {i: (BYTE if kind == "llama" and _is_byte(t) else NORMAL) for i, t in by_id.items()}
    for added in spec.get("added_tokens") or []:
        by_id[int(added["id"])] = added["content"]
        types[int(added["id"])] = CONTROL if added.get("special") else USER_DEFINED
    size = max(vocab_size, max(by_id) + 1)
    tokens, kinds = [], []
    for index in range(size):
        tokens.append(by_id.get(index, f"[PAD{index}]"))
        kinds.append(types.get(index, UNUSED))
    unk = model.get("unk_token")
    if unk is not None and unk in model["vocab"]:
        kinds[model["vocab"][unk]] = UNKNOWN

    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    vocabulary = Vocabulary(
        model=kind,
        pre=pre,
        tokens=tokens,
        types=kinds,
        merges=merges,
        scores=[-float(i) for i in range(size)] if kind == "llama" else None,
        chat_template=chat_template,
    )
    vocabulary.special = _special_ids(tokenizer, tokens)
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    vocabulary.add_bos = "bos" in vocabulary.special and probe[:1] == [vocabulary.special["bos"]] != bare[:1]
    vocabulary.add_eos = "eos" in vocabulary.special and probe[-1:] == [vocabulary.special["eos"]] != bare[-1:]
    if kind == "llama":
        vocabulary.add_space_prefix = _adds_space_prefix(spec)
    return vocabulary


def _special_ids(tokenizer: Any, tokens: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for key, attribute in (
        ("bos", "bos_token_id"),
        ("eos", "eos_token_id"),
        ("pad", "pad_token_id"),
        ("unk", "unk_token_id"),
    ):
        value = getattr(tokenizer, attribute, None)
        if isinstance(value, int) and 0 <= value < len(tokens):
            ids[key] = value
    # The end of a chat turn, where it is a token of its own (chatml's, Llama 3's).
    for marker in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"):
        if marker in tokens:
            ids["eot"] = tokens.index(marker)
            break
    return ids


def _split_name(pre_tokenizer: dict[str, Any] | None) -> str:
    """llama.cpp's name for how this byte-level tokenizer splits text, or an ExportError."""
    if not pre_tokenizer:
        raise ExportError("The tokenizer does not split text into words first; tuitune cannot name it for llama.cpp.")
    parts: list[dict[str, Any]] = (
        pre_tokenizer.get("pretokenizers") or [] if pre_tokenizer.get("type") == "Sequence" else [pre_tokenizer]
    )
    if len(parts) == 1 and parts[0].get("type") == "ByteLevel" and parts[0].get("use_regex", True):
        return "gpt-2"  # GPT-2's own pattern, inside the ByteLevel step
    if (
        len(parts) == 2
        and parts[0].get("type") == "Split"
        and parts[1].get("type") == "ByteLevel"
        and not parts[1].get("use_regex", True)
    ):
        pattern = (parts[0].get("pattern") or {}).get("Regex")
        if pattern in SPLITS:
            return SPLITS[pattern]
    raise ExportError(
        "tuitune does not know how llama.cpp names this tokenizer's way of splitting text (it knows GPT-2's, "
        "Llama 3's and Qwen's): export --to vllm instead, or convert the merged model with llama.cpp."
    )


def _is_byte(token: str) -> bool:
    return len(token) == 6 and token.startswith("<0x") and token.endswith(">")


def _adds_space_prefix(spec: dict[str, Any]) -> bool:
    """Whether a sentencepiece-style tokenizer puts ▁ before the first word."""
    text = json.dumps([spec.get("normalizer"), spec.get("pre_tokenizer")])
    return '"Prepend"' in text or '"prepend_scheme": "first"' in text or '"prepend_scheme": "always"' in text


def write_vocabulary(writer: Any, vocabulary: Vocabulary) -> None:
    """Add the `tokenizer.ggml.*` keys (and the chat template) to a GGUFWriter."""
    writer.add_tokenizer_model(vocabulary.model)
    if vocabulary.pre:
        writer.add_tokenizer_pre(vocabulary.pre)
    writer.add_token_list(vocabulary.tokens)
    writer.add_token_types(vocabulary.types)
    if vocabulary.scores is not None:
        writer.add_token_scores(vocabulary.scores)
    if vocabulary.merges:
        writer.add_token_merges(vocabulary.merges)
    adders = {
        "bos": writer.add_bos_token_id,
        "eos": writer.add_eos_token_id,
        "eot": writer.add_eot_token_id,
        "pad": writer.add_pad_token_id,
        "unk": writer.add_unk_token_id,
    }
    for key, token_id in vocabulary.special.items():
        adders[key](token_id)
    writer.add_add_bos_token(vocabulary.add_bos)
    writer.add_add_eos_token(vocabulary.add_eos)
    if vocabulary.add_space_prefix is not None:
        writer.add_add_space_prefix(vocabulary.add_space_prefix)
    if vocabulary.chat_template:
        writer.add_chat_template(vocabulary.chat_template)
