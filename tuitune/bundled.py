"""What ships with tuitune under its own names: the demo model and the sample datasets.

They look like Hub ids on purpose: they are names in tuitune's own namespace, resolved locally and
never downloaded. Here, apart from the config models, so that what only shows or compares these
names (the wizard's first step, the probe cache) paints without building pydantic's models.
"""

from __future__ import annotations

from pathlib import Path

DEMO_MODEL = "tuitune/demo"
SAMPLE_DATASET = "tuitune/sample"
# Generated from the sample's rows when read (tuitune/data/bundled_sets.py): pairs whose chosen
# answer is the sample's own and whose rejected one is a rude non-answer (dpo, orpo, simpo, kto),
# and prompts asking to repeat a digit, with the digit in an `answer` column (grpo).
SAMPLE_PREFERENCE = "tuitune/sample-preference"
SAMPLE_PROMPTS = "tuitune/sample-prompts"
SAMPLE_DATASETS: tuple[str, ...] = (SAMPLE_DATASET, SAMPLE_PREFERENCE, SAMPLE_PROMPTS)
# Where the demo model is built, under the models folder. Bump the suffix whenever its recipe
# (models/demo.py, or the sample data its tokenizer is trained on) changes, so an old build in a
# user's home is never mistaken for the new one.
DEMO_NAME = "demo-llama-v1"


def sample_file() -> Path:
    """The file the bundled sample sets are made from (tuitune/data/sample/sample.jsonl)."""
    return Path(__file__).resolve().parent / "data" / "sample" / "sample.jsonl"
