"""What the engine checks before a run's first step, without loading the model's weights.

The worker calls it first thing; the app's wizard calls the same function before Launch, so it
refuses exactly what a launched run would fail on: the precision for this machine, the tokenizer,
the data (read, checked against the method, templated, tokenized, split), the Trainer's arguments.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.config import RunConfig


@dataclass
class Preflight:
    """The tokenizer and the prepared data a run will train on."""

    tokenizer: Any
    prepared: Any


def preflight(config: RunConfig, *, tokenizer: Any = None) -> Preflight:
    """Raise the `TuituneError` a run of `config` would fail with before its first step, if any."""
    from tuitune.data import prepare_dataset
    from tuitune.engine.arguments import resolve_precision, training_arguments
    from tuitune.models.loading import load_tokenizer

    resolve_precision(config)
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(config.model)
    prepared = prepare_dataset(config.data, tokenizer, method=config.method, batch_size=config.training.batch_size)
    with tempfile.TemporaryDirectory() as scratch:
        training_arguments(config, Path(scratch), has_validation=len(prepared.validation) > 0)
    return Preflight(tokenizer, prepared)
