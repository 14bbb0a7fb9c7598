"""The Python API: `tuitune.train(config)` trains in this process and records the run in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuitune.config import RunConfig, load_config, parse_config
from tuitune.engine.launcher import create_run
from tuitune.engine.preflight import check_sources
from tuitune.engine.runner import TrainResult, execute
from tuitune.errors import UsageError
from tuitune.runs import notify
from tuitune.store import Store, open_store


def _as_config(config: RunConfig | dict[str, Any] | str | Path) -> RunConfig:
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, dict):
        return parse_config(config, "train(config)")
    return load_config(config)


def train(config: RunConfig | dict[str, Any] | str | Path, *, store: Store | None = None) -> TrainResult:
    """Train in this process (for notebooks and scripts); the run appears in `tuitune runs` like any other.

    Raises a `TuituneError` (already recorded on the run) if training fails.
    """
    store = store or open_store()
    final = _as_config(config)
    if final.backend == "slurm":
        raise UsageError(
            "tuitune.train() trains in this process, but the config's backend is slurm (a SLURM job): submit it "
            "with tuitune.RunService().launch(config) or `tuitune train --backend slurm`, or set backend: local."
        )
    check_sources(final)  # a run that could not start is refused before it is recorded
    run = create_run(final.model_copy(update={"backend": "local"}), store=store)  # here, whatever the store says
    try:
        return execute(run.id, store)
    finally:
        notify.run_ended(run.id, store)


__all__ = ["TrainResult", "train"]
