"""Runs side by side: the settings that differ, the final losses, their objectives' key curves
(reward margin and accuracy for a preference run, mean reward for GRPO), speed and evaluation scores.

Used by `tuitune compare`, GET /compare and the TUI's comparison screen (which also overlays the
curves). Runs of different objectives are compared on every key curve any of them has; each curve
says which runs have it. Where the runs came from (data versions, weights, the training stack's
versions, git) is compared in words: `lineage_differences`. Light: reads the store only, never
imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, computed_field

from tuitune.runs import lineage, metrics
from tuitune.runs.documents import KeyCurveDocument, RunSummary, run_summary
from tuitune.store import MetricPoint, Run, Store

# Keys that differ between any two runs by nature and say nothing about how they trained.
IGNORED_KEYS: frozenset[str] = frozenset({"name", "training.output_dir"})


class CurvePoint(BaseModel):
    """One logged step of a run: training loss, evaluation loss, or both (either may be None), and
    its objective's key curves at that step."""

    step: int
    epoch: float | None
    loss: float | None
    eval_loss: float | None
    extra: dict[str, float | None] = Field(
        default_factory=dict,
        description="The run's key curves logged at this step, under the trainer's names (rewards/margins; "
        "eval_rewards/margins at an evaluation).",
    )


class ComparedCurve(KeyCurveDocument):
    """A key curve of one or more of the compared runs' objectives."""

    run_ids: list[int] = Field(description="The runs whose objective has this curve, in the comparison's order.")


class Comparison(BaseModel):
    """Runs in the order given, the dotted config keys whose values differ, and the loss curves:
    `tuitune compare --json`."""

    runs: list[RunSummary]
    differences: dict[str, list[Any]]  # dotted key -> one value per run, in `runs` order
    curves: dict[int, list[CurvePoint]]  # run id -> its logged points, in step order (keys are text in JSON)
    key_curves: list[ComparedCurve] = Field(
        default_factory=list,
        description="Every key curve of the runs' objectives, the first run's first; none when all train sft.",
    )
    lineage_differences: list[str] = Field(
        default_factory=list,
        description="Where the runs came from differs, in words: the data's versions, the model's weights, the "
        "training stack's versions, the git commit (`tuitune.runs.lineage`).",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def metrics(self) -> list[str]:
        """Every evaluation metric any of the runs has a fine-tuned score for, in first-seen order."""
        names: list[str] = []
        for summary in self.runs:
            names += [name for name in summary.scores if name not in names]
        return names

    def only_some(self) -> list[ComparedCurve]:
        """The key curves that some of the runs do not have (their objectives differ)."""
        return [curve for curve in self.key_curves if len(curve.run_ids) < len(self.runs)]

    def summary(self, run_id: int) -> RunSummary:
        """The column of one of the compared runs."""
        return next(summary for summary in self.runs if summary.run_id == run_id)


def only_in(curve: ComparedCurve, comparison: Comparison) -> str:
    """`only #3, #4 (dpo)`: which runs have a curve the others' objectives do not log."""
    runs = [comparison.summary(run_id) for run_id in curve.run_ids]
    objectives = sorted({summary.objective for summary in runs})
    return f"only {', '.join(f'#{summary.run_id}' for summary in runs)} ({', '.join(objectives)})"


def compared_curves(summaries: Sequence[RunSummary]) -> list[ComparedCurve]:
    """The union of the runs' key curves, in the order the runs and their objectives list them."""
    found: dict[str, ComparedCurve] = {}
    for summary in summaries:
        for curve in metrics.key_curves(summary.objective):
            if curve.key not in found:
                found[curve.key] = ComparedCurve(key=curve.key, label=curve.label, share=curve.share, run_ids=[])
            found[curve.key].run_ids.append(summary.run_id)
    return list(found.values())


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


def _key_values(point: MetricPoint, keys: Sequence[str]) -> dict[str, float | None]:
    return {key: point.extra[key] for key in keys if point.extra.get(key) is not None}


def loss_curve(run_id: int, store: Store, key_curves: Sequence[str] = ()) -> list[CurvePoint]:
    """A run's logged training and evaluation losses, in step order, with the `key_curves` (the
    trainer's names) it logged beside them, and their evaluations'."""
    keys = [*key_curves, *(metrics.EVAL_PREFIX + key for key in key_curves)]
    return [
        CurvePoint(
            step=point.step,
            epoch=point.epoch,
            loss=point.loss,
            eval_loss=point.eval_loss,
            extra=_key_values(point, keys),
        )
        for point in store.metric_points(run_id)
        if point.loss is not None or point.eval_loss is not None
    ]


def compare_runs(runs: Sequence[Run], store: Store, *, curves: bool = True) -> Comparison:
    """Compare `runs` (in the order given); `curves=False` skips reading their metric points."""
    summaries = [run_summary(run, store) for run in runs]
    key_curves = compared_curves(summaries)
    return Comparison(
        runs=summaries,
        differences=config_differences([run.config for run in runs]),
        curves={
            run.id: loss_curve(run.id, store, [curve.key for curve in key_curves if run.id in curve.run_ids])
            for run in runs
        }
        if curves
        else {},
        key_curves=key_curves,
        lineage_differences=lineage.differences([(f"run {run.id}", run.lineage) for run in runs]),
    )
