"""Early stopping (`training.early_stopping_patience`): transformers' own callback, which also
remembers why it stopped, and the trainer arguments it needs.

A run stopped early ends `completed`: it trained as far as it usefully could. The Trainer then
loads the best checkpoint (`load_best_model_at_end`), so the adapter saved is the best one's, and
checkpoint rotation never deletes that checkpoint. What happened is kept on the best checkpoint's
artifact (`meta["early_stop"]`, read by every face through `tuitune.runs.early_stop`) and said in
the run's events.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import EarlyStoppingCallback

from tuitune.config import RunConfig
from tuitune.runs.early_stop import stop_line
from tuitune.runs.metrics import EVAL_PREFIX, LOWER_IS_BETTER


def greater_is_better(metric: str) -> bool:
    """Whether a rise of the evaluation `metric` is an improvement (a loss's is not)."""
    return metric not in LOWER_IS_BETTER and metric.removeprefix(EVAL_PREFIX) not in LOWER_IS_BETTER


def argument_values(config: RunConfig, eval_steps: int) -> dict[str, Any]:
    """The trainer arguments early stopping needs; none when it is off."""
    t = config.training
    if t.early_stopping_patience is None:
        return {}
    return dict(
        eval_strategy="steps",
        eval_steps=eval_steps,
        # A checkpoint at every evaluation: the best one is then on disk to load at the end (the
        # Trainer keeps the best checkpoint besides the newest save_total_limit), and transformers
        # wants save_steps to be a multiple of eval_steps with load_best_model_at_end.
        save_strategy="steps",
        save_steps=eval_steps,
        load_best_model_at_end=True,
        metric_for_best_model=t.early_stopping_metric,
        greater_is_better=greater_is_better(t.early_stopping_metric),
    )


def settings_note(config: RunConfig, eval_steps: int) -> str:
    """The event that says how a run with early stopping will stop early."""
    t = config.training
    saves = "" if t.save_steps == eval_steps else f" (not every training.save_steps, {t.save_steps})"
    return (
        f"early stopping: after {t.early_stopping_patience} evaluation(s) without {t.early_stopping_metric} "
        f"improving by more than {t.early_stopping_threshold:g}; evaluated and saved every {eval_steps} steps{saves} "
        "so the best checkpoint can be kept and its weights saved"
    )


@dataclass(frozen=True)
class EarlyStop:
    """Why a run stopped before its total."""

    step: int
    metric: str
    value: float
    patience: int
    threshold: float


class StopCallback(EarlyStoppingCallback):
    """transformers' early stopping, remembering the evaluation at which it stopped the run.

    Its patience counter is not restored on a resume (transformers restores callback states only
    with `restore_callback_states_from_checkpoint`): a run resumed with a new total has its full
    patience again, measured against the best evaluation so far."""

    def __init__(self, config: RunConfig) -> None:
        t = config.training
        assert t.early_stopping_patience is not None
        super().__init__(t.early_stopping_patience, t.early_stopping_threshold)
        self.metric = t.early_stopping_metric
        self.stopped: EarlyStop | None = None

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float], **kwargs: Any) -> None:
        already = control.should_training_stop  # a cancel, or the end of the budget
        super().on_evaluate(args, state, control, metrics, **kwargs)
        if control.should_training_stop and not already and self.stopped is None:
            self.stopped = EarlyStop(
                step=state.global_step,
                metric=self.metric,
                value=float(metrics[self.metric]),
                patience=self.early_stopping_patience,
                threshold=float(self.early_stopping_threshold or 0.0),
            )


def record(stop: EarlyStop, state: Any) -> dict[str, Any]:
    """What the best checkpoint's artifact keeps of the stop (`meta["early_stop"]`), once the
    Trainer has saved and loaded the best checkpoint."""
    best = Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None
    return {
        "step": stop.step,
        "metric": stop.metric,
        "value": stop.value,
        "patience": stop.patience,
        "threshold": stop.threshold,
        "best_metric": float(state.best_metric) if state.best_metric is not None else None,
        "best_step": state.best_global_step or None,
        "best_checkpoint": best,
    }


def event(kept: dict[str, Any], weights: str) -> str:
    """The run's event for an early stop: when, why, and which checkpoint its weights are."""
    best = kept.get("best_metric")
    at = f"best {best:.4g} at step {kept['best_step']}" if best is not None and kept.get("best_step") else "no best"
    saved = (
        f"the saved {weights} is the best checkpoint's ({kept['best_checkpoint']})"
        if kept.get("best_checkpoint")
        else f"the saved {weights} is the last step's"
    )
    return (
        f"{stop_line(kept)}: {kept['metric']} did not improve by more than {kept['threshold']:g} for "
        f"{kept['patience']} evaluation(s) ({at}); {saved}"
    )
