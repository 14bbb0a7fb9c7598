"""The learning-rate schedule across resumes: a resume with a new total goes on from the LR it had.

The Trainer shapes its schedule (warmup, then linear, cosine… decay) for the run's total steps. A
resume with another total (`--max-steps`, `--epochs`) would reshape it for the new total and jump to
that shape's value at the checkpoint's step: a cosine resumed at step 80 of 100 to 200 steps would
leap from 10% of the peak LR to 65%. So tuitune follows the schedule in its own terms, its
*length* (the total its shape was made for) and its *position* along that shape, kept in every
checkpoint (`tuitune.engine.checkpoint_notes`):

- A resume with the same total changes nothing.
- A resume at step c with a new total N stretches (or squeezes) what was left of the shape over the
  steps c..N: the LR goes on from its value at the checkpoint and reaches the shape's end at N.
- A resume after the shape has ended (a completed run trained further) has nothing left to stretch
  (a decayed schedule would train at its final LR, 0 for linear and cosine): the extra steps get a
  schedule of their own, the same shape with its warmup over c..N, as a new run from the trained
  weights would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from tuitune.engine import checkpoint_notes

# torch and transformers' scheduler are imported inside the functions, as the training stack is
# everywhere in tuitune (here transformers, imported above, has loaded torch already).


@dataclass(frozen=True)
class Segment:
    """From `start` (a step) on, position = `position` + (step - `start`) * `rate`, along a shape of
    `length` steps."""

    start: int
    position: float
    rate: float
    length: int

    def position_at(self, step: float) -> float:
        return self.position + (step - self.start) * self.rate


def resumed_segment(step: int, total: int, position: float, length: int) -> Segment:
    """The schedule of a run resumed at `step` to `total` steps, its shape (of `length`) at `position`."""
    if position >= length:  # the shape had ended: the extra steps get one of their own
        return Segment(step, 0.0, 1.0, max(total - step, 1))
    return Segment(step, position, (length - position) / max(total - step, 1), length)


@dataclass
class ScheduleCallback(TrainerCallback):
    """Keeps the LR continuous across a resume with a new total (see the module's docstring) and
    notes the schedule's position in every checkpoint."""

    resumed_from: Path | None = None
    note: Callable[[str], None] | None = None  # tells the run's story (its events)
    segment: Segment | None = field(default=None, init=False)

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        lr_scheduler: Any = None,
        **kw: Any,
    ) -> None:
        step, total = state.global_step, state.max_steps
        # The Trainer's own schedule, shaped for this total (a checkpoint of an older version
        # kept no notes: its schedule was the Trainer's, shaped for the total it was saved under).
        own = Segment(0, 0.0, 1.0, total)
        if self.resumed_from is None:
            self.segment = own
            return
        notes = checkpoint_notes.read(self.resumed_from)
        length = int(notes.get("schedule_length") or checkpoint_notes.trainer_max_steps(self.resumed_from) or total)
        position = float(notes.get("schedule_position", step))
        if position == step and length == total:
            self.segment = own
            return
        self.segment = resumed_segment(step, total, position, length)
        if _follow(lr_scheduler, self.segment, args) and self.note is not None:
            if position >= length:
                self.note(
                    f"learning rate: the schedule had ended; steps {step}-{total} follow one of their own "
                    f"({args.lr_scheduler_type}, warmup included)"
                )
            else:
                self.note(f"learning rate: the rest of the schedule is stretched to step {total}, going on from here")

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        if self.segment is None or not state.is_world_process_zero:
            return
        checkpoint_notes.write(
            checkpoint_notes.checkpoint_folder(args.output_dir, state.global_step),
            schedule_position=self.segment.position_at(state.global_step),
            schedule_length=self.segment.length,
        )


def _follow(lr_scheduler: Any, segment: Segment, args: TrainingArguments) -> bool:
    """Make the Trainer's scheduler follow `segment` from its current step on (False: it cannot)."""
    from torch.optim.lr_scheduler import LambdaLR

    scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate wraps it
    if not isinstance(scheduler, LambdaLR):
        return False
    shape = _shape(args, segment.length)

    def factor(step: int) -> float:
        return float(shape(segment.position_at(step)))

    scheduler.lr_lambdas = [factor for _ in scheduler.optimizer.param_groups]
    rates = [base * factor(scheduler.last_epoch) for base in scheduler.base_lrs]
    for group, rate in zip(scheduler.optimizer.param_groups, rates):
        group["lr"] = rate
    scheduler._last_lr = rates
    return True


def _shape(args: TrainingArguments, length: int) -> Any:
    """The Trainer's own LR factor for a run of `length` steps: the same scheduler, warmup and options."""
    import torch
    from transformers import get_scheduler

    # Only the factor is wanted; some shapes (polynomial) read the optimizer's LR.
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=args.learning_rate)
    scheduler = get_scheduler(
        args.lr_scheduler_type,
        optimizer=optimizer,
        num_warmup_steps=args.get_warmup_steps(length),
        num_training_steps=length,
        scheduler_specific_kwargs=args.lr_scheduler_kwargs or {},
    )
    return scheduler.lr_lambdas[0]
