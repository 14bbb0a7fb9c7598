"""Shared fixtures, and the two lanes of the suite.

Every test gets its own TUITUNE_HOME. The demo model is real (a small Llama built by
`tuitune.models.demo`) and built once per run of the suite, shared through a symlinked `models/`
folder, so each test still sees a private store and runs folder. Under pytest-xdist the workers
share it, and the greeter (tests/trained_runs.py), which several modules talk to and evaluate, is
trained once for all of them.

The lanes (README, "Development"):
- the fast lane, `pytest -m "not integration"`: tests that stay in this process. They start no
  child process, train nothing, serve nothing on a port, drive no browser and mount nothing.
- the integration lane, `pytest -m integration`: every test that does one of those, marked
  `integration` (a whole module through `pytestmark`, or one test). `slow` (trains for real),
  `gpu` and `serial` imply it. A test outside the integration lane that starts a child process
  fails, naming the process, so nothing slips into the fast lane unseen.
- `serial`: integration tests that hold the product to a deadline a loaded machine can miss (a
  killed worker replaced within seconds, a group's ranks gone within seconds, a full disk
  recorded before the run looks crashed) or drive Chromium.
  The README runs them on their own, without `-n`; the rest of the integration lane runs on two
  pytest-xdist workers (`--dist loadgroup`: a test goes to whichever worker is free, except that
  the tests of a module with a module-scoped fixture, a run trained for them, stay together).
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing.util
import os
import shutil
import subprocess
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


def _share_the_cores() -> None:
    """Under pytest-xdist, each worker (and every process it starts: workers, ranks, chat
    children) computes with its share of the cores, not all of them: two workers of two torch
    threads each on two cores spend their time switching instead of training."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(variable, threads)


_share_the_cores()


# --- the lanes ---------------------------------------------------------------------------------
# First: xdist reads the groups in its own pytest_collection_modifyitems, so they must be marked
# before it runs (after it, every module's fixture was made on both workers).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(kind) for kind in ("slow", "serial", "gpu")):
            item.add_marker(pytest.mark.integration)
        if _uses_a_module_fixture(item):
            # One worker runs the whole module (`--dist loadgroup`), so its fixture (a trained
            # run, a model built for it) is made once; every other test goes to whichever
            # worker is free.
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def _uses_a_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)  # pytest's own record of what the test asks for
    if info is None:
        return False
    return any(
        definition.scope in ("module", "class", "package")
        for definitions in info.name2fixturedefs.values()
        for definition in definitions
    )


class _ChildProcesses:
    """Every child process this process starts, while a fast-lane test runs."""

    def __init__(self) -> None:
        self.started: list[str] | None = None

    def record(self, what: str) -> None:
        if self.started is not None:
            self.started.append(what)


_CHILDREN = _ChildProcesses()
_execute_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]  # CPython's one spawn point
_spawnv_passfds = multiprocessing.util.spawnv_passfds


def _recording_execute_child(self: subprocess.Popen[Any], args: Any, *rest: Any, **options: Any) -> None:
    _CHILDREN.record(args if isinstance(args, str) else " ".join(str(arg) for arg in args))
    _execute_child(self, args, *rest, **options)


def _recording_spawnv_passfds(path: Any, args: Any, passfds: Any) -> int:
    _CHILDREN.record(" ".join(str(arg) for arg in args))
    return _spawnv_passfds(path, args, passfds)


subprocess.Popen._execute_child = _recording_execute_child  # type: ignore[attr-defined]
multiprocessing.util.spawnv_passfds = _recording_spawnv_passfds
os.register_at_fork(before=lambda: _CHILDREN.record("os.fork()"))


@pytest.fixture(autouse=True)
def _fast_lane_starts_no_process(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test outside the integration lane that starts a child process fails, naming it."""
    if request.node.get_closest_marker("integration"):
        yield
        return
    _CHILDREN.started = []
    try:
        yield
        started = _CHILDREN.started
    finally:
        _CHILDREN.started = None
    if started:
        pytest.fail(
            f"{request.node.nodeid} started {len(started)} child process(es), first: {started[0][:200]!r}. "
            "A test that starts processes belongs to the integration lane: mark it "
            "`@pytest.mark.integration` (see tests/conftest.py).",
            pytrace=False,
        )


# --- homes ---------------------------------------------------------------------------------------
def shared_root(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every pytest-xdist worker of this run shares (their basetemps' parent), or this
    session's basetemp when it has no workers. Asked of the session itself, not of the
    environment: a pytest that a test starts inherits PYTEST_XDIST_WORKER, not the workers."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if hasattr(config, "workerinput") else base


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
def shared_models_dir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = shared_root(pytestconfig, tmp_path_factory) / "shared-models"
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
def greeter(
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
    shared_models_dir: Path,
    demo_model_path: Path,
) -> Trained:
    """The greeter (a LoRA run that learned the greetings, tests/trained_runs.py), trained once for
    the whole run, whichever worker asks first; the others wait for it. Use `greeter_home` for a
    store of one's own with it."""
    from tests.trained_runs import Trained, train_greeter

    root = shared_root(pytestconfig, tmp_path_factory)
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


# --- the dashboard's browser -------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The system's headless Chromium (tests/browser.py), one per test module."""
    from tests.browser import chromium, chromium_path

    if chromium_path() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does it)")
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh desktop-sized page; the test fails if the page raised an error meanwhile."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real one-node SLURM cluster (tests/slurm_cluster.py), its config named by SLURM_CONF for
    every tuitune process the tests start; skipped with the reason where it cannot start."""
    from tests import slurm_cluster

    cluster = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        slurm_cluster.stop(cluster)
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
