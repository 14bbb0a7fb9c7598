"""Where tuitune keeps its things: `TUITUNE_HOME`, else the platform's user data folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

HOME_ENV = "TUITUNE_HOME"


def home() -> Path:
    """The folder holding the store, the runs and the demo model (created on first use)."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        root = Path(configured).expanduser()
    else:
        from platformdirs import user_data_dir

        root = Path(user_data_dir("tuitune", appauthor=False))
    root.mkdir(parents=True, exist_ok=True)
    return root


def database_path() -> Path:
    return home() / "tuitune.db"


def runs_dir() -> Path:
    return home() / "runs"


def models_dir() -> Path:
    return home() / "models"


def slug(name: str) -> str:
    """A run name made safe for a folder name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return cleaned[:60] or "run"


def run_dir(run_id: int, name: str) -> Path:
    """`$TUITUNE_HOME/runs/<id>-<name>/`, the default output folder of a run."""
    return runs_dir() / f"{run_id}-{slug(name)}"
