"""Where a run's trained weights are: `adapter/` (LoRA, QLoRA, instruction tuning) or `model/`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.errors import RunStateError
from tuitune.store import Run

ADAPTER_CONFIG = "adapter_config.json"


@dataclass(frozen=True)
class RunWeights:
    """A run's saved weights: `kind` is "adapter" or "model"."""

    kind: str
    path: Path

    @property
    def is_adapter(self) -> bool:
        return self.kind == "adapter"


def run_weights(run: Run, *, action: str = "use") -> RunWeights:
    """The run's saved adapter or model folder, or a RunStateError saying why there is none yet.

    `action` names what the caller wants to do ("evaluate", "merge", "upload") for the message.
    A run that is still active is refused, except from inside its own training process (the
    engine merges a run with `merge_after_training` before it marks the run completed).
    """
    if run.is_active and run.pid != os.getpid():
        raise RunStateError(
            f"Run {run.id} ({run.name}) is still {run.status}: wait for it to finish "
            f"(`tuitune logs {run.id} -f`), then {action} it."
        )
    method = run.config.get("method", run.method)
    kind = "model" if method == "full_finetuning" else "adapter"
    folder = Path(run.output_dir or "") / kind
    marker = ADAPTER_CONFIG if kind == "adapter" else "config.json"
    if not run.output_dir or not (folder / marker).is_file():
        if run.is_resumable:
            hint = f"resume it with `tuitune resume {run.id}` to finish training"
        else:
            hint = "train it to completion first"
        raise RunStateError(
            f"Run {run.id} ({run.name}) has no saved {kind} yet (status {run.status}, no {folder}): "
            f"{hint}, then {action} it."
        )
    return RunWeights(kind, folder)


def adapter_config(adapter_dir: Path) -> dict[str, Any]:
    """The adapter's `adapter_config.json` as a dict."""
    return json.loads((Path(adapter_dir) / ADAPTER_CONFIG).read_text(encoding="utf-8"))
