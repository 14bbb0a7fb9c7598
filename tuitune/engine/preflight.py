"""What the engine checks before a run's first step, without loading the model's weights.

The worker calls it first thing, and the app's wizard calls the same function before Launch (in
its probe process: the training stack never loads in a face), so each refuses exactly what a
launched run would fail on: the precision for this machine, the tokenizer, the data (read, checked
against the method, templated, tokenized, split), the Trainer's arguments. `tuitune train` runs
its light half (`check_sources`: the data readable, the model there) before it records a run.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.config import DEMO_MODEL, ModelSettings, RunConfig
from tuitune.data import prepare_dataset
from tuitune.data.split import load_examples
from tuitune.models.loading import load_tokenizer, model_load_error, resolve_model_path
from tuitune.system.hub import hub_offline


@dataclass
class Preflight:
    """The tokenizer and the prepared data a run will train on."""

    tokenizer: Any
    prepared: Any


def preflight(config: RunConfig, *, tokenizer: Any = None) -> Preflight:
    """Raise the `TuituneError` a run of `config` would fail with before its first step, if any."""
    # Imported here: engine.arguments imports transformers (and torch), which `check_sources` and
    # the CLI that calls it never load.
    from tuitune.engine.arguments import resolve_precision, training_arguments

    resolve_precision(config)
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(config.model)
    prepared = prepare_dataset(
        config.data,
        tokenizer,
        method=config.method,
        objective=config.objective,
        chosen_only=config.preference.chosen_only,
        batch_size=config.training.batch_size,
    )
    with tempfile.TemporaryDirectory() as scratch:
        training_arguments(config, Path(scratch), has_validation=len(prepared.validation) > 0)
    if config.objective == "grpo":
        # Imported here: only grpo runs load reward functions.
        from tuitune.engine.objectives.grpo_checks import check_grpo

        prepared.stats.warnings.extend(check_grpo(config, tokenizer, prepared))
    return Preflight(tokenizer, prepared)


def check_sources(config: RunConfig) -> None:
    """The light half of the preflight, in this process, before a face records a run: the data
    is read and parsed (what the wizard's data step reads), and the model is there: the demo, a
    local folder with its config.json, or a Hub id that the Hub (or, offline, its cache) knows.
    No tokenizer and no training stack are loaded: a run refused here costs a fraction of a
    second, and one that passes starts at once (the worker runs the whole `preflight`)."""
    load_examples(
        config.data, method=config.method, objective=config.objective, chosen_only=config.preference.chosen_only
    )
    _check_model(config.model)


def _check_model(model: ModelSettings) -> None:
    name = model.name_or_path
    if name == DEMO_MODEL:
        return  # built on first use by whoever loads it
    path = resolve_model_path(name)  # a missing or unusable local path is refused here
    if path != name or Path(name).expanduser().is_dir():
        if not (Path(path) / "config.json").is_file():
            raise model_load_error(name, FileNotFoundError(f"{path}/config.json"))
        return
    # Imported here: huggingface_hub's errors cost ~0.1 s, and only a Hub id gets this far.
    from huggingface_hub import model_info, try_to_load_from_cache
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        if isinstance(try_to_load_from_cache(name, "config.json", revision=model.revision), str):
            return  # downloaded before: the worker loads it from the cache, online or not
        if hub_offline():
            raise LocalEntryNotFoundError(f"{name} is not in the local cache")
        model_info(name, revision=model.revision, timeout=15)
    except Exception as error:
        raise model_load_error(name, error, revision=model.revision) from None
