"""Model descriptions kept on disk between app sessions, so the wizard shows a model it has read
before at once, without waiting for the probe process to import the training stack.

A description depends only on the model's files (its config.json), the GPUs this process may use
and tuitune's version: the key holds all of them, so a changed model or machine is read again.
Only the demo model and local folders are kept (a Hub id's files live in the Hub's cache, which
this light module does not read). Nothing here imports torch or textual.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from tuitune import __version__
from tuitune.system import paths

FOLDER = "probe-cache"
# What the recommendation in a description depends on besides the model.
_GPU_VARIABLES = ("CUDA_VISIBLE_DEVICES", "TUITUNE_GPUS", "NVIDIA_VISIBLE_DEVICES")


def _model_folder(name: str) -> Path | None:
    from tuitune.config import DEMO_MODEL, DEMO_NAME  # here: the history's first paint needs no pydantic

    if name == DEMO_MODEL:
        return paths.models_dir() / DEMO_NAME
    if "\0" in name:
        return None
    folder = Path(name).expanduser()
    try:
        return folder.resolve() if folder.is_dir() else None
    except (OSError, RuntimeError):
        return None


def _key(name: str, vram_gb: float | None) -> Path | None:
    folder = _model_folder(name)
    if folder is None:
        return None
    try:
        stat = (folder / "config.json").stat()
    except OSError:
        return None  # not built yet, or not a model folder: the helper says why
    identity = [__version__, name, str(folder), stat.st_size, stat.st_mtime_ns, vram_gb]
    identity += [os.environ.get(variable) for variable in _GPU_VARIABLES]
    digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32]
    return paths.home() / FOLDER / f"{digest}.json"


def read(name: str, vram_gb: float | None = None) -> dict[str, Any] | None:
    """The description of `name` kept from an earlier read, if its files have not changed since."""
    path = _key(name, vram_gb)
    if path is None:
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def write(name: str, document: dict[str, Any], vram_gb: float | None = None) -> None:
    """Keep a description for the next session (never fails the probe)."""
    with contextlib.suppress(OSError, TypeError, ValueError):
        path = _key(name, vram_gb)
        if path is not None:
            paths.make_private_dir(path.parent)
            temporary = path.with_suffix(".tmp")
            paths.write_private_text(temporary, json.dumps(document))
            os.replace(temporary, path)
