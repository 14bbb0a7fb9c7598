"""Backend slurm: a run is a SLURM job, submitted from the login node with `sbatch`.

Each submission writes into the run's folder, under `slurm/`: the batch script (`job.sbatch`,
kept and readable), and the run as the store holds it (`snapshot.json`), which the job copies
into a store of its own on its node's disk (`tuitune.engine.slurm_job`). The job's progress comes
back through its journal (`tuitune.store.journal`), folded in by whichever tuitune process looks
(`tuitune.runs.cluster`). SLURM's queue replaces tuitune's slots: a run waits there as `queued`,
with SLURM's reason. This module never imports torch.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

from tuitune.config import RunConfig
from tuitune.engine.keeper_lock import ensure_keeper
from tuitune.errors import RunStateError
from tuitune.runs import cluster, files, notify
from tuitune.runs import folder as run_folder
from tuitune.store import CANCELLED, QUEUED, Run, Store, journal
from tuitune.system import child, paths
from tuitune.system import slurm as slurm_tools

SCRIPT_NAME = "job.sbatch"
SNAPSHOT_NAME = "snapshot.json"
JOB_MODULE = "tuitune.engine.slurm_job"
# Where the group's machine 0 listens: a port from the job's id, so two jobs sharing a node
# (a one-node test cluster, two small runs) do not collide.
PORT_BASE, PORT_SPAN = 20_000, 20_000


def group_size(config: RunConfig) -> int:
    """How many launchers the job starts (SLURM tasks): one per machine share of the GPUs."""
    return config.slurm.nodes * (config.slurm.tasks_per_node or 1)


def script(run: Run, config: RunConfig) -> str:
    """The batch script of the run's job: SLURM's options, the environment, then the job itself
    (`srun`, one launcher per task, when the group has more than one)."""
    settings = config.slurm
    folder = files.folder_of(run)
    log = files.log_path(run)
    options = [
        f"--job-name=tuitune-{run.id}",
        f"--output={log}",
        "--open-mode=append",  # the worker.log every face reads, resumed jobs after earlier ones
        f"--chdir={folder}",
        f"--nodes={settings.nodes}",
        f"--ntasks-per-node={settings.tasks_per_node or 1}",
    ]
    if settings.gpus_per_node:
        options.append(f"--gres=gpu:{settings.gpus_per_node}")
    named = {
        "partition": settings.partition,
        "account": settings.account,
        "qos": settings.qos,
        "time": settings.time_limit,
        "cpus-per-task": settings.cpus_per_task,
        "mem": settings.memory,
    }
    options += [f"--{option}={value}" for option, value in named.items() if value is not None]
    several = group_size(config) > 1
    # Before the time limit SLURM warns: the batch shell (the run itself, one task) or every
    # task of the group (through srun); the run saves a checkpoint and ends, or goes back in line.
    options.append(f"--signal={'' if several else 'B:'}USR1@{settings.warn_seconds}")
    options.append("--requeue" if settings.resubmit else "--no-requeue")
    options += settings.extra_sbatch
    python = shlex.quote(sys.executable)
    command = f'"$TUITUNE_PYTHON" -P -m {JOB_MODULE} {run.id}'
    if several:
        command = f"srun --kill-on-bad-exit=1 --export=ALL {command}"
    lines = [
        "#!/bin/bash",
        f"# tuitune run {run.id} as a SLURM job, written at its submission (each submission writes it",
        "# again: change the run's slurm settings rather than this file).",
        *(f"#SBATCH {option}" for option in options),
        "",
        f"export {paths.HOME_ENV}={shlex.quote(str(paths.home()))}",
        f"export TUITUNE_PYTHON=${{TUITUNE_PYTHON:-{python}}}  # a setup line may name another",
        *settings.setup,
        f"exec {command}",
        "",
    ]
    return "\n".join(lines)


def slurm_folder(run: Run) -> Path:
    return files.folder_of(run) / cluster.SLURM_DIR


def submit(run: Run, *, store: Store, resume: bool = False) -> Run:
    """Submit the run as a job now (SLURM's queue decides when it starts); the run waits `queued`
    with the job's id recorded. A refusal by sbatch leaves the run failed with sbatch's words."""
    config = files.run_config(run)
    cluster.fold(run, store)  # everything an earlier job of this run wrote is in the snapshot
    run = store.get_run(run.id)
    folder = slurm_folder(run)
    paths.make_private_dir(folder)
    run_folder.record(files.folder_of(run), cluster.SLURM_DIR)
    state = dict(run.slurm)
    offset = int(state.get("journal_offset", 0))
    snapshot = {"journal_offset": offset, "resume": resume, "snapshot": journal.snapshot(store, run.id)}
    paths.write_private_text(folder / SNAPSHOT_NAME, json.dumps(snapshot, default=str))
    batch = folder / SCRIPT_NAME
    paths.write_private_text(batch, script(run, config))
    try:
        job_id = slurm_tools.submit(batch, environment=child.child_environment())
    except Exception as refused:
        store.update_run(run.id, slurm={**state, "journal_offset": offset})
        store.set_status(run.id, "failed", error=str(refused))
        raise
    jobs = [*state.get("jobs", []), job_id]
    store.update_run(
        run.id,
        slurm={
            **state,
            "job_id": job_id,
            "jobs": jobs,
            "state": "PENDING",
            "reason": None,
            "nodes": None,
            "exit_code": None,
            "restarts": 0,
            "journal_offset": offset,
            "submitted_at": time.time(),
            "checked_at": None,
            "script": str(batch),
        },
        pid=None,
    )
    if store.get_run(run.id).status != QUEUED:
        store.set_status(run.id, QUEUED)
    where = f" on partition {config.slurm.partition}" if config.slurm.partition else ""
    store.add_event(run.id, f"Submitted to SLURM as job {job_id}{where} ({batch.name} in its folder)")
    # Something of tuitune's folds the job's journal in and tells its end, with or without a face open.
    ensure_keeper(True)
    return store.get_run(run.id)


def cancel(run: Run, *, store: Store) -> Run:
    """Cancel the run's job: a job still waiting is taken out of SLURM's queue (the run ends
    `cancelled`); a running one is sent SIGTERM and saves a checkpoint, as a local run does."""
    job_id = run.slurm.get("job_id")
    if not job_id:
        raise RunStateError(f"Run {run.id} ({run.name}) has no SLURM job to cancel.")
    store.request_cancel(run.id)
    started = run.status != QUEUED or run.slurm.get("state") not in (None, "PENDING")
    slurm_tools.cancel(str(job_id), graceful=started)
    if not started:
        store.set_status(run.id, CANCELLED)
        notify.run_ended(run.id, store)
    return store.get_run(run.id)
