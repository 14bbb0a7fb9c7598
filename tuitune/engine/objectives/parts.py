"""What every objective's trainer is built from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.config import RunConfig


@dataclass
class TrainerParts:
    """What every objective's trainer is built from."""

    config: RunConfig
    model: Any
    tokenizer: Any
    prepared: Any  # tuitune.data.PreparedDataset
    arguments: Any  # what `arguments_for` returned
    callbacks: list[Any]
    collator: Any  # the CountingCollator (None: nothing counts the speed): SFT collates through it; the others have it count their own
    output: Path
    note: Callable[..., None]
