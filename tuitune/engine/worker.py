"""The detached training process: `python -m tuitune.engine.worker RUN_ID [--resume]`.

Started by the launcher in its own session with stdout/stderr going to the run's worker.log.
SIGTERM asks for a graceful stop: finish the step, save a checkpoint, end `cancelled`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import traceback

from tuitune.engine.callbacks import StopRequest
from tuitune.errors import TuituneError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuitune.engine.worker")
    parser.add_argument("run_id", type=int)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)

    stop = StopRequest()

    def request_stop(signum: int, frame: object) -> None:
        print(f"[info] signal {signal.Signals(signum).name}: stopping after this step", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    # No terminal to lose: the worker outlives the session that started it.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    import warnings

    # Deprecation chatter between library versions is for us, not for the run's log.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    from tuitune.engine.runner import execute
    from tuitune.store import open_store

    store = open_store()
    try:
        result = execute(args.run_id, store, resume=args.resume, stop=stop)
    except TuituneError as error:
        traceback.print_exc()
        print(f"[error] {error}", flush=True)
        return 1
    print(f"[info] run {result.run_id} {result.status}: {result.steps_completed} steps, train loss {result.train_loss}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
