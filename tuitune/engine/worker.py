"""The detached training process: `python -m tuitune.engine.worker RUN_ID [--resume]`.

Started by the launcher in its own session, in the run's folder, with stdout/stderr going to the
run's worker.log. SIGTERM asks for a graceful stop: finish the step, save a checkpoint, end
`cancelled`. The signal handlers go in before anything heavy is imported, so a SIGTERM in the
first seconds is a cancel too, not a crash.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from typing import TYPE_CHECKING

from tuitune.engine.stop import StopRequest
from tuitune.errors import TuituneError, UnexpectedTrainingError

if TYPE_CHECKING:
    from tuitune.store import Store


def _listen_for_stop(stop: StopRequest) -> None:
    def request_stop(signum: int, frame: object) -> None:
        print(f"[info] signal {signal.Signals(signum).name}: stopping after this step", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    # No terminal to lose: the worker outlives the session that started it.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def report_failure(error: TuituneError) -> None:
    """One `[error]` line for a failure the user can fix; the traceback only for a real bug."""
    cause = error.__cause__
    try:
        if isinstance(error, UnexpectedTrainingError) and cause is not None:
            traceback.print_exception(type(cause), cause, cause.__traceback__)
        print(f"[error] {error}", flush=True)
    except OSError:
        pass  # the log's disk is full: the run's row already says why


def _release_gpu_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        import gc

        gc.collect()
        torch.cuda.empty_cache()


def _in_group(run_id: int, store: Store) -> bool:
    from tuitune.engine.group import visible_devices, world_size
    from tuitune.engine.launcher import run_config

    return world_size(run_config(store.get_run(run_id)), visible_devices()) > 1


def main(argv: list[str] | None = None) -> int:
    stop = StopRequest()
    _listen_for_stop(stop)
    # Checkpoints, adapters and logs hold the user's data: private to them, whatever the umask.
    os.umask(0o077)
    parser = argparse.ArgumentParser(prog="python -m tuitune.engine.worker")
    parser.add_argument("run_id", type=int)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)

    import warnings

    # Deprecation chatter between library versions is for us, not for the run's log.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    from tuitune.engine.runner import execute
    from tuitune.store import open_store

    store = open_store()
    try:
        if _in_group(args.run_id, store):
            # Several processes: this worker supervises the group (`accelerate launch`).
            from tuitune.engine.group import run_group
            from tuitune.store import CANCELLED, COMPLETED

            return 0 if run_group(args.run_id, store, resume=args.resume, stop=stop) in (COMPLETED, CANCELLED) else 1
        result = execute(args.run_id, store, resume=args.resume, stop=stop)
    except TuituneError as error:
        report_failure(error)
        return 1
    finally:
        # This run's slot is free: start the next queued run (no daemon does it for us), after
        # handing back the GPU memory this process still caches.
        _release_gpu_memory()
        from tuitune.engine.queue import start_queued_quietly

        start_queued_quietly(store)
        store.release()
    print(
        f"[info] run {result.run_id} {result.status}: {result.steps_completed} steps, train loss {result.train_loss}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
