"""Runs side by side: the settings that differ, the final losses, speed and evaluation scores.

Used by `tuitune compare` and the TUI's comparison screen (which also overlays the loss curves).
Light: reads the store only, never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tuitune.store import BASE, FINETUNED, Run, Store

# Keys that differ between any two runs by nature and say nothing about how they trained.
IGNORED_KEYS: frozenset[str] = frozenset({"name", "training.output_dir"})


@dataclass(frozen=True)
class CurvePoint:
    """One logged step of a run: training loss, evaluation loss, or both (either may be None)."""

    step: int
    epoch: float | None
    loss: float | None
    eval_loss: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "loss": self.loss, "eval_loss": self.eval_loss}


@dataclass(frozen=True)
class RunSummary:
    """What one run achieved, as one column of the comparison."""

    run_id: int
    name: str
    status: str
    method: str
    model: str
    dataset: str
    train_loss: float | None
    eval_loss: float | None
    best_eval_loss: float | None
    steps: int
    duration_seconds: float | None
    tokens_per_second: float | None
    scores: dict[str, float] = field(default_factory=dict)  # the latest fine-tuned evaluation
    base_scores: dict[str, float] = field(default_factory=dict)  # the latest base evaluation

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Comparison:
    """Runs in the order given, the dotted config keys whose values differ, and the loss curves."""

    runs: list[RunSummary]
    differences: dict[str, list[Any]]  # dotted key -> one value per run, in `runs` order
    curves: dict[int, list[CurvePoint]]  # run id -> its logged points, in step order

    @property
    def metrics(self) -> list[str]:
        """Every evaluation metric any of the runs has a fine-tuned score for, in first-seen order."""
        names: list[str] = []
        for summary in self.runs:
            names += [name for name in summary.scores if name not in names]
        return names

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [summary.to_dict() for summary in self.runs],
            "differences": self.differences,
            "metrics": self.metrics,
            "curves": {str(run_id): [p.to_dict() for p in points] for run_id, points in self.curves.items()},
        }


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
        CurvePoint(point.step, point.epoch, point.loss, point.eval_loss)
        for point in store.metric_points(run_id)
        if point.loss is not None or point.eval_loss is not None
    ]


def _latest_metrics(run_id: int, store: Store, label: str) -> dict[str, float]:
    for evaluation in store.evaluations(run_id):  # newest first
        if evaluation.label == label:
            return {k: v for k, v in evaluation.metrics.items() if isinstance(v, (int, float))}
    return {}


def summarize(run: Run, store: Store) -> RunSummary:
    """One run's column: final and best losses, steps, time, speed, latest scores."""
    return RunSummary(
        run_id=run.id,
        name=run.name,
        status=run.status,
        method=run.method,
        model=run.model,
        dataset=run.dataset,
        train_loss=run.train_loss if run.train_loss is not None else run.last_loss,
        eval_loss=run.last_eval_loss,
        best_eval_loss=run.best_eval_loss,
        steps=run.steps_done or 0,
        duration_seconds=run.duration_seconds,
        tokens_per_second=run.tokens_per_second,
        scores=_latest_metrics(run.id, store, FINETUNED),
        base_scores=_latest_metrics(run.id, store, BASE),
    )


def compare_runs(runs: Sequence[Run], store: Store, *, curves: bool = True) -> Comparison:
    """Compare `runs` (in the order given); `curves=False` skips reading their metric points."""
    return Comparison(
        runs=[summarize(run, store) for run in runs],
        differences=config_differences([run.config for run in runs]),
        curves={run.id: loss_curve(run.id, store) for run in runs} if curves else {},
    )
