"""Where tuitune keeps its things: `TUITUNE_HOME`, else the platform's user data folder.

The store holds prompts and model outputs, so what tuitune creates is private to its user:
folders 0700 and files 0600, whatever the umask. A folder the user made keeps the mode they gave it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

HOME_ENV = "TUITUNE_HOME"
# The store's file where it is not `$TUITUNE_HOME/tuitune.db`: a SLURM job's own scratch copy on its
# node's disk (SQLite is never opened from two hosts; see `tuitune.store.journal`).
STORE_ENV = "TUITUNE_STORE"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def home() -> Path:
    """The folder holding the store, the runs and the demo model (created on first use)."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        root = Path(configured).expanduser()
    else:
        # Imported here: only needed without TUITUNE_HOME, and it would add ~10 ms to every start.
        from platformdirs import user_data_dir

        root = Path(user_data_dir("tuitune", appauthor=False))
    make_private_dir(root)
    return root


def make_private_dir(folder: Path) -> None:
    """Create `folder` (and missing parents) readable by its owner only; existing ones are left as they are."""
    if folder.is_dir():
        return
    missing = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue
        # mkdir's mode is filtered by the umask: a umask of 077 is fine, 022 too; set it exactly.
        os.chmod(path, PRIVATE_DIR_MODE)


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """`os.open` that creates the file 0600 (an existing file keeps its mode)."""
    return os.open(path, flags, PRIVATE_FILE_MODE)


def write_private_text(path: Path, text: str) -> None:
    """Write a text file that only its owner can read."""
    with os.fdopen(open_private(path), "w", encoding="utf-8") as handle:
        handle.write(text)


def make_tree_private(folder: Path) -> None:
    """Make a folder tuitune wrote, and everything in it, its owner's only: folders 0700, files 0600.

    For what a library saved with the process's umask (a merged model). Links are left as they are:
    changing one's mode would change what it points to, which may be outside the folder.
    """
    os.chmod(folder, PRIVATE_DIR_MODE)
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, PRIVATE_DIR_MODE if name in folders else PRIVATE_FILE_MODE)


def database_path() -> Path:
    configured = os.environ.get(STORE_ENV)
    return Path(configured).expanduser() if configured else home() / "tuitune.db"


def runs_dir() -> Path:
    return home() / "runs"


def models_dir() -> Path:
    return home() / "models"


def slug(name: str) -> str:
    """A run name made safe for a folder name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return cleaned[:60] or "run"


def run_dir(run_id: int, name: str) -> Path:
    """`$TUITUNE_HOME/runs/<id>-<name>/`, the default output folder of a run."""
    return runs_dir() / f"{run_id}-{slug(name)}"
