"""Run one training job end to end: load, prepare, train, save, record. Used by the worker and `train()`."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.config import RunConfig
from tuitune.data import make_collator
from tuitune.engine import early_stop, trackers
from tuitune.engine.arguments import training_arguments
from tuitune.engine.callbacks import (
    CancelCallback,
    CountingCollator,
    Heartbeat,
    Progress,
    StoreCallback,
)
from tuitune.engine.methods import prepare_for_method
from tuitune.engine.objectives import TrainerParts, build_trainer
from tuitune.engine.preflight import preflight
from tuitune.engine.schedule import ScheduleCallback
from tuitune.engine.space import free_reserve, keep_reserve
from tuitune.engine.speed import tune_for_speed
from tuitune.engine.stop import StopRequest
from tuitune.engine.watch import WatchCallback
from tuitune.errors import (
    DiskFullError,
    OutOfMemoryError,
    StoreError,
    StoreFullError,
    TrainingError,
    TuituneError,
    UnexpectedTrainingError,
)
from tuitune.export.merge import merge_run
from tuitune.models.loading import load_model, resolve_model_path
from tuitune.runs import folder as run_folder
from tuitune.runs import lineage as run_lineage
from tuitune.runs.early_stop import EARLY_STOP
from tuitune.runs.files import checkpoint_step, folder_of, last_checkpoint, run_config
from tuitune.store import CANCELLED, COMPLETED, FAILED, RUNNING, Store
from tuitune.system.disk import describe_disk, is_disk_full

OOM_HINT = (
    "Out of memory: lower --batch-size (raise --grad-accum to keep the effective batch), "
    "lower --max-length, turn on gradient checkpointing, or use --method qlora."
)


@dataclass
class TrainResult:
    """What a finished (or stopped) run produced."""

    run_id: int
    name: str
    status: str
    output_dir: str
    train_loss: float | None
    eval_loss: float | None
    steps_completed: int
    elapsed_seconds: float
    weights_dir: str | None
    train_runtime: float = 0.0  # seconds inside the training loop (no loading)
    tokens_trained: int = 0  # real (non-padding) tokens fed to the model in this session

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def describe_failure(error: BaseException) -> TuituneError:
    """Map any exception from the training stack to a one-line `TuituneError`."""
    if isinstance(error, TuituneError) and not isinstance(error, DiskFullError):
        return error
    text = str(error)
    name = type(error).__name__
    if is_disk_full(error):
        return DiskFullError("No space left on a disk tuitune writes to.")
    if name == "OutOfMemoryError" or "out of memory" in text.lower():
        return OutOfMemoryError(OOM_HINT)
    lost = _lost_peer(text)
    if lost:
        return TrainingError(
            f"This process lost the rest of its group ({lost}): another process stopped or cannot be reached. "
            "The run's events name which; resume it once the machines can reach each other."
        )
    first = text.strip().splitlines()[0] if text.strip() else ""
    return UnexpectedTrainingError(f"Training failed: {name}: {first[:400]} (full traceback in the run's worker.log).")


# What gloo and NCCL say when a peer process is gone or silent.
_PEER_SIGNS = (
    ("connection reset by peer", "connection reset by peer"),
    ("connection closed by peer", "connection closed by peer"),
    ("timed out", "timed out waiting for the others"),
    ("watchdog", "NCCL watchdog timeout"),
    ("nccl error", "NCCL error"),
)


def _lost_peer(text: str) -> str | None:
    lowered = text.lower()
    if "gloo" not in lowered and "nccl" not in lowered and "distributed" not in lowered:
        return None
    return next((words for sign, words in _PEER_SIGNS if sign in lowered), None)


def _disk_full(run_id: int, error: BaseException, output: Path, store: Store) -> DiskFullError:
    """Which disk filled up, and what to do, for a run stopped by it."""
    where = store.path if isinstance(error, StoreFullError) else output
    return DiskFullError(
        f"No space left on {describe_disk(where)} (writing {where}): free some space, then "
        f"`tuitune resume {run_id}` continues from the last checkpoint."
    )


def _record_failure(store: Store, run_id: int, failure: TuituneError, progress: Progress, output: Path) -> None:
    if isinstance(failure, DiskFullError):
        free_reserve(store.path)  # room for the lines that say what happened
    try:
        # The heartbeat's last word may not have been written (a full disk): the steps are said
        # here, with the checkpoint a resume would start from.
        saved = last_checkpoint(output)
        store.update_run(run_id, steps_done=progress.steps_done, **({"checkpoint": str(saved)} if saved else {}))
        store.set_status(run_id, FAILED, error=str(failure))
    except StoreError:
        # Nothing more can be written: the run's log says why, and the run is marked crashed
        # (resumable) once its worker is gone.
        pass


def execute(
    run_id: int,
    store: Store,
    *,
    resume: bool = False,
    stop: StopRequest | None = None,
    in_group: bool = False,
    progress: Progress | None = None,
    config: RunConfig | None = None,
) -> TrainResult:
    """Train run `run_id` in this process, reporting into `store`. Raises `TuituneError` on failure,
    after recording it on the run.

    `in_group`: this process is one rank of a group (`tuitune.engine.group`), whose supervisor is
    the run's process: its pid is not recorded, and `store` lets it write only what its rank may.
    """
    stop = stop or StopRequest()
    run = store.get_run(run_id)
    config = config or run_config(run)  # the worker passes the one it parsed
    output = folder_of(run)
    started = time.monotonic()
    if run.status == CANCELLED:
        # Cancelled while queued, before this worker started: leave it cancelled, train nothing.
        return TrainResult(run_id, run.name, CANCELLED, str(output), None, None, run.steps_done or 0, 0.0, None)
    # A cancel requested while the run was queued stays set: the callbacks act on it.
    if not in_group:
        store.update_run(run_id, pid=os.getpid(), host=socket.gethostname())
    store.set_status(run_id, RUNNING)
    progress = progress or Progress()
    keep_reserve(store.path)
    try:
        # Everything written in the run's folder while it trains is recorded as tuitune's.
        with (
            run_folder.recording(output),
            Heartbeat(store, run_id, progress),
            _no_progress_bars(),
            trackers.environment(config, output, run_id),  # where training.report_to's trackers write
        ):
            result = _train(run_id, config, output, store, progress, stop, resume=resume)
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            store.set_status(run_id, CANCELLED, error="Interrupted before a checkpoint was saved.")
            raise
        failure = describe_failure(error)
        if isinstance(failure, DiskFullError):
            failure = _disk_full(run_id, error, output, store)
        _record_failure(store, run_id, failure, progress, output)
        if failure is error:
            raise
        raise failure from error
    finally:
        # When a run ends its lines leave the write-ahead log for the store file itself.
        with contextlib.suppress(StoreError):
            store.checkpoint()
    result.elapsed_seconds = time.monotonic() - started
    return result


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """No carriage-return progress bars in worker.log while a run trains: those of the datasets.map
    calls TRL's trainers make ("Tokenizing train dataset") and of TRL's own loops ("Computing
    reference log probs", a tqdm that only TQDM_DISABLE turns off). Put back afterwards, for a
    program that called `tuitune.train()`."""
    # Imported here: the datasets library is heavy (the training stack is loaded by now anyway).
    from datasets.utils import logging as datasets_logging

    bars_were_on = datasets_logging.is_progress_bar_enabled()
    saved = os.environ.get("TQDM_DISABLE")
    datasets_logging.disable_progress_bar()
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if bars_were_on:
            datasets_logging.enable_progress_bar()
        if saved is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = saved


def _note(store: Store, run_id: int):
    quiet = getattr(store, "quiet", False)  # a rank that does not tell the run's story

    def note(message: str, level: str = "info") -> None:
        if not quiet:
            print(f"[{level}] {message}", flush=True)
        store.add_event(run_id, message, level=level)

    return note


def _train(
    run_id: int,
    config: RunConfig,
    output: Path,
    store: Store,
    progress: Progress,
    stop: StopRequest,
    *,
    resume: bool,
) -> TrainResult:
    # Imported here, as the training stack is everywhere in tuitune (engine.callbacks, imported
    # above, has loaded transformers already).
    from transformers import PrinterCallback, set_seed
    from transformers.utils import logging as hf_logging

    # worker.log is read by people and by the TUI's log tail: no carriage-return progress bars
    # (the others' are off while the run trains: `_no_progress_bars`).
    hf_logging.disable_progress_bar()
    note = _note(store, run_id)
    set_seed(config.training.seed)
    note(f"loading tokenizer {config.model.name_or_path}")
    # The same checks the app's wizard runs before Launch (tuitune.engine.preflight).
    checked = preflight(config)
    tokenizer, prepared = checked.tokenizer, checked.prepared
    note(
        f"data: {prepared.format} format, template {prepared.template.name}, {len(prepared.train)} training and "
        f"{len(prepared.validation)} validation samples; {prepared.stats.corpus}"
    )
    for line in [*prepared.stats.notes, *([prepared.stats.tools] if prepared.stats.tools else [])]:
        note(f"data: {line}")
    for warning in prepared.stats.warnings:
        note(f"data: {warning}", "warning")
    if stop.is_set():
        return _stopped_early(run_id, config, output, store, stop)

    note(f"loading model {config.model.name_or_path} ({config.method})")
    model = load_model(config.model, for_training=True)
    # Resolved now (the demo model is built on first use): its weights hash or Hub commit, and git's dirty flag.
    run_lineage.record_worker_lineage(
        store, run_id, config.model.name_or_path, resolve_model_path(config.model.name_or_path), config.model.revision
    )
    model = prepare_for_method(model, config, note)
    config = tune_for_speed(config, model, note)  # packing, attention and kernels for this machine, said in the events
    if stop.is_set():
        return _stopped_early(run_id, config, output, store, stop)

    has_validation = len(prepared.validation) > 0
    args = training_arguments(config, output, has_validation=has_validation)
    counter = CountingCollator(make_collator(tokenizer, packing=config.data.packing))
    checkpoint = last_checkpoint(output) if resume else None
    callbacks = [
        # Both go on from the checkpoint's notes: the run's mean speed, its LR schedule.
        StoreCallback(store, run_id, progress, counter, resumed_from=checkpoint),
        WatchCallback(store, run_id),  # warns, in words, when the run is going wrong
        ScheduleCallback(resumed_from=checkpoint, note=note),
        CancelCallback(store, run_id, stop),
    ]
    stopper = early_stop.StopCallback(config) if config.training.early_stopping_patience else None
    if stopper is not None:
        callbacks.append(stopper)
        note(early_stop.settings_note(config, int(args.eval_steps or 0)))
    trainer = build_trainer(TrainerParts(config, model, tokenizer, prepared, args, callbacks, counter, output, note))
    trackers.attach(trainer, config, store, run_id)  # tuitune's config to them, where their data is to the events
    # Training starts from the run's seed, whatever building the trainer drew from the random
    # generators: a preference trainer may compute its reference's log-probabilities while it is
    # built (a pass whose data loaders draw from them), and a dpo run with an adapter decides that
    # by its step budget. Without this its batches and dropout would depend on the budget, and a
    # run stopped and resumed with another budget would not end where the uninterrupted run ends.
    set_seed(config.training.seed)

    # Our StoreCallback prints one line per log; the Trainer's own printer would repeat it.
    trainer.remove_callback(PrinterCallback)

    if resume and checkpoint is None:
        note("no checkpoint to resume from: training starts over", "warning")
        store.delete_metric_points_after(run_id, -1)
    elif checkpoint is not None:
        step = checkpoint_step(checkpoint)
        store.delete_metric_points_after(run_id, step)
        note(f"resuming from {checkpoint.name}")

    output_result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    state = trainer.state
    runtime = float(output_result.metrics.get("train_runtime", 0.0))
    train_loss = _final_train_loss(store, run_id, output_result)
    eval_loss = store.get_run(run_id).last_eval_loss

    if stop.is_set():
        saved = last_checkpoint(output)
        if saved is not None:
            store.add_artifact(run_id, kind="checkpoint", path=str(saved))
            store.update_run(run_id, checkpoint=str(saved))
        store.update_run(run_id, train_loss=train_loss, steps_done=state.global_step)
        status, error = stop.ending(state.global_step)
        store.set_status(run_id, status, error=error)
        if status == CANCELLED:
            note(f"cancelled at step {state.global_step}; resume with `tuitune resume {run_id}`")
        return TrainResult(
            run_id,
            store.get_run(run_id).name,
            status,
            str(output),
            train_loss,
            eval_loss,
            state.global_step,
            0.0,
            None,
            runtime,
            counter.tokens,
        )

    weights = output / ("model" if config.method == "full_finetuning" else "adapter")
    if trainer.args.world_size > 1:
        # Every rank takes part (FSDP and ZeRO-3 gather the shards); the main process writes.
        trainer.save_model(str(weights))
    else:
        trainer.model.save_pretrained(str(weights))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(weights))
    kind = "model" if config.method == "full_finetuning" else "adapter"
    # The chat template the run trained with: chatting with it later must format prompts the same way.
    store.add_artifact(
        run_id, kind=kind, path=str(weights), meta={"template": prepared.template.name, "format": prepared.format}
    )
    saved = last_checkpoint(output)
    if saved is not None:
        store.update_run(run_id, checkpoint=str(saved))
    stopped = early_stop.record(stopper.stopped, state) if stopper and stopper.stopped else None
    if state.best_model_checkpoint:
        # The stop is kept with the checkpoint whose weights were saved (`tuitune.runs.early_stop`).
        best = {"best": True, **({EARLY_STOP: stopped} if stopped else {})}
        store.add_artifact(run_id, kind="checkpoint", path=state.best_model_checkpoint, meta=best)
    store.update_run(run_id, train_loss=train_loss, steps_done=state.global_step, steps_total=state.max_steps)
    if stopped:
        note(early_stop.event(stopped, kind))
    note(f"saved {kind} to {weights}")

    if config.merge_after_training and config.method != "full_finetuning" and trainer.is_world_process_zero():
        _merge_after_training(run_id, store, note)

    store.set_status(run_id, COMPLETED)
    return TrainResult(
        run_id,
        store.get_run(run_id).name,
        COMPLETED,
        str(output),
        train_loss,
        eval_loss,
        state.global_step,
        0.0,
        str(weights),
        runtime,
        counter.tokens,
    )


def _final_train_loss(store: Store, run_id: int, output_result: Any) -> float | None:
    """The last logged training loss (the Trainer's own average resets on resume, ours does not)."""
    points = [p for p in store.metric_points(run_id) if p.loss is not None]
    if points:
        return points[-1].loss
    return getattr(output_result, "training_loss", None)


def _stopped_early(run_id: int, config: RunConfig, output: Path, store: Store, stop: StopRequest) -> TrainResult:
    status, error = stop.ending(store.get_run(run_id).steps_done or 0)
    store.set_status(run_id, status, error=error)
    return TrainResult(run_id, store.get_run(run_id).name, status, str(output), None, None, 0, 0.0, None)


def _merge_after_training(run_id: int, store: Store, note: Any) -> None:
    """Merge when the config asks; a failed merge is a warning, the trained adapter stays good."""
    try:
        merged = merge_run(store.get_run(run_id), store=store)
    except Exception as error:
        note(
            f"merge after training failed ({describe_failure(error)}); retry with `tuitune merge {run_id}`",
            "warning",
        )
        return
    note(f"merged model saved to {merged}")
