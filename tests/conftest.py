"""Shared fixtures: every test gets its own TUITUNE_HOME; the demo model is built once per run.

The demo model is real (a small Llama built by `tuitune.models.demo`) and shared between tests
through a symlinked `models/` folder, so each test still sees a private store and runs folder.
Under pytest-xdist the workers share it, and the greeter (tests/trained_runs.py), which several
modules talk to and evaluate, is trained once for all of them.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.trained_runs import Trained

# huggingface_hub reads HF_HUB_OFFLINE once, when first imported, which can happen in a session
# fixture before the per-test environment below is applied; set it for the whole process first.
for _offline in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_offline] = "1"


# --- homes ---------------------------------------------------------------------------------------
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every pytest-xdist worker of this run shares (their basetemps' parent), or this
    session's basetemp when there are no workers."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """One holder at a time across the workers' processes."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def shared_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = shared_root(tmp_path_factory) / "shared-models"
    models.mkdir(exist_ok=True)
    return models


def link_models(home: Path, models: Path) -> None:
    try:
        (home / "models").symlink_to(models, target_is_directory=True)
    except FileExistsError:
        pass


@pytest.fixture(autouse=True)
def tuitune_home(tmp_path: Path, shared_models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private TUITUNE_HOME whose models/ is shared across the session."""
    home = tmp_path / "home"
    home.mkdir()
    link_models(home, shared_models_dir)
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
    """The built-in demo model, built once for the whole run (workers share it: the build renames
    a finished folder into place, so a second builder keeps the first one's)."""
    from tuitune.models.demo import ensure_demo_model

    old = os.environ.get("TUITUNE_HOME")
    home = shared_models_dir.parent / "demo-build-home"
    home.mkdir(exist_ok=True)
    link_models(home, shared_models_dir)
    os.environ["TUITUNE_HOME"] = str(home)
    try:
        return ensure_demo_model()
    finally:
        if old is None:
            os.environ.pop("TUITUNE_HOME", None)
        else:
            os.environ["TUITUNE_HOME"] = old


# --- the greeter: trained once per run of the suite ---------------------------------------------
@pytest.fixture(scope="session")
def greeter(tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path) -> Trained:
    """The greeter (a LoRA run that learned the greetings, tests/trained_runs.py), trained once for
    the whole run, whichever worker asks first; the others wait for it. Use `greeter_home` for a
    store of one's own with it."""
    from tests.trained_runs import Trained, train_greeter

    root = shared_root(tmp_path_factory)
    record = root / "greeter.json"
    with file_lock(root / "greeter.lock"):
        if not record.exists():
            home = root / "greeter"
            shutil.rmtree(home, ignore_errors=True)  # what a worker that failed to train left
            run_id = train_greeter(home, shared_models_dir)
            record.write_text(json.dumps({"home": str(home), "run_id": run_id}))
    saved = json.loads(record.read_text())
    return Trained(Path(saved["home"]), int(saved["run_id"]))


@pytest.fixture(scope="module")
def greeter_home(greeter: Trained, tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path) -> Trained:
    """A TUITUNE_HOME for one test module whose store holds the greeter: what the module adds
    (chats, evaluations, runs) stays its own. The run's folder is the one trained, which these
    tests only read."""
    from tests.trained_runs import Trained, copy_store

    home = tmp_path_factory.mktemp("greeter-home")
    link_models(home, shared_models_dir)
    copy_store(greeter.home / "tuitune.db", home / "tuitune.db")
    return Trained(home, greeter.run_id)
