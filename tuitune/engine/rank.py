"""One process of a run's group: `accelerate launch … -m tuitune.engine.rank RUN_ID [--resume]`.

Every rank trains (the Trainer speaks torch.distributed through accelerate) and heartbeats into
the store with its rank, pid, device and memory. Only rank 0 writes the run's metrics, events,
checkpoint records and artifacts; on the other machines of a multi-machine job, the local rank 0
records its own run's status. The rest only read (the cancel flag).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any, cast

from tuitune.engine.failures import report_failure
from tuitune.engine.stop import StopRequest
from tuitune.errors import TuituneError
from tuitune.runs.lookup import HEARTBEAT_SECONDS
from tuitune.store import open_store
from tuitune.system.memory import process_memory_gb

if TYPE_CHECKING:
    from tuitune.store import Store

# What a rank other than 0 may not write: the run's story is told once.
_RUN_WRITES = frozenset(
    {
        "set_status",
        "add_event",
        "update_run",
        "heartbeat",
        "add_metric_points",
        "delete_metric_points_after",
        "add_artifact",
        "add_evaluation",
        "request_cancel",
    }
)
_MAIN_ONLY = frozenset({"add_metric_points", "delete_metric_points_after", "add_artifact", "add_evaluation"})


class RankStore:
    """The store as one rank sees it: writes it must not make are dropped, reads go through."""

    def __init__(self, store: Any, *, run_writes: bool, metric_writes: bool) -> None:
        self._store = store
        self._run_writes, self._metric_writes = run_writes, metric_writes
        self.quiet = not run_writes  # nor does it print the run's story into the shared log

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name in _MAIN_ONLY and not self._metric_writes:
            return _ignore
        if name in _RUN_WRITES and not self._run_writes:
            return _ignore
        return attribute


def _ignore(*args: Any, **kwargs: Any) -> None:
    return None


class RankHeartbeat:
    """A thread that says, every few seconds, that this rank is alive and how far it got."""

    def __init__(self, store: Any, run_id: int, rank: int, progress: Any) -> None:
        self.store, self.run_id, self.rank, self.progress = store, run_id, rank, progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tuitune-rank-heartbeat", daemon=True)

    def __enter__(self) -> RankHeartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def beat(self) -> None:
        gpu, device = None, None
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            gpu = torch.cuda.max_memory_allocated() / 2**30
            device = f"cuda:{torch.cuda.current_device()}"
        try:
            self.store.process_heartbeat(
                self.run_id,
                rank=self.rank,
                pid=os.getpid(),
                host=socket.gethostname(),
                device=device,
                step=self.progress.steps_done,
                gpu_memory_gb=gpu,
                cpu_memory_gb=process_memory_gb(),
            )
        except Exception:
            pass

    def _loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self.beat()


# The pid of the worker supervising the group; every rank follows it out.
SUPERVISOR_ENV = "TUITUNE_SUPERVISOR_PID"
SUPERVISOR_WATCH_SECONDS = 0.5


def follow_supervisor() -> None:
    """End this rank within a second of its group's supervisor going (SIGKILL, the OOM killer).

    A rank left training a run nobody supervises would go on writing it while the run reads as
    crashed, and a resume would start a second group beside it: the run trained twice. The
    ranks are not children of the supervisor (torchrun gives each a session of its own), so no
    signal of the kernel's reaches them: each watches the supervisor itself.
    """
    value = os.environ.get(SUPERVISOR_ENV, "")
    if not value.isdecimal():
        return  # started by hand (`accelerate launch … -m tuitune.engine.rank`): nobody to follow
    # Imported here, as psutil is everywhere in tuitune (~20 ms; runs.lookup above has loaded it).
    import psutil

    try:
        supervisor = psutil.Process(int(value))  # remembers its start time: a reused pid is not it
    except psutil.Error:
        _end_with_supervisor(int(value))
        return

    def watch() -> None:
        while True:
            try:
                alive = supervisor.is_running() and supervisor.status() != psutil.STATUS_ZOMBIE
            except psutil.Error:
                alive = False
            if not alive:
                _end_with_supervisor(supervisor.pid)
            time.sleep(SUPERVISOR_WATCH_SECONDS)

    threading.Thread(target=watch, name="tuitune-supervisor-watch", daemon=True).start()


def _end_with_supervisor(pid: int) -> None:
    with contextlib.suppress(OSError):
        print(f"[error] the group's supervisor (pid {pid}) is gone: this rank stops now", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    follow_supervisor()  # first: a rank that starts after the supervisor died never trains
    stop = StopRequest()
    # torchrun stops the group with SIGTERM: finish the step like a cancel, never mid-write.
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    os.umask(0o077)
    parser = argparse.ArgumentParser(prog="python -m tuitune.engine.rank")
    parser.add_argument("run_id", type=int)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    # Imported once the supervisor is followed and the signal handlers are in: these load torch,
    # seconds in which a SIGTERM or the supervisor's death must still be heard.
    from tuitune.engine.callbacks import Progress
    from tuitune.engine.runner import execute

    store = open_store()
    seen = RankStore(store, run_writes=local_rank == 0, metric_writes=rank == 0)
    progress = Progress()
    ended = "failed"
    try:
        with RankHeartbeat(store, args.run_id, rank, progress):
            # A Store in all but what this rank may write (duck-typed on purpose).
            result = execute(
                args.run_id, cast("Store", seen), resume=args.resume, stop=stop, in_group=True, progress=progress
            )
            ended = result.status
    except TuituneError as error:
        report_failure(error)
        return 1
    finally:
        # Said on the way out, whatever the way: a rank gone without it was killed.
        with contextlib.suppress(Exception):
            store.process_ended(args.run_id, rank=rank, how=ended)
        store.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
