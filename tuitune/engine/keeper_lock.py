"""Whether the queue's keeper lives, and starting it when runs wait (light: no torch).

The keeper (`python -m tuitune.engine.keeper`) is the one tuitune process that is alive while runs
wait in the queue, so that a worker that dies without a word (SIGKILL, the OOM killer at 3 a.m.)
frees its slot within seconds with nobody at the keyboard. There is no daemon to set up: whoever
queues a run or claims one makes sure a keeper lives, and the keeper exits once nothing waits.
At most one lives per store: it holds an exclusive lock on `keeper.lock` beside the store.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
from pathlib import Path

from tuitune.system import child, paths

LOCK_NAME = "keeper.lock"
LOG_NAME = "keeper.log"


def lock_path() -> Path:
    return paths.home() / LOCK_NAME


def take_lock() -> int | None:
    """The keeper's lock, held for as long as the returned descriptor is open; None if another
    keeper holds it."""
    descriptor = paths.open_private(lock_path(), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        return None
    return descriptor


def keeper_alive() -> bool:
    """Whether a keeper holds the lock now."""
    descriptor = take_lock()
    if descriptor is None:
        return True
    os.close(descriptor)  # closing releases the lock we just took
    return False


def start_keeper() -> None:
    """Start a keeper in a session of its own (it outlives the command that starts it); a second
    one started at the same moment finds the lock taken and exits."""
    home = paths.home()
    log = paths.open_private(home / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    with os.fdopen(log, "ab") as out:
        subprocess.Popen(
            child.python_command("tuitune.engine.keeper"),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=home,
            env=child.child_environment(),
        )


def ensure_keeper(needed: bool) -> None:
    """Start a keeper if `needed` (runs wait) and none lives. Never fails a command: the queue
    still moves on every look without one."""
    if not needed:
        return
    with contextlib.suppress(OSError):
        if not keeper_alive():
            start_keeper()
