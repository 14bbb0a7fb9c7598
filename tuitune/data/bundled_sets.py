"""The bundled preference and prompt sets, generated from the sample dataset when they are read.

Both are toys the demo model can learn in a few dozen steps on a CPU, so a test (or a first run)
shows the objective working:

- `tuitune/sample-preference`: every sample row as a pair whose chosen answer is the row's own
  and whose rejected answer is one of a few rude non-answers. The chosen answers share what the
  rejected lack (they answer), so DPO raises the reward accuracy on held-out pairs.
- `tuitune/sample-prompts`: prompts asking to repeat one digit, with that digit in an `answer`
  column: a one-token answer that an exact-match reward checks.

Nothing is downloaded or written: the rows are built from the sample's own file, the same way
every time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuitune.data.examples import join_instruction_input

# What the rejected answers say instead of answering (a row's index picks one, so they vary).
REJECTED_ANSWERS: tuple[str, ...] = (
    "I don't care. Ask someone else.",
    "No. Figure it out yourself.",
    "Whatever. That is a boring question.",
    "Why would I tell you?",
)
# The phrasings of the prompts set; `{digit}` is the answer.
PROMPT_PHRASINGS: tuple[str, ...] = (
    "Say the digit: {digit}",
    "Repeat this digit: {digit}",
    "Write the digit {digit} and nothing else.",
    "Echo the digit {digit}.",
    "Reply with the digit {digit}.",
    "Type this digit back: {digit}",
    "What digit is this? {digit}",
    "Copy the digit: {digit}",
)


def preference_rows(sample: Path) -> list[dict[str, Any]]:
    """`tuitune/sample-preference`: a prompt, the sample's answer as chosen, a rude one rejected."""
    rows = []
    for index, row in enumerate(_sample_rows(sample)):
        prompt = join_instruction_input(row["instruction"], row.get("input", ""))
        rejected = REJECTED_ANSWERS[index % len(REJECTED_ANSWERS)]
        rows.append({"prompt": prompt, "chosen": row["output"], "rejected": rejected})
    return rows


def prompt_rows() -> list[dict[str, Any]]:
    """`tuitune/sample-prompts`: every phrasing for every digit, with the digit as the answer."""
    return [
        {"prompt": phrasing.format(digit=digit), "answer": str(digit)}
        for phrasing in PROMPT_PHRASINGS
        for digit in range(10)
    ]


def _sample_rows(sample: Path) -> list[dict[str, Any]]:
    with sample.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
