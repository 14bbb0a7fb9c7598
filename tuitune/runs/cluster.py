"""A SLURM run as the faces see it: its job's journal folded into the store, and its job's state
asked of SLURM (at most every few seconds), so the history, the training screen and the event
stream follow a job as they follow a local worker.

SLURM's word decides what a local run's pid decides: a job SLURM says ended (or no longer knows)
while the run has not recorded its end is recorded as ended so (failed with its exit code, timed
out, lost by SLURM) once its journal has had a moment to arrive. Light: the store, the journal and
SLURM's command-line tools.
"""

from __future__ import annotations

import time
from pathlib import Path

from tuitune.errors import SlurmError, StoreFullError, StoreReadOnlyError
from tuitune.runs import notify
from tuitune.store import CANCELLED, CRASHED, FAILED, QUEUED, Run, Store, journal
from tuitune.system import slurm

SLURM_DIR = "slurm"
JOURNAL_NAME = "journal.jsonl"
# How often a face asks SLURM about one run's job (squeue/scontrol load the controller).
CHECK_SECONDS = 5.0
# A job SLURM says ended, whose run has not recorded its end: how long its last journal lines
# (on a shared file system, written on another node) may take to show before the end is SLURM's.
ARRIVAL_SECONDS = 10.0


def journal_path(run: Run) -> Path | None:
    return Path(run.output_dir) / SLURM_DIR / JOURNAL_NAME if run.output_dir else None


def fold(run: Run, store: Store) -> Run:
    """The run with what its job has written since the last look folded into the store."""
    path = journal_path(run)
    if path is None:
        return run
    try:
        size = path.stat().st_size
    except OSError:
        return run
    if size <= int(run.slurm.get("journal_offset", 0)):
        return run  # the usual look: nothing new, and no write lock taken
    try:
        folded_lines = journal.fold(store, run.id, path)
    except (StoreReadOnlyError, StoreFullError):
        return run  # a reading command on a read-only store still shows what it has
    folded = store.get_run(run.id)
    if folded_lines.applied and run.is_active and not folded.is_active:
        notify.run_ended(run.id, store)  # the job's end, now in the store: told from here
    return folded


def follow(run: Run, store: Store) -> Run:
    """Fold the job's journal and, when the last look is old enough, ask SLURM how the job is."""
    run = fold(run, store)
    state = run.slurm
    job_id = state.get("job_id")
    if not run.is_active or not job_id:
        return run
    if time.time() - float(state.get("checked_at") or 0) < CHECK_SECONDS:
        return run
    try:
        job = slurm.job(str(job_id))
    except SlurmError as unreachable:
        return _record(run, store, {**state, "checked_at": time.time(), "unreachable": str(unreachable)})
    seen = {
        **state,
        "checked_at": time.time(),
        "unreachable": None,
        "state": job.state if job else "UNKNOWN",
        "reason": job.reason if job else None,
        "nodes": (job.nodes or state.get("nodes")) if job else state.get("nodes"),
        "exit_code": job.exit_code if job else state.get("exit_code"),
        "restarts": job.restarts if job else state.get("restarts", 0),
    }
    if job is not None and not job.ended:
        seen["ended_seen_at"] = None
        return _record(run, store, seen)
    seen["ended_seen_at"] = state.get("ended_seen_at") or time.time()
    run = _record(run, store, seen)
    if time.time() - float(seen["ended_seen_at"]) < ARRIVAL_SECONDS:
        return run  # its last lines may still be on their way
    run = fold(run, store)
    if not run.is_active:
        return run
    return _ended_unreported(run, store, job)


def _record(run: Run, store: Store, state: dict[str, object]) -> Run:
    try:
        store.update_run(run.id, slurm=state)
    except (StoreReadOnlyError, StoreFullError):
        return run
    return store.get_run(run.id)


def _ended_unreported(run: Run, store: Store, job: slurm.JobState | None) -> Run:
    """Record the end SLURM saw of a job whose run never recorded one."""
    job_id = run.slurm.get("job_id")
    again = f"`tuitune resume {run.id}` submits a new job from its last checkpoint."
    if job is None:
        status, error = CRASHED, f"SLURM no longer knows job {job_id} (lost with its node, or purged): {again}"
    elif job.state == "CANCELLED" or run.cancel_requested:
        status, error = CANCELLED, None
    elif job.state == "TIMEOUT":
        status, error = FAILED, f"Job {job_id} reached its time limit before it could save a checkpoint: {again}"
    elif job.state in ("NODE_FAIL", "BOOT_FAIL", "PREEMPTED"):
        status, error = CRASHED, f"Job {job_id} {job.words()}: {again}"
    elif job.state == "COMPLETED":
        status, error = CRASHED, f"Job {job_id} ended without the run reporting its end; see its log, then {again}"
    else:
        status, error = FAILED, f"Job {job_id} {job.words()}; see its log (`tuitune logs {run.id}`), then {again}"
    try:
        fresh = store.get_run(run.id)
        if not fresh.is_active:
            return fresh
        store.set_status(run.id, status, error=error)
    except (StoreReadOnlyError, StoreFullError):
        return run
    notify.run_ended(run.id, store)
    return store.get_run(run.id)


def waits_for(run: Run) -> str | None:
    """Why a pending job waits, in SLURM's word (Resources, Priority, QOSMaxJobsPerUserLimit…)."""
    state = run.slurm
    if run.status == QUEUED and state.get("state") in (*slurm.WAITING, None):
        return slurm.reason_words(state.get("reason"))
    return None


def job_words(run: Run) -> str | None:
    """The run's job in one line for the faces: `job 12 · pending (Resources)`, `job 12 · running on gpu01`."""
    state = run.slurm
    job_id = state.get("job_id")
    if not job_id:
        return None
    known = state.get("state")
    if not known:
        return f"job {job_id}"
    if not run.is_active and known in slurm.WAITING | slurm.RUNNING:
        # Ended as its journal says, after SLURM was last asked: where it ran is what is left to say.
        return f"job {job_id} · ran on {state['nodes']}" if state.get("nodes") else f"job {job_id}"
    words = slurm.JobState(
        str(job_id), str(known), state.get("reason"), state.get("nodes"), state.get("exit_code")
    ).words()
    return f"job {job_id} · {words}"


def job_line(run: Run) -> str:
    """`job_words` and, while the job waits, why in a person's words: what a face shows of the job."""
    words = job_words(run) or "not submitted to SLURM yet"
    waits = waits_for(run)
    if waits and ":" in waits:
        words += f": {waits.split(':', 1)[1].strip()}"
    return words
