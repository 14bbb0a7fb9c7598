"""What tuitune keeps in a checkpoint beside the Trainer's own state, for a resume from it to go
on where the run was: the tokens and seconds trained so far (the run's mean speed) and where the
learning-rate schedule stood (`tuitune.engine.schedule`). One small JSON file per checkpoint,
`tuitune.json`, so it is rotated and deleted with its checkpoint. Light: no torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuitune.system import paths

NOTES = "tuitune.json"


def checkpoint_folder(output_dir: str, step: int) -> Path:
    """The folder the Trainer saves its checkpoint of `step` in (`output_dir` is its own)."""
    return Path(output_dir) / f"checkpoint-{step}"


def read(checkpoint: Path | None) -> dict[str, Any]:
    """The notes kept in `checkpoint` (none for a checkpoint of an older version, or no checkpoint)."""
    if checkpoint is None:
        return {}
    try:
        notes = json.loads((checkpoint / NOTES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return notes if isinstance(notes, dict) else {}


def write(checkpoint: Path, **values: Any) -> None:
    """Add `values` to the notes of `checkpoint` (a folder the Trainer has just saved)."""
    if not checkpoint.is_dir():
        return
    paths.write_private_text(checkpoint / NOTES, json.dumps({**read(checkpoint), **values}, indent=2) + "\n")


def trainer_max_steps(checkpoint: Path | None) -> int | None:
    """The total steps the Trainer was training to when it saved `checkpoint`."""
    if checkpoint is None:
        return None
    try:
        value = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8")).get("max_steps")
    except (OSError, ValueError, AttributeError):
        return None
    return int(value) if isinstance(value, (int, float)) and value > 0 else None
