"""A little disk space kept in reserve, so a run that fills the disk can still record why it stopped.

When a disk fills up, the store needs a few pages to write "failed: no space left" on the run.
Each worker makes sure a small reserve file sits beside the store; on a full disk it deletes it and
writes the failure into the space it frees. The next worker that starts remakes it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

RESERVE_NAME = ".space-reserve"
RESERVE_BYTES = 2 * 1024 * 1024


def keep_reserve(store_path: Path) -> None:
    """Make the reserve file beside the store if it is missing (best effort: never fails a run)."""
    reserve = store_path.parent / RESERVE_NAME
    if reserve.exists():
        return
    with contextlib.suppress(OSError):
        descriptor = os.open(reserve, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.posix_fallocate(descriptor, 0, RESERVE_BYTES)
        except OSError:
            os.close(descriptor)
            reserve.unlink()
            return
        os.close(descriptor)


def free_reserve(store_path: Path) -> None:
    """Give the reserved space back to the disk (when it is full)."""
    with contextlib.suppress(OSError):
        (store_path.parent / RESERVE_NAME).unlink()
