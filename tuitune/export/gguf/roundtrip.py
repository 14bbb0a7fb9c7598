"""Load a written GGUF back and check that it computes what the model it came from computes.

transformers reads the file the way llama.cpp does (its tensor names, its q/k layout, its
tokenizer keys) and dequantizes it, so comparing the two models' logits on the run's own held-out
prompts tests everything a wrong file gets wrong: a missing permutation shows at F32, a wrong
vocabulary in the token ids, a broken quantization in the greedy tokens. The models are loaded one
after the other, never both at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tuitune.errors import ExportError

# Each quantization's bar. Lossless-ish types are held to the logits themselves, lossy ones to the
# model's greedy choices: Q8_0 changes almost none, Q4_0 some (what the 4 bits cost).
MAX_ABS: dict[str, float] = {"f32": 1e-5, "f16": 1e-2, "bf16": 5e-2}
AGREEMENT: dict[str, float] = {"q8_0": 0.99, "q4_0": 0.80, "q4_k_m": 0.85, "q5_k_m": 0.9, "q6_k": 0.95}
# Longest prompt compared, in tokens: enough positions for agreement to mean something, and the
# logits of a large vocabulary stay small in memory.
MAX_TOKENS = 64


class RoundTripError(ExportError):
    """The written file does not compute what the model does."""


@dataclass(frozen=True)
class RoundTrip:
    """What the round trip measured."""

    quant: str
    prompts: int
    positions: int
    tokens_equal: bool
    max_abs_logit_diff: float
    greedy_agreement: float
    bar: str  # what had to hold, in words
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return (
            f"round trip ({self.quant}, {self.prompts} prompts, {self.positions} positions): "
            f"max |logit diff| {self.max_abs_logit_diff:.2e}, greedy agreement {self.greedy_agreement:.1%}, "
            f"token ids {'equal' if self.tokens_equal else 'DIFFERENT'}; needed {self.bar}"
        )


def bar_of(quant: str) -> str:
    if quant in MAX_ABS:
        return f"max |logit diff| <= {MAX_ABS[quant]:g}"
    return f"greedy agreement >= {AGREEMENT[quant]:.0%}"


def round_trip(
    model_folder: Path, gguf_path: Path, prompts: Sequence[str], *, quant: str, add_special_tokens: bool
) -> RoundTrip:
    """Compare the model in `model_folder` with `gguf_path` on `prompts` (raises nothing: see `passed`)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not prompts:
        raise ExportError("No prompts to check the exported file with: the run's data gave none.")
    reference_tokenizer = AutoTokenizer.from_pretrained(model_folder)
    read_back_tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    ids = [reference_tokenizer(p, add_special_tokens=add_special_tokens)["input_ids"][:MAX_TOKENS] for p in prompts]
    back_ids = [
        read_back_tokenizer(p, add_special_tokens=add_special_tokens)["input_ids"][:MAX_TOKENS] for p in prompts
    ]
    tokens_equal = ids == back_ids

    with torch.inference_mode():
        reference = AutoModelForCausalLM.from_pretrained(model_folder, dtype=torch.float32).eval()
        expected = [reference(torch.tensor([row])).logits[0] for row in ids if row]
        del reference
        read_back = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
        ).eval()
        got = [read_back(torch.tensor([row])).logits[0] for row in ids if row]
        del read_back
    positions = sum(e.shape[0] for e in expected)
    max_abs = max(float((e - g).abs().max()) for e, g in zip(expected, got))
    agree = sum(int((e.argmax(-1) == g.argmax(-1)).sum()) for e, g in zip(expected, got)) / max(positions, 1)
    passed = max_abs <= MAX_ABS[quant] if quant in MAX_ABS else agree >= AGREEMENT[quant]
    return RoundTrip(
        quant=quant,
        prompts=len(expected),
        positions=positions,
        tokens_equal=tokens_equal,
        max_abs_logit_diff=max_abs,
        greedy_agreement=agree,
        bar=bar_of(quant),
        passed=passed and tokens_equal,
    )
