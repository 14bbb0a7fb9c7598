"""Resume a run: check it may, apply a new total of epochs or steps, and start it again.

The policy lives beside the queue (a resume may wait in it) and above the launcher (which only
spawns and signals): a refused resume leaves the run exactly as it was.
"""

from __future__ import annotations

from pathlib import Path

from tuitune.config import parse_config
from tuitune.engine import launcher, slurm
from tuitune.engine.queue import start_queued
from tuitune.errors import RunStateError
from tuitune.runs import files, lookup
from tuitune.runs.early_stop import early_stop, stop_line
from tuitune.store import ACTIVE, COMPLETED, QUEUED, RESUMABLE, Run, Store, open_store
from tuitune.system.gpu import visible_gpus


def prepare(
    run: Run,
    *,
    epochs: float | None = None,
    max_steps: int | None = None,
    store: Store | None = None,
) -> Run:
    """Check a run can resume, apply more epochs/steps, and queue it again."""
    store = store or open_store()
    run = lookup.check_alive(run, store=store)
    more = epochs is not None or max_steps is not None
    if run.status in ACTIVE:
        raise RunStateError(f"Run {run.id} ({run.name}) is still {run.status}: cancel it first or let it finish.")
    stopped = early_stop(store.artifacts(run.id)) if run.status == COMPLETED else None
    if stopped is not None:
        _beyond_the_early_stop(run, stopped, epochs=epochs, max_steps=max_steps)
    if run.status == COMPLETED and not more:
        raise RunStateError(
            f"Run {run.id} ({run.name}) already completed: give --epochs or --max-steps to train it further."
        )
    if run.status not in RESUMABLE and run.status != COMPLETED:
        raise RunStateError(f"Run {run.id} is {run.status} and cannot be resumed.")
    if not launcher.worker_gone(run, timeout=launcher.WORKER_EXIT_SECONDS, store=store):
        pids = ", ".join(str(pid) for pid in [run.pid, *lookup.live_ranks(run, store)] if pid)
        raise RunStateError(
            f"Run {run.id} ({run.name}) has ended but its processes (pid {pids}) are still finishing: "
            f"resume it once they have exited (`tuitune show {run.id}` lists them)."
        )
    # The new totals pass the config's own rules before anything about the run changes: a
    # refused resume (`--epochs inf`, `--max-steps 2**63`) leaves the run exactly as it was.
    values = files.run_config(run).to_dict()
    if epochs is not None:
        values["training"].update(epochs=epochs, max_steps=None)
    if max_steps is not None:
        values["training"]["max_steps"] = max_steps
    config = parse_config(values, f"the resume of run {run.id}")
    checkpoint = files.last_checkpoint(Path(run.output_dir)) if run.output_dir else None
    start = files.checkpoint_step(checkpoint) if checkpoint else 0
    if max_steps is not None and max_steps <= start:
        # The Trainer would run one stray step past the budget and call it completed.
        raise RunStateError(
            f"Run {run.id} ({run.name}) resumes from step {start}: give --max-steps above {start} "
            "(it is the total number of steps, not extra ones)."
        )
    reached = files.checkpoint_epoch(checkpoint) if checkpoint else 0.0
    if epochs is not None and epochs <= reached:
        raise RunStateError(
            f"Run {run.id} ({run.name}) resumes from epoch {reached:.2f}: give --epochs above that "
            "(it is the total number of epochs, not extra ones)."
        )
    # Forget the old worker's pid and start a fresh heartbeat: until the new worker is spawned,
    # check_alive (from the TUI, say) must not take the dead old pid for a crash of this run.
    files.save_config(run.id, config, store=store, cancel_requested=False, error=None, pid=None)
    store.heartbeat(run.id)
    store.set_status(run.id, QUEUED)
    return store.get_run(run.id)


def _beyond_the_early_stop(
    run: Run, stopped: dict[str, object], *, epochs: float | None, max_steps: int | None
) -> None:
    """A run stopped early trains further only to a larger total than the one it stopped short of:
    its evaluations had stopped improving, so going on is the user's explicit choice. (Its patience
    starts afresh in the new worker: `tuitune.engine.early_stop.StopCallback`.)"""
    total = run.steps_total or 0
    old = files.run_config(run).training
    if max_steps is not None:
        larger = max_steps > total
    elif epochs is not None:
        if old.max_steps is None:
            larger = epochs > old.epochs
        else:  # it trained to a number of steps: the new epochs in steps, at its own steps per epoch
            larger = bool(run.epoch) and epochs * (run.steps_done or 0) / float(run.epoch or 1) > total
    else:
        larger = False
    if not larger:
        raise RunStateError(
            f"Run {run.id} ({run.name}) {stop_line(stopped)}: its evaluations stopped improving before its "
            f"total of {total} steps. To train it further anyway, give a larger total: --max-steps above {total}"
            + (f" or --epochs above {old.epochs:g}." if old.max_steps is None else " (or --epochs beyond that).")
        )


def start(
    run: Run,
    *,
    epochs: float | None = None,
    max_steps: int | None = None,
    queue: bool = False,
    store: Store | None = None,
) -> Run:
    """Resume a cancelled, failed or crashed run (or train a completed one further) in a new
    worker, now or (`queue`) when a slot is free."""
    store = store or open_store()
    run = prepare(run, epochs=epochs, max_steps=max_steps, store=store)
    if run.on_slurm:
        return slurm.submit(run, store=store, resume=True)  # a new job, from the last checkpoint
    if queue:
        store.put_in_queue(run.id)
        start_queued(store)
        return store.get_run(run.id)
    devices = store.give_devices(run.id, wanted=launcher.store_gpus(run), gpus=visible_gpus())
    launcher.start_worker(run, resume=True, devices=devices, store=store)
    return store.get_run(run.id)
