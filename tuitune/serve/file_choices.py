"""What a new-run form may pick from: the dataset files and local model folders under the server's
data roots, found by a bounded walk, plus tuitune's own bundled names.

Nothing outside the roots is listed: the walk starts at each root, follows no link into a folder,
and a link whose target lies outside every root is left out (a file the guard would refuse is
never offered). The walk is bounded in depth, in entries looked at and in entries listed, so a
root over a large tree answers at once.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from tuitune.bundled import DEMO_MODEL, DEMO_NAME, SAMPLE_DATASETS
from tuitune.config import OBJECTIVES, demo_dataset
from tuitune.locations import DATA_FILE_SUFFIXES
from tuitune.system import paths

Kind = Literal["data", "model"]

MAX_DEPTH = 3  # folders below a root
MAX_LISTED = 300
MAX_VISITED = 20_000  # directory entries looked at, over all roots
# Folders never walked: environments and caches hold thousands of JSON files that are not data.
SKIPPED = frozenset({".venv", "venv", "node_modules", "__pycache__", "site-packages", "checkpoints", "adapter"})
RUN_MARKER = ".tuitune-run.json"  # a run's own folder (see tuitune.runs.files)
MODEL_MARKER = "config.json"
ADAPTER_MARKER = "adapter_config.json"


class FileChoice(BaseModel):
    """One thing the form may put in its model or dataset box."""

    path: str = Field(description="What the box takes: an absolute path, or one of tuitune's bundled names.")
    label: str = Field(description="How to show it: the path under its root, or what a bundled name is.")
    size: int | None = Field(None, description="A file's size in bytes.")
    bundled: bool = Field(False, description="One of tuitune's own names (the demo model, the sample sets).")


class FileChoices(BaseModel):
    """`GET /files`: the choices, bundled names first."""

    kind: Kind
    roots: list[str] = Field(description="The folders this server may read.")
    choices: list[FileChoice]
    truncated: bool = Field(description="More were there than are listed: type the path instead.")


def bundled_choices(kind: Kind) -> list[FileChoice]:
    if kind == "model":
        return [FileChoice(path=DEMO_MODEL, label="built-in demo model, trains in seconds on a CPU", bundled=True)]
    return [
        FileChoice(path=name, label=f"bundled sample ({', '.join(_learners(name))})", bundled=True)
        for name in SAMPLE_DATASETS
    ]


def _learners(dataset: str) -> list[str]:
    """The objectives whose demo learns from a bundled set."""
    return [objective for objective in OBJECTIVES if demo_dataset(objective) == dataset]


def file_choices(roots: tuple[Path, ...], kind: Kind) -> FileChoices:
    """The bundled names, then what lies under `roots` (resolved folders) for `kind`."""
    found: list[FileChoice] = []
    seen: set[str] = set()
    budget = [MAX_VISITED]
    truncated = False
    skipped = {(paths.models_dir() / DEMO_NAME).resolve()}  # the demo's build: listed as tuitune/demo
    for root in roots:
        for path in _walk(root, roots, kind, budget, skipped):
            if str(path) in seen:
                continue  # roots may overlap (the current folder inside TUITUNE_HOME)
            if len(found) >= MAX_LISTED:
                truncated = True
                break
            seen.add(str(path))
            found.append(_choice(path, root, kind))
        truncated = truncated or budget[0] <= 0
    return FileChoices(
        kind=kind, roots=[str(root) for root in roots], choices=bundled_choices(kind) + found, truncated=truncated
    )


def _choice(path: Path, root: Path, kind: Kind) -> FileChoice:
    label = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    size = None
    if kind == "data":
        try:
            size = path.stat().st_size
        except OSError:
            pass
    return FileChoice(path=str(path), label=label, size=size)


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _walk(root: Path, roots: tuple[Path, ...], kind: Kind, budget: list[int], skipped: set[Path]) -> Iterator[Path]:
    """Breadth first, names sorted: the shallowest choices come first when the list is cut."""
    folders: deque[tuple[Path, int]] = deque([(root, 0)])
    while folders:
        folder, depth = folders.popleft()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            continue
        budget[0] -= len(entries)
        if budget[0] < 0:
            return
        names = {entry.name for entry in entries}
        if RUN_MARKER in names and kind == "data":
            continue  # a run's folder holds its outputs, never a dataset
        if folder != root and (MODEL_MARKER in names or ADAPTER_MARKER in names):
            continue  # a model's or adapter's JSON files are not data (the folder itself was listed)
        for entry in entries:
            if entry.name.startswith(".") or entry.name in SKIPPED or entry.name.startswith("checkpoint-"):
                continue
            path = Path(entry.path)
            try:
                link = entry.is_symlink()
                resolved = path.resolve() if link else path
                is_dir = entry.is_dir()  # follows a link: a link to a folder is a folder
            except (OSError, RuntimeError):  # a broken or looping link
                continue
            if link and not _inside(resolved, roots):
                continue  # it points outside the folders this server may read
            if is_dir:
                if resolved in skipped:
                    continue
                if kind == "model" and (path / MODEL_MARKER).is_file():
                    yield path
                elif not link and depth + 1 <= MAX_DEPTH:
                    folders.append((path, depth + 1))  # a link is never walked into: no loops
            elif kind == "data" and os.path.splitext(entry.name)[1].lower() in DATA_FILE_SUFFIXES:
                yield path
