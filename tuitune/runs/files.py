"""A stored run's configuration and the files of its folder, named once.

The store holds a run's configuration (the truth); its folder's `config.yaml` is written from
what the store holds, by `save_config` and nowhere else, so the two never disagree. Light: the
store, the config and the standard library.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuitune.config import RunConfig, parse_config
from tuitune.runs import folder as run_folder
from tuitune.store import Run, Store
from tuitune.system import paths

CONFIG_NAME = "config.yaml"
LOG_NAME = "worker.log"
CHECKPOINTS = "checkpoints"


def folder_of(run: Run) -> Path:
    """The run's own folder (where its worker runs and writes)."""
    return Path(run.output_dir or paths.run_dir(run.id, run.name))


def log_path(run: Run) -> Path:
    """The worker's log: everything the run printed, tracebacks included."""
    return folder_of(run) / LOG_NAME


def run_config(run: Run) -> RunConfig:
    """The run's configuration, checked: a store edited by hand gives a clear ConfigError."""
    return parse_config(run.config, f"run {run.id}")


def save_config(run_id: int, config: RunConfig, *, store: Store, **changes: Any) -> Run:
    """Make `config` what run `run_id` trains (with other column `changes` in the same write):
    the store first, then the folder's `config.yaml` from what the store now holds."""
    store.update_run(run_id, config=config.to_dict(), **changes)
    run = store.get_run(run_id)
    folder = folder_of(run)
    paths.make_private_dir(folder)
    paths.write_private_text(folder / CONFIG_NAME, run_config(run).to_yaml())
    run_folder.record(folder, CONFIG_NAME)
    return run


def checkpoint_step(checkpoint: Path) -> int:
    """The global step a Trainer `checkpoint-N` folder was saved at (ValueError if not one)."""
    return int(checkpoint.name.split("-")[-1])


def last_checkpoint(output_dir: Path) -> Path | None:
    """The newest `checkpoint-N` folder that holds a complete trainer state."""
    folder = output_dir / CHECKPOINTS
    if not folder.is_dir():
        return None
    candidates = []
    for entry in folder.iterdir():
        if entry.name.startswith("checkpoint-") and (entry / "trainer_state.json").exists():
            try:
                candidates.append((checkpoint_step(entry), entry))
            except ValueError:
                continue
    return next((entry for _, entry in sorted(candidates, reverse=True) if _is_complete(entry)), None)


def _is_complete(checkpoint: Path) -> bool:
    """Whether the Trainer finished writing `checkpoint`. It writes trainer_state.json last, so a
    worker killed while saving (SIGKILL, the OOM killer) leaves it empty or cut short: resuming from
    that folder would fail, the one before it is the last whole checkpoint."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # a cut JSON, or bytes cut inside a UTF-8 sequence
        return False
    return True


def checkpoint_epoch(checkpoint: Path) -> float:
    """How far (in epochs) the Trainer had got when it wrote this checkpoint."""
    try:
        return float(json.loads((checkpoint / "trainer_state.json").read_text()).get("epoch") or 0.0)
    except (OSError, ValueError, TypeError):
        return 0.0


def trained_template(run: Run, store: Store) -> tuple[str | None, str | None]:
    """(template, data format) the run trained with, as its worker recorded them on its weights."""
    for artifact in store.artifacts(run.id):
        if artifact.kind in ("adapter", "model") and artifact.meta.get("template"):
            return artifact.meta["template"], artifact.meta.get("format")
    return None, None
