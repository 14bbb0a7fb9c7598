"""The queue's keeper: `python -m tuitune.engine.keeper`, alive while runs wait (see keeper_lock).

Every few seconds it looks as any command does (`launcher.reconcile`): a run whose worker is
gone is recorded crashed, a claim whose worker never started goes back in line, and the next
queued run starts in the slot that freed. It exits when nothing waits; it never trains and
never imports torch.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from tuitune.engine import queue
from tuitune.engine.keeper_lock import take_lock
from tuitune.errors import StoreError
from tuitune.store import open_store

LOOK_SECONDS = 2.0


def keep(look_seconds: float = LOOK_SECONDS) -> int:
    """Look after the queue until nothing waits; returns the number of looks taken."""
    # Workers it starts are its children: reap them as they exit, never leave zombies behind.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    store = open_store()
    looks = 0
    lock = take_lock()
    while lock is not None:
        try:
            queue.reconcile(store)
            needed = store.keeper_needed()
        except StoreError as error:
            print(f"[warning] the store could not be read ({error}); looking again", flush=True)
            needed = True
        looks += 1
        if not needed:
            # Let go, then look once more: a run queued between the look and the letting go
            # found the lock held and started no keeper, so this one must see it.
            os.close(lock)
            lock = None
            try:
                again = store.keeper_needed()
            except StoreError:
                again = True
            if again:
                lock = take_lock()  # None: a newer keeper took over
            continue
        time.sleep(look_seconds)
    store.release()
    return looks


def main() -> int:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # outlives the terminal that queued the run
    os.umask(0o077)
    looks = keep()
    print(f"[info] keeper {os.getpid()}: nothing waits after {looks} looks; exiting", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
