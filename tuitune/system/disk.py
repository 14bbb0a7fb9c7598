"""Which disk a path lives on, and how full it is: for "no space left" messages people can act on."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

# What the libraries say when a write hits a full disk: the OS (ENOSPC), SQLite, safetensors'
# Rust error, and torch's zip writer (which drops the errno).
_FULL_WORDS = ("no space left", "database or disk is full", "storagefull", "disk quota exceeded")


def is_disk_full(error: BaseException) -> bool:
    """Whether `error`, or an exception it came from, says the disk is full."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(current).lower()
        if any(word in text for word in _FULL_WORDS):
            return True
        current = current.__cause__ or current.__context__
    return False


def mount_point(path: str | os.PathLike[str]) -> Path:
    """The mount point of the filesystem holding `path` (or the nearest folder above it that exists)."""
    current = Path(os.path.abspath(path))
    while not current.exists() and current != current.parent:
        current = current.parent
    while not os.path.ismount(current) and current != current.parent:
        current = current.parent
    return current


def describe_disk(path: str | os.PathLike[str]) -> str:
    """`the disk mounted at /data (/dev/sdb1, 12 MB free)`, as far as it can be told."""
    mount = mount_point(path)
    device = ""
    try:
        # Imported here: psutil costs ~20 ms, and the store imports this module for its error messages.
        import psutil

        for partition in psutil.disk_partitions(all=True):
            if Path(partition.mountpoint) == mount:
                device = partition.device
    except Exception:
        device = ""
    try:
        free = f"{shutil.disk_usage(mount).free / 1e6:,.0f} MB free"
    except OSError:
        free = ""
    details = ", ".join(part for part in (device, free) if part)
    return f"the disk mounted at {mount}" + (f" ({details})" if details else "")
