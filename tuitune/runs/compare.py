"""Runs side by side: the settings that differ, the final losses, speed and evaluation scores.

Used by `tuitune compare` and the TUI's comparison screen (which also overlays the loss curves).
Light: reads the store only, never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, computed_field

from tuitune.runs.documents import RunSummary, run_summary
from tuitune.store import Run, Store

# Keys that differ between any two runs by nature and say nothing about how they trained.
IGNORED_KEYS: frozenset[str] = frozenset({"name", "training.output_dir"})


class CurvePoint(BaseModel):
    """One logged step of a run: training loss, evaluation loss, or both (either may be None)."""

    step: int
    epoch: float | None
    loss: float | None
    eval_loss: float | None


class Comparison(BaseModel):
    """Runs in the order given, the dotted config keys whose values differ, and the loss curves:
    `tuitune compare --json`."""

    runs: list[RunSummary]
    differences: dict[str, list[Any]]  # dotted key -> one value per run, in `runs` order
    curves: dict[int, list[CurvePoint]]  # run id -> its logged points, in step order (keys are text in JSON)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def metrics(self) -> list[str]:
        """Every evaluation metric any of the runs has a fine-tuned score for, in first-seen order."""
        names: list[str] = []
        for summary in self.runs:
            names += [name for name in summary.scores if name not in names]
        return names


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"lora": {"r": 8}}` -> `{"lora.r": 8}`; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def config_differences(configs: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """The dotted keys whose values are not the same in every config (a missing key counts as None)."""
    flats = [flatten(config) for config in configs]
    keys: list[str] = []
    for flat in flats:
        keys += [key for key in flat if key not in keys]
    differences: dict[str, list[Any]] = {}
    for key in keys:
        if key in IGNORED_KEYS:
            continue
        values = [flat.get(key) for flat in flats]
        if any(value != values[0] for value in values[1:]):
            differences[key] = values
    return differences


def loss_curve(run_id: int, store: Store) -> list[CurvePoint]:
    """A run's logged training and evaluation losses, in step order."""
    return [
        CurvePoint(step=point.step, epoch=point.epoch, loss=point.loss, eval_loss=point.eval_loss)
        for point in store.metric_points(run_id)
        if point.loss is not None or point.eval_loss is not None
    ]


def compare_runs(runs: Sequence[Run], store: Store, *, curves: bool = True) -> Comparison:
    """Compare `runs` (in the order given); `curves=False` skips reading their metric points."""
    return Comparison(
        runs=[run_summary(run, store) for run in runs],
        differences=config_differences([run.config for run in runs]),
        curves={run.id: loss_curve(run.id, store) for run in runs} if curves else {},
    )
