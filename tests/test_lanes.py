"""The suite's two lanes: CI runs the README's test command, which runs the fast lane first and
then the integration lane, and each lane is what tests/conftest.py says it is."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _CHILDREN

ROOT = Path(__file__).resolve().parent.parent
CI_MARKER = "# --- the README's test command, verbatim ---"


def readme_test_command() -> str:
    """The second command of the README's Quick start: the checks and the tests."""
    quick_start = (ROOT / "README.md").read_text(encoding="utf-8").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick_start, flags=re.S)
    assert len(commands) >= 2, "the Quick start has two commands"
    return commands[1].strip()


def ci_test_command() -> str:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    return lines[lines.index(CI_MARKER) + 1].strip()


def pytest_runs(command: str) -> list[list[str]]:
    """The arguments of each `python -m pytest` in a `&&` chain, in order."""
    runs = []
    for step in command.split(" && "):
        words = shlex.split(step)
        if words[:3] == ["python", "-m", "pytest"]:
            runs.append(words[3:])
    return runs


def marker_of(arguments: list[str]) -> str | None:
    return arguments[arguments.index("-m") + 1] if "-m" in arguments else None


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    assert ci_test_command() == readme_test_command()


def test_the_command_runs_the_fast_lane_first_then_every_integration_test_with_its_slowest_shown() -> None:
    runs = pytest_runs(readme_test_command())
    assert [marker_of(run) for run in runs] == ["not integration", "integration and not serial", "serial"]
    assert all("--durations=25" in run for run in runs[1:])  # CI's log names the slowest tests
    parallel, serial = runs[1], runs[2]
    # Two workers on CI's two cores, a module with a module-scoped fixture kept on one of them
    # (its trained run trained once); the serial tests alone, with no worker beside them.
    assert parallel[parallel.index("-n") + 1] == "2" and parallel[parallel.index("--dist") + 1] == "loadgroup"
    assert "-n" not in serial


def test_every_marker_a_lane_names_is_declared() -> None:
    declared = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for marker in ("integration", "serial", "slow"):
        assert f'"{marker}: ' in declared, marker


def test_the_fast_lane_sees_every_child_process_its_tests_start() -> None:
    """What the guard in tests/conftest.py counts: here the one child is taken back out of its
    list, so this test passes; any other test outside the integration lane that starts one fails."""
    assert _CHILDREN.started == [], "a fast-lane test runs with its children counted"
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert _CHILDREN.started is not None and len(_CHILDREN.started) == 1 and "-c pass" in _CHILDREN.started[0]
    _CHILDREN.started.clear()


@pytest.fixture(scope="module")
def made_once_for_the_module() -> object:
    """Stands for a run trained once for a module's tests (test_merge's, test_upload's)."""
    return object()


def test_a_test_that_shares_a_module_fixture_stays_with_its_module(
    made_once_for_the_module: object, request: pytest.FixtureRequest
) -> None:
    groups = [mark.args[0] for mark in request.node.iter_markers("xdist_group")]
    assert groups == ["tests/test_lanes.py"]  # one worker runs them all: the fixture is made once


def test_a_test_of_its_own_goes_to_whichever_worker_is_free(request: pytest.FixtureRequest) -> None:
    assert list(request.node.iter_markers("xdist_group")) == []


PROBE = """
import os
import pytest

@pytest.fixture(scope="module")
def made():
    with open(os.environ["PROBE_LOG"], "a") as log:
        log.write(f"made {os.getpid()}\\n")

@pytest.mark.parametrize("n", range(6))
def test_shares(made, n):
    with open(os.environ["PROBE_LOG"], "a") as log:
        log.write(f"ran {os.getpid()}\\n")

@pytest.mark.parametrize("n", range(6))
def test_alone(n):
    pass
"""


@pytest.mark.integration  # starts pytest with two xdist workers
def test_two_workers_make_a_module_fixture_once_the_lane_command_way(tmp_path: Path) -> None:
    # As the integration lane runs: `-n 2 --dist loadgroup`, with this suite's conftest. xdist
    # reads the groups while collecting, so the conftest must mark them before it does (marked
    # after, each worker made every module's fixture: the trained runs were trained twice).
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n")
    (tmp_path / "test_probe.py").write_text(PROBE)
    log = tmp_path / "log"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider", "."],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PROBE_LOG": str(log)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = log.read_text().splitlines()
    made = [line.split()[1] for line in lines if line.startswith("made")]
    ran = {line.split()[1] for line in lines if line.startswith("ran")}
    assert len(made) == 1 and ran == set(made), lines
