"""A file picker that shows folders and the data files tuitune reads, nothing else."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.widgets import DirectoryTree

DATA_SUFFIXES = frozenset({".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".txt"})
# Folders that never hold a user's dataset and can be huge.
SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", ".git", ".venv", "venv", "site-packages", "build", "dist"})


def shows(path: Path) -> bool:
    """Whether the picker lists `path`: a folder (not hidden, not a cache) or a data file."""
    if path.name.startswith(".") or path.name in SKIPPED_FOLDERS or path.name.endswith(".egg-info"):
        return False
    try:
        return path.is_dir() or path.suffix.lower() in DATA_SUFFIXES
    except OSError:  # a broken link or a folder we may not read
        return False


class DataFileTree(DirectoryTree):
    """Folders (not hidden) and files ending in .json/.jsonl/.csv/.tsv/.parquet/.txt."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [path for path in paths if shows(path)]
