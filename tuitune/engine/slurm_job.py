"""A SLURM run's job: `python -m tuitune.engine.slurm_job RUN_ID`, started by its batch script in
the run's folder on a compute node (through srun, once per task, for a group).

It never opens the login node's store. It copies the run into a store of its own on the node's
disk (the snapshot written at submission, then what earlier jobs of the run journalled), journals
every progress write of task 0 into the run's folder (`tuitune.store.journal`), and trains as the
local worker does. For a group, each task is one machine of the accelerate group: the first node
of the allocation is machine 0, so no one types `--nnodes` or `--master-addr`.

SLURM's warning before the time limit (SIGUSR1) stops the run with a checkpoint, like a cancel;
the run then goes back in SLURM's queue (`slurm.resubmit` times at most: `scontrol requeue`, and
the job starts again from its checkpoint) or ends failed, saying how to resume it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from tuitune.engine.stop import StopRequest
from tuitune.engine.worker import listen_for_stop


def _scratch(job_id: str, task: int) -> Path:
    """The job's own store, on its node's disk (SLURM's per-job folder where the cluster has one)."""
    base = os.environ.get("SLURM_TMPDIR") or os.environ.get("TMPDIR") or tempfile.gettempdir()
    folder = Path(base) / f"tuitune-job-{job_id}-{task}"
    shutil.rmtree(folder, ignore_errors=True)  # a requeued job on the same node starts afresh
    folder.mkdir(parents=True, mode=0o700)
    return folder


def _first_node() -> str:
    """The host name of the allocation's first node (machine 0 of the group)."""
    import subprocess

    nodes = os.environ.get("SLURM_JOB_NODELIST") or os.environ.get("SLURM_NODELIST") or ""
    try:
        names = subprocess.run(
            ["scontrol", "show", "hostnames", nodes], capture_output=True, text=True, timeout=30, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        names = []
    return names[0] if names else socket.gethostname()


def main(argv: list[str] | None = None) -> int:
    stop = StopRequest()
    listen_for_stop(stop)  # before anything heavy: a cancel in the first seconds is a cancel
    os.umask(0o077)
    args = sys.argv[1:] if argv is None else argv
    run_id = int(args[0])
    env = os.environ
    job_id = env.get("SLURM_JOB_ID", "0")
    task, tasks = int(env.get("SLURM_PROCID", "0")), int(env.get("SLURM_NTASKS", "1"))
    restarts = int(env.get("SLURM_RESTART_COUNT") or 0)

    from tuitune.engine import slurm as backend
    from tuitune.engine import worker
    from tuitune.runs import cluster, files
    from tuitune.store import CANCELLED, FAILED, QUEUED, journal, open_store
    from tuitune.system import paths
    from tuitune.system import slurm as slurm_tools

    folder = Path.cwd()  # sbatch --chdir: the run's folder
    saved = json.loads((folder / cluster.SLURM_DIR / backend.SNAPSHOT_NAME).read_text(encoding="utf-8"))
    journal_file = folder / cluster.SLURM_DIR / cluster.JOURNAL_NAME
    os.environ[paths.STORE_ENV] = str(_scratch(job_id, task) / "tuitune.db")
    store = open_store()
    journal.restore(store, saved["snapshot"])
    # A requeued job: what the job before it wrote (its checkpoint, its points) is where this one starts.
    journal.apply(store, run_id, journal.read(journal_file, int(saved["journal_offset"])).lines)
    config = files.run_config(store.get_run(run_id))
    if tasks > 1:
        group = config.distributed
        group.nnodes, group.node_rank = tasks, task
        group.master_addr = _first_node()
        group.master_port = backend.PORT_BASE + int(job_id) % backend.PORT_SPAN
        if config.slurm.gpus_per_node:
            group.nproc = max(1, config.slurm.gpus_per_node // (config.slurm.tasks_per_node or 1))
        store.update_run(run_id, config=config.to_dict())  # this task's machine, in its own store only
    if task == 0:
        env[journal.JOURNAL_ENV], env[journal.JOURNAL_RUN_ENV] = str(journal_file), str(run_id)
    resume = bool(saved.get("resume")) or (restarts > 0 and files.last_checkpoint(folder) is not None)
    if restarts and task == 0:
        store.add_event(run_id, f"SLURM started job {job_id} again (restart {restarts}): resuming from its checkpoint")
    limit = config.slurm.time_limit or "the partition's"
    again = restarts < config.slurm.resubmit

    def time_limit_ending(step: int) -> tuple[str, str | None]:
        saved = files.last_checkpoint(folder) is not None
        if again and saved:
            return QUEUED, None  # back in SLURM's queue (below): the same job starts again
        kept = "with a checkpoint" if saved else "before its first checkpoint"
        goes_on = "trains on" if saved else "starts it again"
        return FAILED, (
            f"Stopped at SLURM's time limit ({limit}) at step {step}, {kept}: "
            f"`tuitune resume {run_id}` submits a new job that {goes_on}."
        )

    stop.time_limit_ending = time_limit_ending
    code = worker.main([str(run_id), *(["--resume"] if resume else [])], stop=stop)
    if task == 0 and stop.time_limit:
        run = store.get_run(run_id)
        if run.status == CANCELLED:
            # A group's rank 0 ended it so (its own process, which knows no time limit): as above.
            status, error = time_limit_ending(run.steps_done)
            store.set_status(run_id, status, error=error)
            run = store.get_run(run_id)
        if run.status == QUEUED:
            store.add_event(
                run_id,
                f"SLURM's time limit was near: stopped at step {run.steps_done} with a checkpoint, and back in "
                f"SLURM's queue (restart {restarts + 1} of at most {config.slurm.resubmit})",
                "warning",
            )
            slurm_tools.requeue(job_id)
    return code


if __name__ == "__main__":
    sys.exit(main())
