"""Start, cancel, resume and watch runs; every face (CLI, TUI, Python) goes through here.

A run is a detached child process (`python -m tuitune.engine.worker RUN_ID`) in its own session,
so it outlives the terminal, the SSH link and the TUI. This module never imports torch: it only
writes the store and spawns processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from tuitune.config import RunConfig, parse_config
from tuitune.errors import RunStateError, StoreFullError, StoreReadOnlyError
from tuitune.locations import DATASET_BUILDERS
from tuitune.runs import folder as run_folder
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
from tuitune.system import child, paths
from tuitune.system.gpu import GPUS_ENV, visible_gpus

# A worker writes its heartbeat every few seconds from a thread, even while a model loads;
# one silent for this long is dead (or on a host whose clock we cannot trust).
HEARTBEAT_SECONDS = 2.0
STALE_AFTER_SECONDS = 120.0
LOG_NAME = "worker.log"
CONFIG_NAME = "config.yaml"


# Short words for names people type (`tuitune logs demo-full`) and for narrow tables.
METHOD_WORDS = {"full_finetuning": "full", "instruction_tuning": "instruct"}


def default_run_name(config: RunConfig) -> str:
    """`<model>-<method>`, e.g. `demo-lora` or `Qwen2.5-0.5B-qlora`; the store makes it unique."""
    model = config.model.name_or_path.rstrip("/").split("/")[-1] or "model"
    return paths.slug(f"{model}-{METHOD_WORDS.get(config.method, config.method)}")


def with_local_paths(config: RunConfig) -> RunConfig:
    """The config with a local model folder or data file made absolute.

    Children run in the run's folder, not where the user typed the command, so `-d data.jsonl`
    must name the file the user meant. A name that is not a local path (a Hub id) is left as is.
    """
    final = config.model_copy(deep=True)
    for section, key in (("model", "name_or_path"), ("data", "source")):
        value = getattr(getattr(final, section), key)
        try:
            local = Path(value).expanduser()
            if not local.is_absolute() and local.exists():
                setattr(getattr(final, section), key, str(local.resolve()))
        except (OSError, ValueError):
            continue  # not a path this system can even look at: the data layer explains it
    files = final.data.data_files
    if final.data.source in DATASET_BUILDERS and files:
        # `source: json` reads data_files from the current folder, which for the worker is the
        # run's folder: make them name what the user meant (and what the service checked).
        absolute = [
            str(Path.cwd() / Path(name).expanduser()) for name in ([files] if isinstance(files, str) else files)
        ]
        final.data.data_files = absolute[0] if isinstance(files, str) else absolute
    return final


def create_run(
    config: RunConfig,
    *,
    store: Store | None = None,
    in_queue: bool = False,
    gpus: list[str] | None = None,
    sweep_id: int | None = None,
) -> Run:
    """Record a queued run, make its own folder, and write the `config.yaml` that will run.

    The folder is new (`<output>/<id>-<name>/`, `$TUITUNE_HOME/runs` by default): a run never
    shares a folder nor writes into one it did not make. If anything fails here, neither the run
    nor its folder is left behind.
    """
    store = store or open_store()
    config = with_local_paths(config)
    name = config.name or default_run_name(config)
    parent = (
        Path(config.training.output_dir).expanduser().absolute() if config.training.output_dir else paths.runs_dir()
    )
    if run_folder.is_run_folder(parent):
        parent = parent.parent  # a config.yaml saved by an older version names the run's own folder
    run = store.create_run(
        name=name,
        config=config.to_dict(),
        model=config.model.name_or_path,
        method=config.method,
        dataset=config.data.source,
        status=QUEUED,
        in_queue=in_queue,
        gpus=gpus,
        sweep_id=sweep_id,
    )
    folder: Path | None = None
    try:
        folder = run_folder.make_run_folder(parent, run.id, run.name)
        final = config.model_copy(deep=True)
        final.name = run.name
        if config.training.output_dir:
            final.training.output_dir = str(parent)
        paths.write_private_text(folder / CONFIG_NAME, final.to_yaml())
        run_folder.record(folder, CONFIG_NAME)
        store.update_run(run.id, config=final.to_dict(), output_dir=str(folder))
        for note in config.notes:
            store.add_event(run.id, note, level="warning")
        return store.get_run(run.id)
    except BaseException:
        with contextlib.suppress(Exception):
            store.delete_run(run.id)
        if folder is not None:
            with contextlib.suppress(Exception):
                run_folder.remove_run_files(folder, run.id)
        raise


def checkpoint_step(checkpoint: Path) -> int:
    """The global step a Trainer `checkpoint-N` folder was saved at (ValueError if not one)."""
    return int(checkpoint.name.split("-")[-1])


def last_checkpoint(output_dir: Path) -> Path | None:
    """The newest `checkpoint-N` folder that holds a complete trainer state."""
    folder = output_dir / "checkpoints"
    if not folder.is_dir():
        return None
    candidates = []
    for entry in folder.iterdir():
        if entry.name.startswith("checkpoint-") and (entry / "trainer_state.json").exists():
            try:
                candidates.append((checkpoint_step(entry), entry))
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


def start_worker(
    run: Run, *, resume: bool = False, devices: list[str] | None = None, store: Store | None = None
) -> int:
    """Spawn the detached worker for a run, in the run's folder, on `devices`; return its pid."""
    store = store or open_store()
    log = log_path(run)
    folder = log.parent
    paths.make_private_dir(folder)
    command = child.python_command("tuitune.engine.worker", str(run.id))
    if resume:
        command.append("--resume")
    descriptor = paths.open_private(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    run_folder.record(folder, LOG_NAME)
    with os.fdopen(descriptor, "ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the terminal, SSH and the TUI
            close_fds=True,
            cwd=folder,  # never the user's current folder (see tuitune.system.child)
            env=child.child_environment(_device_environment(devices)),
        )
    store.update_run(run.id, pid=process.pid, host=socket.gethostname())
    store.heartbeat(run.id)
    return process.pid


def _device_environment(devices: list[str] | None) -> dict[str, str]:
    """The worker sees only its run's GPUs; tuitune's children still know all of the machine's."""
    gpus = visible_gpus()
    environment = {GPUS_ENV: ",".join(gpus)}
    if devices:
        environment["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
        # CUDA numbers GPUs fastest first unless told otherwise; nvidia-smi and NVML (what the
        # faces show) number them by bus: with this, GPU 2 means the same card everywhere.
        environment["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    return environment


def launch(config: RunConfig, *, gpus: list[str] | None = None, store: Store | None = None) -> Run:
    """Create a run and start its worker now, whatever the queue holds; returns at once."""
    from tuitune.engine.queue import check_gpus

    store = store or open_store()
    wanted = check_gpus(gpus)
    run = create_run(config, store=store, gpus=wanted)
    devices = store.give_devices(run.id, wanted=wanted, gpus=visible_gpus())
    start_worker(run, devices=devices, store=store)
    return store.get_run(run.id)


def pid_alive(pid: int | None, *, started_before: datetime | None = None) -> bool:
    """Whether process `pid` runs (a zombie does not). With `started_before`, a process that
    started after that moment is not the one we knew: its pid was reused."""
    import psutil

    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if started_before is not None and process.create_time() > started_before.timestamp() + 1.0:
            return False
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # another user's process: it exists
    return True


def _is_worker(pid: int) -> bool:
    """Whether `pid` runs our worker module, not `tuitune.train()` in someone's notebook or a
    reused pid. When that cannot be told (no permission), it is not: a signal could hurt."""
    import psutil

    try:
        return "tuitune.engine.worker" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def _seconds_since(moment: datetime | None) -> float:
    if moment is None:
        return float("inf")
    return (datetime.now(timezone.utc) - moment).total_seconds()


# A claimed run's worker is spawned within milliseconds of the claim; one not started after this
# long never will be (its claimer was killed between the two).
CLAIM_START_SECONDS = 10.0


def check_alive(run: Run, *, store: Store | None = None) -> Run:
    """Mark a run `crashed` if the store says it is active but its worker is gone; put a claim
    whose worker never started back in line."""
    if run.status not in ACTIVE or run.in_queue:
        return run  # a run waiting in the queue has no worker yet: nothing can have died
    store = store or open_store()
    if run.status == QUEUED and not run.pid and run.heartbeat_at is not None:
        # Claimed for a slot (the claim starts its heartbeat), its worker not yet recorded.
        return _claim_checked(run, store)
    local = run.host in (None, socket.gethostname())
    gone = False
    # The heartbeat comes after the worker started; a process younger than it reuses the pid.
    if (local and run.pid and not pid_alive(run.pid, started_before=run.heartbeat_at)) or _seconds_since(
        run.heartbeat_at or run.created_at
    ) > STALE_AFTER_SECONDS:
        gone = True
    if not gone:
        return run
    if local and live_ranks(run, store):
        # Its supervisor is gone but ranks still train; they follow it out within a second
        # (engine.rank.follow_supervisor). Until none lives, the run is not over.
        return run
    # Re-read: the worker may have finished between our read and the pid check.
    fresh = store.get_run(run.id)
    if fresh.status not in ACTIVE:
        return fresh
    try:
        if fresh.cancel_requested:
            # Killed before it could install its SIGTERM handler: the user asked for this.
            store.set_status(run.id, CANCELLED)
        else:
            reason = (
                "the worker process exited without reporting"
                if local and run.pid
                else "no heartbeat for over two minutes"
            )
            store.set_status(
                run.id, CRASHED, error=f"Worker crashed ({reason}); see its log, then `tuitune resume {run.id}`."
            )
    except (StoreReadOnlyError, StoreFullError):
        # Reading commands keep working on a read-only or full store; the crash is recorded by
        # the next command that can write.
        return fresh
    return store.get_run(run.id)


def _claim_checked(run: Run, store: Store) -> Run:
    """A run claimed for a slot (or started directly) whose worker has no pid yet: give its
    claimer time, then find the worker, else put the run back at the head of the line."""
    if _seconds_since(run.heartbeat_at) < CLAIM_START_SECONDS:
        return run
    worker = _worker_process(run.id)
    try:
        if worker is not None:
            store.update_run(run.id, pid=worker, host=socket.gethostname())
        else:
            store.back_in_line(run.id, "its worker never started (whoever claimed it stopped first)")
    except (StoreReadOnlyError, StoreFullError):
        pass
    return store.get_run(run.id)


def _worker_process(run_id: int) -> int | None:
    """The pid of a worker of this store training `run_id` on this machine, if one runs."""
    import psutil

    home = str(paths.home())
    for process in psutil.process_iter(["cmdline"]):
        try:
            command = process.info["cmdline"] or []
            ours = "tuitune.engine.worker" in command and str(run_id) in command
            if ours and process.environ().get(paths.HOME_ENV) == home:
                return int(process.pid)
        except psutil.Error:
            continue
    return None


def live_ranks(run: Run, store: Store | None = None) -> list[int]:
    """The pids of the run's group processes (ranks) on this machine that are still alive."""
    store = store or open_store()
    host = socket.gethostname()
    return [
        rank.pid
        for rank in store.processes(run.id)
        if rank.host == host and rank.ended is None and pid_alive(rank.pid, started_before=rank.heartbeat_at)
    ]


def reconcile(store: Store | None = None) -> list[Run]:
    """Check every active run; returns those now marked crashed."""
    store = store or open_store()
    crashed = []
    for run in store.active_runs():
        checked = check_alive(run, store=store)
        if checked.status == CRASHED:
            crashed.append(checked)
    # Whoever notices a free slot starts the next queued run: a crash frees one, and so does a
    # run that ended while nobody was looking.
    from tuitune.engine.queue import start_queued_quietly

    start_queued_quietly(store)
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
    if not worker_gone(run, timeout=WORKER_EXIT_SECONDS, store=store):
        pids = ", ".join(str(pid) for pid in [run.pid, *live_ranks(run, store)] if pid)
        raise RunStateError(
            f"Run {run.id} ({run.name}) has ended but its processes (pid {pids}) are still finishing: "
            f"resume it once they have exited (`tuitune show {run.id}` lists them)."
        )
    # The new totals pass the config's own rules before anything about the run changes: a
    # refused resume (`--epochs inf`, `--max-steps 2**63`) leaves the run exactly as it was.
    values = run_config(run).to_dict()
    if epochs is not None:
        values["training"].update(epochs=epochs, max_steps=None)
    if max_steps is not None:
        values["training"]["max_steps"] = max_steps
    config = parse_config(values, f"the resume of run {run.id}")
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
    # Forget the old worker's pid and start a fresh heartbeat: until the new worker is spawned,
    # check_alive (from the TUI, say) must not take the dead old pid for a crash of this run.
    store.update_run(run.id, config=config.to_dict(), cancel_requested=False, error=None, pid=None)
    store.heartbeat(run.id)
    folder = Path(run.output_dir or paths.run_dir(run.id, run.name))
    paths.make_private_dir(folder)
    paths.write_private_text(folder / CONFIG_NAME, config.to_yaml())
    store.set_status(run.id, QUEUED)
    return store.get_run(run.id)


def resume(
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
    run = prepare_resume(run, epochs=epochs, max_steps=max_steps, store=store)
    if queue:
        from tuitune.engine.queue import start_queued

        store.put_in_queue(run.id)
        start_queued(store)
        return store.get_run(run.id)
    devices = store.give_devices(run.id, wanted=store_gpus(run), gpus=visible_gpus())
    start_worker(run, resume=True, devices=devices, store=store)
    return store.get_run(run.id)


def store_gpus(run: Run) -> list[str]:
    """The GPUs a run asked for when it was created."""
    return [gpu for gpu in (run.gpus or "").split(",") if gpu]


# How long a worker may take to exit after its run has recorded its end.
WORKER_EXIT_SECONDS = 60.0


def worker_gone(run: Run, *, timeout: float, store: Store | None = None) -> bool:
    """Wait up to `timeout` seconds for the run's worker and its group's ranks on this machine
    to exit; whether they have (a run with no process here counts as gone)."""
    if run.host not in (None, socket.gethostname()):
        return True
    deadline = time.monotonic() + timeout

    def alive() -> bool:
        # The last heartbeat came after the worker started: a process younger than it reuses the pid.
        worker = bool(run.pid) and pid_alive(run.pid, started_before=run.heartbeat_at) and _is_worker(run.pid or 0)
        return worker or bool(live_ranks(run, store))

    while alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def wait(run_id: int, *, timeout: float | None = None, poll: float = 0.5, store: Store | None = None) -> Run:
    """Block until a run leaves the active statuses (crash detection included)."""
    store = store or open_store()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        run = check_alive(store.get_run(run_id), store=store)
        if run.status not in ACTIVE:
            # Stopped means its worker is gone too (a group's supervisor tidies up after rank 0
            # has recorded the end): a resume right after must not race it.
            worker_gone(run, timeout=WORKER_EXIT_SECONDS, store=store)
            return run
        if deadline is not None and time.monotonic() > deadline:
            return run
        time.sleep(poll)


def delete(run: Run, *, files: bool = False, store: Store | None = None) -> run_folder.Removal | None:
    """Remove a run from the store; with `files`, also what tuitune wrote in its folder.

    An active run is refused. Only entries recorded in the folder's manifest are deleted, and the
    folder itself only when nothing else is left in it: never a folder tuitune did not make.
    """
    import shutil

    store = store or open_store()
    run = check_alive(run, store=store)
    if run.status in ACTIVE:
        raise RunStateError(f"Run {run.id} ({run.name}) is {run.status}: cancel it before deleting it.")
    removal = None
    if files and run.output_dir:
        folder = Path(run.output_dir)
        if (
            folder.is_dir()
            and not run_folder.is_run_folder(folder)
            and run_folder.legacy_default_folder(folder, run.id)
        ):
            # Made by a version without manifests, in tuitune's own runs folder: all of it is ours.
            shutil.rmtree(folder)
            removal = run_folder.Removal(removed=["(whole folder)"], folder_removed=True)
        else:
            removal = run_folder.remove_run_files(folder, run.id)
    store.delete_run(run.id)
    return removal


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
