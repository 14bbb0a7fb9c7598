"""Create runs, spawn and signal their workers, wait for them and delete them.

Whether a stored run is alive is `tuitune.runs.lookup`; its config and folder files are
`tuitune.runs.files`; the resume policy and the queue are `engine.resume` and `engine.queue`,
above this module. A run is a detached child process (`python -m tuitune.engine.worker RUN_ID`) in its own session,
so it outlives the terminal, the SSH link and the TUI. This module never imports torch: it only
writes the store and spawns processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from tuitune.config import BACKENDS, RunConfig
from tuitune.engine import slurm
from tuitune.errors import RunStateError
from tuitune.locations import DATASET_BUILDERS
from tuitune.rewards import with_absolute_files
from tuitune.runs import files, lookup, notify
from tuitune.runs import folder as run_folder
from tuitune.runs import lineage as run_lineage
from tuitune.store import (
    ACTIVE,
    CANCELLED,
    QUEUED,
    Run,
    Store,
    open_store,
)
from tuitune.system import child, paths
from tuitune.system.gpu import GPUS_ENV, check_gpus, visible_gpus

# Short words for names people type (`tuitune logs demo-full`) and for narrow tables.
METHOD_WORDS = {"full_finetuning": "full", "instruction_tuning": "instruct"}


def default_run_name(config: RunConfig) -> str:
    """`<model>-<method>`, e.g. `demo-lora` or `Qwen2.5-0.5B-qlora`, and the objective when it is not
    sft (`demo-lora-dpo`); the store makes it unique."""
    model = config.model.name_or_path.rstrip("/").split("/")[-1] or "model"
    objective = "" if config.objective == "sft" else f"-{config.objective}"
    return paths.slug(f"{model}-{METHOD_WORDS.get(config.method, config.method)}{objective}")


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
    final.grpo.rewards = with_absolute_files(final.grpo.rewards)  # `my_rewards.py:score` too
    return final


def create_run(
    config: RunConfig,
    *,
    store: Store | None = None,
    in_queue: bool = False,
    gpus: list[str] | None = None,
    sweep_id: int | None = None,
    lineage: dict[str, Any] | None = None,
) -> Run:
    """Record a queued run, make its own folder, and write the `config.yaml` that will run.

    The folder is new (`<output>/<id>-<name>/`, `$TUITUNE_HOME/runs` by default): a run never
    shares a folder nor writes into one it did not make. If anything fails here, neither the run
    nor its folder is left behind. Its lineage (`tuitune.runs.lineage`) is recorded now, with
    `lineage`'s keys added (a rerun's `rerun_of`).
    """
    store = store or open_store()
    config = with_local_paths(config)
    if config.backend is None:
        # The store's default, written into the run: where it trains is part of what ran.
        config = config.model_copy(update={"backend": backend_default(store)})
    on_slurm = config.backend == "slurm"
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
        slurm=on_slurm,  # SLURM's queue replaces tuitune's slots
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
        # Where it came from, as it is now and from here: a queued run starts later, in its own folder.
        recorded = {**run_lineage.collect(config.to_dict()), **(lineage or {})}
        files.save_config(run.id, final, store=store, output_dir=str(folder), lineage=recorded)
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


def start_worker(
    run: Run, *, resume: bool = False, devices: list[str] | None = None, store: Store | None = None
) -> int:
    """Spawn the detached worker for a run, in the run's folder, on `devices`; return its pid."""
    store = store or open_store()
    log = files.log_path(run)
    folder = log.parent
    paths.make_private_dir(folder)
    command = child.python_command(lookup.WORKER_MODULE, str(run.id))
    if resume:
        command.append("--resume")
    descriptor = paths.open_private(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    run_folder.record(folder, files.LOG_NAME)
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


def launch(
    config: RunConfig,
    *,
    gpus: list[str] | None = None,
    store: Store | None = None,
    lineage: dict[str, Any] | None = None,
) -> Run:
    """Create a run and start its worker now, whatever the queue holds; returns at once."""
    store = store or open_store()
    wanted = check_gpus(gpus)
    run = create_run(config, store=store, gpus=wanted, lineage=lineage)
    if run.on_slurm:
        return slurm.submit(run, store=store)  # SLURM starts it when the cluster has room
    devices = store.give_devices(run.id, wanted=wanted, gpus=visible_gpus())
    start_worker(run, devices=devices, store=store)
    return store.get_run(run.id)


def cancel(run: Run, *, store: Store | None = None) -> Run:
    """Ask a run to stop: it finishes the step, saves a checkpoint and ends `cancelled`."""
    store = store or open_store()
    run = lookup.check_alive(run, store=store)
    if run.status not in ACTIVE:
        raise RunStateError(f"Run {run.id} ({run.name}) is {run.status}, not running: nothing to cancel.")
    if run.on_slurm:
        return slurm.cancel(run, store=store)
    store.request_cancel(run.id)
    if run.pid and run.host in (None, socket.gethostname()) and lookup.pid_alive(run.pid):
        if not lookup.is_worker(run.pid):
            # Trained in-process (`tuitune.train()`): SIGTERM would kill the user's own program;
            # its CancelCallback polls the store's flag and stops after the step instead.
            return store.get_run(run.id)
        try:
            os.kill(run.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    elif run.status == QUEUED and not run.pid:
        store.set_status(run.id, CANCELLED)
        notify.run_ended(run.id, store)  # no worker will: it never started
    return store.get_run(run.id)


BACKEND_SETTING = "backend"


def backend_default(store: Store) -> str:
    """Where a run trains when its config does not say: the store's setting (`tuitune cluster
    use`), else this machine."""
    chosen = store.setting(BACKEND_SETTING)
    return chosen if chosen in BACKENDS else "local"


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
        worker = (
            bool(run.pid)
            and lookup.pid_alive(run.pid, started_before=run.heartbeat_at)
            and lookup.is_worker(run.pid or 0)
        )
        return worker or bool(lookup.live_ranks(run, store))

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
        run = lookup.current(run_id, store=store)
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
    store = store or open_store()
    run = lookup.check_alive(run, store=store)
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
    "cancel",
    "create_run",
    "default_run_name",
    "delete",
    "launch",
    "start_worker",
    "wait",
    "worker_gone",
]
