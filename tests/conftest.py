"""Shared fixtures: every test gets its own TUITUNE_HOME; the demo model is built once per session.

The demo model is real (a small Llama built by `tuitune.models.demo`) and shared between tests
through a symlinked `models/` folder, so each test still sees a private store and runs folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# huggingface_hub reads HF_HUB_OFFLINE once, when first imported, which can happen in a session
# fixture before the per-test environment below is applied; set it for the whole process first.
for _offline in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_offline] = "1"


@pytest.fixture(scope="session")
def shared_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shared-models")


@pytest.fixture(autouse=True)
def tuitune_home(tmp_path: Path, shared_models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private TUITUNE_HOME whose models/ is shared across the session."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(shared_models_dir, target_is_directory=True)
    monkeypatch.setenv("TUITUNE_HOME", str(home))
    # Never reach the network from tests, and keep the user's HF token out.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    yield home
    stop_leftover_processes(tmp_path)


def stop_leftover_processes(folder: Path) -> None:
    """A test that failed half-way must not leave a run training for hours behind it: kill the
    detached processes (workers, ranks, chat and server children) still working for a
    TUITUNE_HOME inside the test's `folder`."""
    import psutil

    # Twice: a keeper or a worker killed in the first pass may have just started a process.
    for _ in range(2):
        _kill_processes_working_for(folder, psutil)


def _kill_processes_working_for(folder: Path, psutil: Any) -> None:
    for process in psutil.process_iter(["pid", "cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if "tuitune" not in command or process.pid == os.getpid():
            continue
        try:
            working_for = process.environ().get("TUITUNE_HOME")
        except (psutil.Error, OSError):
            continue
        if working_for and Path(working_for).is_relative_to(folder):
            try:
                process.kill()
            except psutil.Error:
                pass


@pytest.fixture(scope="session")
def demo_model_path(shared_models_dir: Path) -> Path:
    """The built-in demo model, built once for the whole session."""
    from tuitune.models.demo import ensure_demo_model

    old = os.environ.get("TUITUNE_HOME")
    home = shared_models_dir.parent / "demo-build-home"
    home.mkdir(exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(shared_models_dir, target_is_directory=True)
    os.environ["TUITUNE_HOME"] = str(home)
    try:
        return ensure_demo_model()
    finally:
        if old is None:
            os.environ.pop("TUITUNE_HOME", None)
        else:
            os.environ["TUITUNE_HOME"] = old
