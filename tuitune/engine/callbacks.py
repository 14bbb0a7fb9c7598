"""Trainer callbacks that report a run into the store and stop it gracefully on request.

The training loop itself never waits on SQLite: the callbacks update in-memory progress and
write one metric point per logging step (when the Trainer has already synced to read the loss);
a background thread writes the heartbeat. Token counts come from the collator on the CPU, so
measuring tokens/s adds no device synchronisation. Each metric point carries the speed since the
point before, evaluations and saves left out; the run's own speed is its mean over the time it
trained (every token trained over every second spent training, across resumes: the totals live in
each checkpoint's notes), so one slow interval never stands for the whole run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from tuitune.engine import checkpoint_notes
from tuitune.engine.collective import any_rank, group_sum
from tuitune.engine.stop import StopRequest
from tuitune.runs import metrics
from tuitune.runs.lookup import HEARTBEAT_SECONDS
from tuitune.store import Store
from tuitune.system.memory import process_memory_gb

# torch is imported inside the function that reads CUDA memory, as the training stack is everywhere
# in tuitune (here transformers, imported above, has loaded it already).

CANCEL_POLL_SECONDS = 2.0


class CountingCollator:
    """Wraps a collator and counts the real (non-padding) tokens it hands to the model.

    A preference trainer's own collator is wrapped in its place (`wrap`): its batches hold both
    answers of each pair, in one mask (dpo, kto) or one per answer (orpo, simpo). GRPO's batches
    are prompts that the trainer completes itself; it counts prompt and completion tokens in its
    state, which the callback reads instead (`from_state`).
    """

    def __init__(self, inner: Callable[[list[dict[str, Any]]], Any]) -> None:
        self.inner = inner
        self.tokens = 0
        self.from_state = False

    def wrap(self, trainer: Any) -> None:
        """Count what `trainer`'s own collator hands its model."""
        self.inner, trainer.data_collator = trainer.data_collator, self

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        batch = self.inner(features)
        self.tokens += batch_tokens(batch)
        return batch


def batch_tokens(batch: Any) -> int:
    """The real tokens of a collated batch (0 for one that is not tensors, such as GRPO's prompts)."""
    if not isinstance(batch, dict):
        return 0
    masks = [batch["attention_mask"]] if "attention_mask" in batch else []
    masks = masks or [batch[key] for key in ("chosen_attention_mask", "rejected_attention_mask") if key in batch]
    if masks:
        return sum(int(mask.sum()) for mask in masks)
    # Padding-free (packed) batches carry no mask: every token is real.
    return int(batch["input_ids"].numel()) if "input_ids" in batch else 0


@dataclass
class Progress:
    """What the heartbeat thread reports; written by the callbacks, read by the thread."""

    steps_done: int = 0
    steps_total: int | None = None
    epoch: float | None = None
    tokens_per_second: float | None = None
    changed: bool = True


class Heartbeat:
    """A daemon thread that tells the store this run is alive, even while a model loads."""

    def __init__(self, store: Store, run_id: int, progress: Progress, interval: float = HEARTBEAT_SECONDS) -> None:
        self.store, self.run_id, self.progress, self.interval = store, run_id, progress, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tuitune-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.beat()

    def beat(self) -> None:
        p = self.progress
        try:
            self.store.heartbeat(
                self.run_id,
                steps_done=p.steps_done,
                steps_total=p.steps_total,
                epoch=p.epoch,
                tokens_per_second=p.tokens_per_second,
            )
        except Exception:
            pass

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()


@dataclass
class StoreCallback(TrainerCallback):
    """Writes a metric point at every logging and evaluation step; keeps `Progress` current."""

    store: Store
    run_id: int
    progress: Progress
    counter: CountingCollator | None = None
    resumed_from: Path | None = None  # the checkpoint this session goes on from
    _last_time: float = field(default=0.0, init=False)
    _last_tokens: int = field(default=0, init=False)
    _step_end: tuple[float, int] = field(default=(0.0, 0), init=False)  # when the last step ended, tokens then
    # Every token trained and every second spent training, since the run's first step.
    trained_tokens: float = field(default=0.0, init=False)
    trained_seconds: float = field(default=0.0, init=False)

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self.progress.steps_total = state.max_steps
        self.progress.steps_done = state.global_step
        self._read_state_tokens(state)  # a resumed GRPO run's count goes on from its checkpoint's
        self._last_time = time.perf_counter()
        self._last_tokens = self.counter.tokens if self.counter else 0
        self._step_end = (self._last_time, self._last_tokens)
        notes = checkpoint_notes.read(self.resumed_from)
        self.trained_tokens = float(notes.get("trained_tokens") or 0.0)
        self.trained_seconds = float(notes.get("trained_seconds") or 0.0)
        self.progress.tokens_per_second = self.mean_speed()
        self.store.heartbeat(
            self.run_id,
            steps_done=state.global_step,
            steps_total=state.max_steps,
            tokens_per_second=self.progress.tokens_per_second,
        )

    def mean_speed(self) -> float | None:
        """The run's tokens per second over the time it trained (None before its first log)."""
        if self.trained_seconds <= 0 or self.trained_tokens <= 0:
            return None
        return self.trained_tokens / self.trained_seconds

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self._read_state_tokens(state)
        self.progress.steps_done = state.global_step
        self.progress.epoch = state.epoch
        self._step_end = (time.perf_counter(), self.counter.tokens if self.counter else 0)

    def _read_state_tokens(self, state: TrainerState) -> None:
        if self.counter is not None and self.counter.from_state:
            self.counter.tokens = int(state.num_input_tokens_seen or 0)

    def _leave_out_since_step_end(self) -> None:
        """What happened since the step ended (an evaluation, a save) is not training: its time
        and the tokens it collated (evaluation batches go through the same collator) are left out
        of the speed."""
        ended, tokens = self._step_end
        now = time.perf_counter()
        self._last_time += now - max(self._last_time, ended)
        if self.counter is not None:
            self._last_tokens += self.counter.tokens - tokens
        self._step_end = (now, self.counter.tokens if self.counter else 0)

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self._leave_out_since_step_end()

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self._leave_out_since_step_end()
        # A line in the run's story: where a resume would start from now.
        try:
            self.store.add_event(self.run_id, f"checkpoint saved at step {state.global_step}")
        except Exception:
            pass
        if state.is_world_process_zero:
            checkpoint_notes.write(
                checkpoint_notes.checkpoint_folder(args.output_dir, state.global_step),
                trained_tokens=self.trained_tokens,
                trained_seconds=self.trained_seconds,
            )

    def _throughput(self) -> float | None:
        """Trained tokens per second since the last log, of the whole group (every rank calls this)."""
        if self.counter is None:
            return None
        now = time.perf_counter()
        elapsed = now - self._last_time
        tokens = group_sum(self.counter.tokens - self._last_tokens)
        self._last_time, self._last_tokens = now, self.counter.tokens
        if elapsed <= 0 or tokens <= 0:
            return None
        self.trained_tokens += tokens
        self.trained_seconds += elapsed
        return tokens / elapsed

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kw: Any,
    ) -> None:
        logs = logs or {}
        if "train_runtime" in logs:
            return  # the end-of-training summary: recorded on the run instead
        # Every other number it logged (a preference run's rewards, GRPO's reward spread…).
        extra = metrics.logged_extra(logs)
        if "loss" not in logs and "eval_loss" not in logs and not extra:
            return
        point: dict[str, Any] = {"step": state.global_step, "epoch": state.epoch}
        if "loss" in logs:
            point["loss"] = logs["loss"]
            point["learning_rate"] = logs.get("learning_rate")
            point["grad_norm"] = logs.get("grad_norm")
            speed = self._throughput()
            point["tokens_per_second"] = speed
            if speed is not None:
                self.progress.tokens_per_second = self.mean_speed()
        if "eval_loss" in logs:
            point["eval_loss"] = logs["eval_loss"]
        point.update(_memory_readings())
        point["extra"] = extra
        self.store.add_metric_points(self.run_id, [point])
        if state.is_world_process_zero:
            # The log line keeps to the columns and the objectives' key curves; the store has the rest.
            told = {k: v for k, v in point.items() if k != "extra"}
            told.update((k, v) for k, v in extra.items() if k.removeprefix(metrics.EVAL_PREFIX) in metrics.IN_LOG_LINES)
            shown = " ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in told.items() if v is not None
            )
            print(f"[metrics] {shown}", flush=True)


def _memory_readings() -> dict[str, float | None]:
    import torch

    gpu = None
    if torch.cuda.is_available():
        # The allocator's own counter: no device sync, unlike querying the driver.
        gpu = torch.cuda.max_memory_allocated() / 2**30
    return {"gpu_memory_gb": gpu, "cpu_memory_gb": process_memory_gb()}


@dataclass
class CancelCallback(TrainerCallback):
    """Stops training after the current step, saving a checkpoint, when a stop is requested."""

    store: Store
    run_id: int
    stop: StopRequest
    _next_poll: float = field(default=0.0, init=False)

    def requested(self) -> bool:
        if self.stop.is_set():
            return True
        now = time.monotonic()
        if now >= self._next_poll:
            # Another host (or a face without our pid) may only have set the flag in the store.
            self._next_poll = now + CANCEL_POLL_SECONDS
            try:
                if self.store.cancel_requested(self.run_id):
                    self.stop.set()
            except Exception:
                pass
        return self.stop.is_set()

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        if any_rank(self.requested()):
            self.stop.set()
            control.should_save = True
            control.should_training_stop = True
