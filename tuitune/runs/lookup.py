"""Look a stored run up and know whether it is alive: the one reading of "is this run's worker
still there" for every face and every layer.

A run the store calls active may have lost its worker (killed, the machine rebooted): whoever
looks at it next, through `find` or `check_alive`, records the crash, so no face shows a dead
run as running. Light: the store, psutil and the standard library.
"""

from __future__ import annotations

import socket
from datetime import datetime, timezone

import psutil

from tuitune.errors import StoreFullError, StoreReadOnlyError
from tuitune.runs import cluster, notify
from tuitune.store import ACTIVE, CANCELLED, CRASHED, QUEUED, Run, Store, open_store
from tuitune.system import paths

# A worker writes its heartbeat every few seconds from a thread, even while a model loads;
# one silent for this long is dead (or on a host whose clock we cannot trust).
HEARTBEAT_SECONDS = 2.0
STALE_AFTER_SECONDS = 120.0
# The module every worker runs: how a process is told apart from a reused pid.
WORKER_MODULE = "tuitune.engine.worker"


def find(reference: str | int, *, store: Store | None = None) -> Run:
    """The run a user named (an id, a name, `last`), its status checked against its processes;
    RunNotFoundError (with the closest names) when there is none."""
    store = store or open_store()
    return check_alive(store.find_run(reference), store=store)


def current(run_id: int, *, store: Store | None = None) -> Run:
    """Run `run_id` as the store holds it now, its status checked against its processes."""
    store = store or open_store()
    return check_alive(store.get_run(run_id), store=store)


def pid_alive(pid: int | None, *, started_before: datetime | None = None) -> bool:
    """Whether process `pid` runs (a zombie does not). With `started_before`, a process that
    started after that moment is not the one we knew: its pid was reused."""
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


def is_worker(pid: int) -> bool:
    """Whether `pid` runs our worker module, not `tuitune.train()` in someone's notebook or a
    reused pid. When that cannot be told (no permission), it is not: a signal could hurt."""
    try:
        return WORKER_MODULE in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def seconds_since(moment: datetime | None) -> float:
    if moment is None:
        return float("inf")
    return (datetime.now(timezone.utc) - moment).total_seconds()


# A claimed run's worker is spawned within milliseconds of the claim; one not started after this
# long never will be (its claimer was killed between the two).
CLAIM_START_SECONDS = 10.0


def check_alive(run: Run, *, store: Store | None = None) -> Run:
    """Mark a run `crashed` if the store says it is active but its worker is gone; put a claim
    whose worker never started back in line."""
    if run.on_slurm:
        # SLURM knows whether its job lives, not a pid here; and a job may write on after the
        # run looked ended (a requeue at its time limit): its journal is folded in whatever the status.
        return cluster.follow(run, store or open_store())
    if run.status not in ACTIVE or run.in_queue:
        return run  # a run waiting in the queue has no worker yet: nothing can have died
    store = store or open_store()
    if run.status == QUEUED and not run.pid and run.heartbeat_at is not None:
        # Claimed for a slot (the claim starts its heartbeat), its worker not yet recorded.
        return _claim_checked(run, store)
    local = run.host in (None, socket.gethostname())
    gone = False
    # The heartbeat comes after the worker started; a process younger than it reuses the pid.
    if (local and run.pid and not pid_alive(run.pid, started_before=run.heartbeat_at)) or seconds_since(
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
    notify.run_ended(run.id, store)  # its worker, gone, cannot
    return store.get_run(run.id)


def _claim_checked(run: Run, store: Store) -> Run:
    """A run claimed for a slot (or started directly) whose worker has no pid yet: give its
    claimer time, then find the worker, else put the run back at the head of the line."""
    if seconds_since(run.heartbeat_at) < CLAIM_START_SECONDS:
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
    home = str(paths.home())
    for process in psutil.process_iter(["cmdline"]):
        try:
            command = process.info["cmdline"] or []
            ours = WORKER_MODULE in command and str(run_id) in command
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
