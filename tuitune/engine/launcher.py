"""Start, cancel, resume and watch runs; every face (CLI, TUI, Python) goes through here.

A run is a detached child process (`python -m tuitune.engine.worker RUN_ID`) in its own session,
so it outlives the terminal, the SSH link and the TUI. This module never imports torch: it only
writes the store and spawns processes.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from tuitune import paths
from tuitune.config import RunConfig, parse_config
from tuitune.errors import OutputNotWritableError, RunStateError
from tuitune.store import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    CRASHED,
    QUEUED,
    RESUMABLE,
    RUNNING,
    Run,
    Store,
    open_store,
)

# A worker writes its heartbeat every few seconds from a thread, even while a model loads;
# one silent for this long is dead (or on a host whose clock we cannot trust).
HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 120.0
LOG_NAME = "worker.log"


# Short words for names people type (`tuitune logs demo-full`) and for narrow tables.
METHOD_WORDS = {"full_finetuning": "full", "instruction_tuning": "instruct"}


def default_run_name(config: RunConfig) -> str:
    """`<model>-<method>`, e.g. `demo-lora` or `Qwen2.5-0.5B-qlora`; the store makes it unique."""
    model = config.model.name_or_path.rstrip("/").split("/")[-1] or "model"
    return paths.slug(f"{model}-{METHOD_WORDS.get(config.method, config.method)}")


def _check_writable(folder: Path) -> None:
    """Fail before the model loads, not after an hour of training."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".tuitune-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise OutputNotWritableError(
            f"Cannot write to the output folder {folder} ({exc.strerror or exc}): "
            "choose another with --output or fix its permissions."
        ) from None


def create_run(config: RunConfig, *, store: Store | None = None) -> Run:
    """Record a queued run, give it its folder, and write the `config.yaml` that will run."""
    store = store or open_store()
    name = config.name or default_run_name(config)
    run = store.create_run(
        name=name,
        config=config.to_dict(),
        model=config.model.name_or_path,
        method=config.method,
        dataset=config.data.source,
        status=QUEUED,
    )
    output = Path(config.training.output_dir).expanduser() if config.training.output_dir else paths.run_dir(run.id, run.name)
    try:
        _check_writable(output)
    except OutputNotWritableError as error:
        store.set_status(run.id, "failed", error=str(error))
        raise
    final = config.model_copy(deep=True)
    final.name = run.name
    final.training.output_dir = str(output.resolve())
    final.save(output / "config.yaml")
    store.update_run(run.id, config=final.to_dict(), output_dir=str(output.resolve()))
    for note in config.notes:
        store.add_event(run.id, note, level="warning")
    return store.get_run(run.id)


def checkpoint_step(checkpoint: Path) -> int:
    """The global step a Trainer `checkpoint-N` folder was saved at (ValueError if not one)."""
    return int(checkpoint.name.split("-")[-1])


def last_checkpoint(output_dir: Path) -> Path | None:
    """The newest `checkpoint-N` folder that holds a complete trainer state."""
    folder = output_dir / "checkpoints"
    if not folder.is_dir():
        return None
    candidates = []
    for child in folder.iterdir():
        if child.name.startswith("checkpoint-") and (child / "trainer_state.json").exists():
            try:
                candidates.append((checkpoint_step(child), child))
            except ValueError:
                continue
    return max(candidates)[1] if candidates else None


def _checkpoint_epoch(checkpoint: Path) -> float:
    """How far (in epochs) the Trainer had got when it wrote this checkpoint."""
    import json

    try:
        return float(json.loads((checkpoint / "trainer_state.json").read_text()).get("epoch") or 0.0)
    except (OSError, ValueError, TypeError):
        return 0.0


def run_config(run: Run) -> RunConfig:
    return parse_config(run.config, f"run {run.id}")


def log_path(run: Run) -> Path:
    return Path(run.output_dir or paths.run_dir(run.id, run.name)) / LOG_NAME


def start_worker(run: Run, *, resume: bool = False, store: Store | None = None) -> int:
    """Spawn the detached worker for a run and return its pid."""
    store = store or open_store()
    log = log_path(run)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env[paths.HOME_ENV] = str(paths.home())  # the worker must find the same store
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    command = [sys.executable, "-m", "tuitune.engine.worker", str(run.id)]
    if resume:
        command.append("--resume")
    with open(log, "ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the terminal, SSH and the TUI
            close_fds=True,
            env=env,
        )
    store.update_run(run.id, pid=process.pid, host=socket.gethostname())
    store.heartbeat(run.id)
    return process.pid


def launch(config: RunConfig, *, store: Store | None = None) -> Run:
    """Create a run and start its worker; returns at once."""
    store = store or open_store()
    run = create_run(config, store=store)
    start_worker(run, store=store)
    return store.get_run(run.id)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child that exited but was not reaped yet) is not alive.
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[-1].split()[0]
        return state != b"Z"
    except (OSError, IndexError):
        return True


def _is_worker(pid: int) -> bool:
    """Whether `pid` runs our worker module, not `tuitune.train()` in someone's notebook or a reused pid."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"tuitune.engine.worker" in handle.read()
    except OSError:
        return True  # no /proc (macOS): trust the pid as before


def _seconds_since(moment: datetime | None) -> float:
    if moment is None:
        return float("inf")
    return (datetime.now(timezone.utc) - moment).total_seconds()


def check_alive(run: Run, *, store: Store | None = None) -> Run:
    """Mark a run `crashed` if the store says it is active but its worker is gone."""
    if run.status not in ACTIVE:
        return run
    store = store or open_store()
    local = run.host in (None, socket.gethostname())
    gone = False
    if local and run.pid and not pid_alive(run.pid):
        gone = True
    elif _seconds_since(run.heartbeat_at or run.created_at) > STALE_AFTER_SECONDS:
        gone = True
    if not gone:
        return run
    # Re-read: the worker may have finished between our read and the pid check.
    fresh = store.get_run(run.id)
    if fresh.status not in ACTIVE:
        return fresh
    if fresh.cancel_requested:
        # Killed before it could install its SIGTERM handler: the user asked for this.
        store.set_status(run.id, CANCELLED)
        return store.get_run(run.id)
    reason = "the worker process exited without reporting" if local and run.pid else "no heartbeat for over two minutes"
    store.set_status(run.id, CRASHED, error=f"Worker crashed ({reason}); see its log, then `tuitune resume {run.id}`.")
    return store.get_run(run.id)


def reconcile(store: Store | None = None) -> list[Run]:
    """Check every active run; returns those now marked crashed."""
    store = store or open_store()
    crashed = []
    for run in store.active_runs():
        checked = check_alive(run, store=store)
        if checked.status == CRASHED:
            crashed.append(checked)
    return crashed


def cancel(run: Run, *, store: Store | None = None) -> Run:
    """Ask a run to stop: it finishes the step, saves a checkpoint and ends `cancelled`."""
    store = store or open_store()
    run = check_alive(run, store=store)
    if run.status not in ACTIVE:
        raise RunStateError(f"Run {run.id} ({run.name}) is {run.status}, not running: nothing to cancel.")
    store.request_cancel(run.id)
    if run.pid and run.host in (None, socket.gethostname()) and pid_alive(run.pid):
        if not _is_worker(run.pid):
            # Trained in-process (`tuitune.train()`): SIGTERM would kill the user's own program;
            # its CancelCallback polls the store's flag and stops after the step instead.
            return store.get_run(run.id)
        try:
            os.kill(run.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    elif run.status == QUEUED and not run.pid:
        store.set_status(run.id, CANCELLED)
    return store.get_run(run.id)


def prepare_resume(
    run: Run,
    *,
    epochs: float | None = None,
    max_steps: int | None = None,
    store: Store | None = None,
) -> Run:
    """Check a run can resume, apply more epochs/steps, and queue it again."""
    store = store or open_store()
    run = check_alive(run, store=store)
    more = epochs is not None or max_steps is not None
    if run.status in ACTIVE:
        raise RunStateError(f"Run {run.id} ({run.name}) is still {run.status}: cancel it first or let it finish.")
    if run.status == COMPLETED and not more:
        raise RunStateError(
            f"Run {run.id} ({run.name}) already completed: give --epochs or --max-steps to train it further."
        )
    if run.status not in RESUMABLE and run.status != COMPLETED:
        raise RunStateError(f"Run {run.id} is {run.status} and cannot be resumed.")
    checkpoint = last_checkpoint(Path(run.output_dir)) if run.output_dir else None
    start = checkpoint_step(checkpoint) if checkpoint else 0
    if max_steps is not None and max_steps <= start:
        # The Trainer would run one stray step past the budget and call it completed.
        raise RunStateError(
            f"Run {run.id} ({run.name}) resumes from step {start}: give --max-steps above {start} "
            "(it is the total number of steps, not extra ones)."
        )
    reached = _checkpoint_epoch(checkpoint) if checkpoint else 0.0
    if epochs is not None and epochs <= reached:
        raise RunStateError(
            f"Run {run.id} ({run.name}) resumes from epoch {reached:.2f}: give --epochs above that "
            "(it is the total number of epochs, not extra ones)."
        )
    config = run_config(run)
    if epochs is not None:
        config.training.epochs = epochs
        config.training.max_steps = None
    if max_steps is not None:
        config.training.max_steps = max_steps
    # Forget the old worker's pid and start a fresh heartbeat: until the new worker is spawned,
    # check_alive (from the TUI, say) must not take the dead old pid for a crash of this run.
    store.update_run(run.id, config=config.to_dict(), cancel_requested=False, error=None, pid=None)
    store.heartbeat(run.id)
    config.save(Path(run.output_dir) / "config.yaml")
    store.set_status(run.id, QUEUED)
    return store.get_run(run.id)


def resume(
    run: Run,
    *,
    epochs: float | None = None,
    max_steps: int | None = None,
    store: Store | None = None,
) -> Run:
    """Resume a cancelled, failed or crashed run (or train a completed one further) in a new worker."""
    store = store or open_store()
    run = prepare_resume(run, epochs=epochs, max_steps=max_steps, store=store)
    start_worker(run, resume=True, store=store)
    return store.get_run(run.id)


def wait(run_id: int, *, timeout: float | None = None, poll: float = 0.5, store: Store | None = None) -> Run:
    """Block until a run leaves the active statuses (crash detection included)."""
    store = store or open_store()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        run = check_alive(store.get_run(run_id), store=store)
        if run.status not in ACTIVE:
            return run
        if deadline is not None and time.monotonic() > deadline:
            return run
        time.sleep(poll)


def delete(run: Run, *, files: bool = False, store: Store | None = None) -> None:
    """Remove a run from the store (and its folder with `files`); an active run is refused."""
    import shutil

    store = store or open_store()
    run = check_alive(run, store=store)
    if run.status in ACTIVE:
        raise RunStateError(f"Run {run.id} ({run.name}) is {run.status}: cancel it before deleting it.")
    if files and run.output_dir:
        folder = Path(run.output_dir)
        # Only delete folders that look like ours: never a user's home or a repo by mistake.
        if folder.is_dir() and ((folder / "config.yaml").exists() or re.match(r"^\d+-", folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
    store.delete_run(run.id)


__all__ = [
    "RUNNING",
    "cancel",
    "check_alive",
    "create_run",
    "default_run_name",
    "delete",
    "last_checkpoint",
    "launch",
    "log_path",
    "prepare_resume",
    "reconcile",
    "resume",
    "run_config",
    "start_worker",
    "wait",
]
