"""The detached training process: `python -m tuitune.engine.worker RUN_ID [--resume]`.

Started by the launcher in its own session, in the run's folder, with stdout/stderr going to the
run's worker.log. SIGTERM asks for a graceful stop: finish the step, save a checkpoint, end
`cancelled`. The signal handlers go in before anything heavy is imported, so a SIGTERM in the
first seconds is a cancel too, not a crash.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import warnings
from typing import TYPE_CHECKING

from tuitune.engine.failures import report_failure
from tuitune.engine.stop import StopRequest
from tuitune.errors import TuituneError

if TYPE_CHECKING:
    from tuitune.config import RunConfig

# Everything else (the store, the runner, the group, the queue) is imported where main needs it,
# after the signal handlers are in (see above).


def listen_for_stop(stop: StopRequest) -> None:
    def request_stop(signum: int, frame: object) -> None:
        print(f"[info] signal {signal.Signals(signum).name}: stopping after this step", flush=True)
        stop.set()

    def time_is_nearly_up(signum: int, frame: object) -> None:
        # SLURM's warning before a job's time limit (sbatch --signal=USR1@…): a checkpoint now.
        print("[info] signal SIGUSR1: the job's time limit is near: saving a checkpoint", flush=True)
        stop.set(time_limit=True)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGUSR1, time_is_nearly_up)
    # No terminal to lose: the worker outlives the session that started it.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _release_gpu_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()


def _in_group(config: RunConfig) -> bool:
    from tuitune.engine.group import visible_devices, world_size

    return world_size(config, visible_devices()) > 1


def main(argv: list[str] | None = None, *, stop: StopRequest | None = None) -> int:
    """`stop`: one whose signal handlers are already in (a SLURM job's), else made here."""
    if stop is None:
        stop = StopRequest()
        listen_for_stop(stop)
    # Checkpoints, adapters and logs hold the user's data: private to them, whatever the umask.
    os.umask(0o077)
    parser = argparse.ArgumentParser(prog="python -m tuitune.engine.worker")
    parser.add_argument("run_id", type=int)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)

    # Deprecation chatter between library versions is for us, not for the run's log.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    # Imported once the signal handlers are in (see the module's docstring).
    from tuitune.engine.runner import execute
    from tuitune.runs.files import run_config
    from tuitune.store import open_store

    store = open_store()
    try:
        # Parsed once here: the run's process and its trainer read the same config.
        config = run_config(store.get_run(args.run_id))
        if _in_group(config):
            # Several processes: this worker supervises the group (`accelerate launch`).
            from tuitune.engine.group import run_group
            from tuitune.store import CANCELLED, COMPLETED

            return 0 if run_group(args.run_id, store, resume=args.resume, stop=stop) in (COMPLETED, CANCELLED) else 1
        result = execute(args.run_id, store, resume=args.resume, stop=stop, config=config)
    except TuituneError as error:
        report_failure(error)
        return 1
    finally:
        # This run's slot is free: start the next queued run (no daemon does it for us), after
        # handing back the GPU memory this process still caches.
        _release_gpu_memory()
        from tuitune.engine.queue import start_queued_quietly
        from tuitune.runs import notify

        # Told after the status is final, by a detached sender: this exit waits on no network.
        notify.run_ended(args.run_id, store)
        start_queued_quietly(store)
        store.release()
    print(
        f"[info] run {result.run_id} {result.status}: {result.steps_completed} steps, train loss {result.train_loss}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
