"""An alpaca-style instruction set with a real-world length mix, made from the bundled sample data.

The bundled sample's answers are short (8 to 53 words): every sample fits in under 100 tokens of
the demo tokenizer, which hides what padding and packing cost. Public instruction sets are not
like that: in Alpaca-GPT4 and Dolly most answers are a sentence or a paragraph, and a long tail
runs to several hundred tokens (lists, essays, code). This module writes such a mix without a
download: each row keeps a real instruction from the sample, and its answer joins as many real
sample answers as a length drawn from a log-normal needs (median about 100 words, one row in ten
over 300, some past `max_length` so truncation happens too). Rows with an `input` keep it, so
prompts vary in length as well. A fixed seed makes it the same file on every machine.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from tuitune.data.sources import sample_dataset_path

MEDIAN_WORDS = 100
SPREAD = 0.9  # sigma of the log-normal: p10 ~ 32 words, p90 ~ 317, p99 ~ 800


def length_mix_rows(rows: int = 800, *, seed: int = 0, median_words: int = MEDIAN_WORDS) -> list[dict[str, str]]:
    """`rows` alpaca rows whose answers follow the length mix (see the module docstring); a large
    `median_words` makes nearly every row longer than any max_length (batches at full length)."""
    sample = [json.loads(line) for line in sample_dataset_path().read_text(encoding="utf-8").splitlines() if line]
    chooser = random.Random(seed)
    made: list[dict[str, str]] = []
    for _ in range(rows):
        row = chooser.choice(sample)
        target = max(1, round(math.exp(chooser.gauss(math.log(median_words), SPREAD))))
        answer = [row["output"]]
        words = len(row["output"].split())
        while words < target:
            extra = chooser.choice(sample)["output"]
            answer.append(extra)
            words += len(extra.split())
        made.append({"instruction": row["instruction"], "input": row.get("input", ""), "output": "\n\n".join(answer)})
    return made


def write_length_mix(path: Path, rows: int = 800, *, seed: int = 0, median_words: int = MEDIAN_WORDS) -> Path:
    """Write `length_mix_rows` to `path` as JSON lines; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in length_mix_rows(rows, seed=seed, median_words=median_words):
            handle.write(json.dumps(row) + "\n")
    return path
