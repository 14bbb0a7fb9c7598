"""Which folders a request may name: a client must not read or write anywhere else on the box."""

from __future__ import annotations

from pathlib import Path

from tuitune.config import DEMO_MODEL, SAMPLE_DATASET, RunConfig
from tuitune.errors import UsageError
from tuitune.user_text import path_problem, shorten


def _is_local(text: str) -> bool:
    # A Hub id (`owner/name`) that is not also a folder here is not a path on this machine.
    if text in (DEMO_MODEL, SAMPLE_DATASET):
        return False
    if text.startswith(("/", ".", "~")) or text.count("/") > 1 or "\\" in text:
        return True
    return path_problem(text) is None and Path(text).expanduser().exists()


def check_inside(text: str, roots: tuple[Path, ...], what: str, *, always_local: bool = False) -> None:
    """Refuse `text` unless it is not a local path at all, or it lies under one of `roots`."""
    if not always_local and not _is_local(text):
        return
    problem = path_problem(text)
    if problem is not None:
        raise UsageError(f"{what} {shorten(text)} is not a usable path ({problem}).")
    resolved = Path(text).expanduser().resolve()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise UsageError(
            f"{what} {shorten(text)} is outside the folders this server may use ({allowed}): "
            "put it there, or start the server with --data-root."
        )


def check_config_paths(config: RunConfig, roots: tuple[Path, ...]) -> None:
    """Every local path a run configuration names must lie under the server's data roots."""
    check_inside(config.data.source, roots, "The dataset")
    check_inside(config.model.name_or_path, roots, "The model folder")
    if config.training.output_dir:
        check_inside(config.training.output_dir, roots, "The output folder", always_local=True)
