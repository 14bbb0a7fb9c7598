"""A run's own folder: tuitune makes it, records what it writes there, and deletes only that.

A run never writes into a folder it did not create: `--output DIR` makes `DIR/<id>-<name>/`, so a
user's project folder is never the run's folder, and two runs never share one. The folder holds a
manifest (`.tuitune-run.json`) naming the run and every top-level entry tuitune wrote
(`config.yaml`, `worker.log`, `checkpoints/`, `adapter/`…). Every writer records what it adds: the
launcher and the worker (`recording`), and whatever writes into a run's folder later, wherever it
was told to write (`writing`: a merge into `merged/`, a chat export). `remove_run_files` deletes
exactly those entries, then the folder only if nothing else is left in it. Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tuitune.errors import OutputNotWritableError, RunStateError
from tuitune.system import paths

MANIFEST = ".tuitune-run.json"
FOLDER_MODE = 0o700


@dataclass
class Removal:
    """What `remove_run_files` deleted, and what it left because tuitune did not write it."""

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    folder_removed: bool = False


def make_run_folder(parent: Path, run_id: int, name: str) -> Path:
    """Create `parent/<id>-<name>/` (a fresh folder, never an existing one) with its manifest."""
    base = f"{run_id}-{paths.slug(name)}"
    try:
        paths.make_private_dir(parent)
        for attempt in range(1, 1000):
            # A folder of that name left by an older store (ids restart in a new store) is not ours.
            folder = parent / (base if attempt == 1 else f"{base}-{attempt}")
            try:
                folder.mkdir(mode=FOLDER_MODE)
            except FileExistsError:
                continue
            _write_manifest(folder, {"run_id": run_id, "entries": []})
            return folder.resolve()
    except OSError as exc:
        raise OutputNotWritableError(
            f"Cannot create the run's output folder in {parent} ({exc.strerror or exc}): "
            "choose another with --output or fix its permissions."
        ) from None
    raise OutputNotWritableError(f"{parent} holds too many folders named {base}-N: choose another --output.")


def is_run_folder(folder: Path) -> bool:
    """Whether tuitune made this folder for a run (it holds a manifest)."""
    return (folder / MANIFEST).is_file()


def record(folder: Path, *entries: str) -> None:
    """Note top-level entries of the run's folder as written by tuitune (deleted with the run)."""
    if not entries or not is_run_folder(folder):
        return
    with _locked(folder):
        manifest = _read_manifest(folder)
        known = manifest.setdefault("entries", [])
        for entry in entries:
            if entry not in known and not entry.startswith(MANIFEST) and "/" not in entry:
                known.append(entry)
        _write_manifest(folder, manifest)


@contextlib.contextmanager
def recording(folder: Path) -> Iterator[None]:
    """Record every top-level entry that appears in the folder while the block runs (even if it fails).

    The worker trains inside this: whatever the Trainer and its integrations write (checkpoints,
    TensorBoard logs…) is tuitune's, and nothing the user put there before is.
    """
    before = _entries(folder)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            record(folder, *sorted(_entries(folder) - before))


def run_folder_of(path: Path) -> Path | None:
    """The run folder `path` lies in (the nearest folder above it with a manifest), if any."""
    try:
        absolute = path.expanduser().absolute()
    except OSError:
        return None
    return next((parent for parent in absolute.parents if is_run_folder(parent)), None)


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Around tuitune writing `path` (a file or a folder), wherever it was told to write: when
    `path` lies in a run's folder, what it adds there is recorded (even if the write fails).

    Recorded: `path`'s top-level entry in the run folder when it is `path` itself or did not exist
    before (tuitune made it), and any other entry that appeared meanwhile (a staging folder an
    interrupted merge left). A folder of the user's that `path` lies deeper in is not recorded:
    deleting the run's files never takes what the user put beside it.
    """
    folder = run_folder_of(path)
    if folder is None:
        yield
        return
    entry = path.expanduser().absolute().relative_to(folder).parts[0]
    whole = path.expanduser().absolute().parent == folder
    before = _entries(folder)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            after = _entries(folder)
            added = (after - before) | ({entry} if whole and entry in after else set())
            record(folder, *sorted(added))


def remove_run_files(folder: Path, run_id: int) -> Removal:
    """Delete what tuitune wrote in a run's folder; the folder too if nothing else is left."""
    if not folder.exists():
        return Removal()
    if not is_run_folder(folder):
        raise RunStateError(
            f"The folder {folder} was not made by tuitune (it has no {MANIFEST}), so it is left "
            "untouched: delete the run without --files, and its folder yourself if you are sure."
        )
    manifest = _read_manifest(folder)
    if manifest.get("run_id") != run_id:
        raise RunStateError(
            f"The folder {folder} belongs to run {manifest.get('run_id')}, not run {run_id}: "
            "it is left untouched. Delete the run without --files."
        )
    removal = Removal()
    for entry in manifest.get("entries", []):
        target = folder / entry
        if not target.exists() and not target.is_symlink():
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
        removal.removed.append(entry)
    removal.kept = sorted(_entries(folder) - {MANIFEST})
    if not removal.kept:
        (folder / MANIFEST).unlink()
        folder.rmdir()
        removal.folder_removed = True
    return removal


def legacy_default_folder(folder: Path, run_id: int) -> bool:
    """A folder from before manifests, in tuitune's own runs folder under this run's id."""
    try:
        inside = folder.resolve().parent == paths.runs_dir().resolve()
    except OSError:
        return False
    return inside and folder.name.split("-", 1)[0] == str(run_id)


def _entries(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def _read_manifest(folder: Path) -> dict:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"entries": []}
    return data if isinstance(data, dict) else {"entries": []}


def _write_manifest(folder: Path, manifest: dict) -> None:
    # Written whole to a temporary file and renamed: a crash never leaves half a manifest.
    temporary = folder / f"{MANIFEST}.tmp"
    paths.write_private_text(temporary, json.dumps(manifest, indent=2) + "\n")
    os.replace(temporary, folder / MANIFEST)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    # The launcher and the worker both record entries; one at a time (a lock on the folder itself,
    # so no lock file is left behind).
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)
