"""Small helpers the tests share: run the real CLI in a subprocess, poll the real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tuitune.store import COMPLETED, Run, open_store


def cli(
    *args: str, timeout: float = 300, check: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`tuitune ARGS` in a fresh interpreter, exactly as a user types it."""
    result = subprocess.run(
        [sys.executable, "-m", "tuitune", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"tuitune {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def cli_json(*args: str, timeout: float = 300) -> Any:
    result = cli(*args, "--json", timeout=timeout)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 120, interval: float = 0.1, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_for_status(run_id: int, statuses: set[str], timeout: float = 180) -> Run:
    from tuitune.runs.lookup import check_alive

    store = open_store()

    def reached() -> Run | None:
        run = check_alive(store.get_run(run_id), store=store)
        return run if run.status in statuses else None

    return wait_for(reached, timeout=timeout, what=f"run {run_id} to become {statuses}")


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str, code: int = 1) -> None:
    """A user-facing failure: exit code 1 (2 for usage errors), one line on stderr, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]


@contextmanager
def small_disk(path: Path, megabytes: int) -> Iterator[Path]:
    """A real, small filesystem (tmpfs) mounted at `path`, to fill up or make read-only.

    Needs the right to mount (root, as on CI): the test is skipped, saying so, where it is missing.
    """
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small disk here ({mounted.stderr.strip()}); CI runs this as root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def make_read_only(path: Path, timeout: float = 60) -> None:
    """Remount a `small_disk` read-only (what a read-only share looks like).

    The kernel refuses while a process still has a file there open for writing (a worker that is
    finishing), so this tries until it may.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True, text=True)
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"cannot remount {path} read-only: {result.stderr.strip()}")
        time.sleep(0.2)


def tuitune_script() -> str:
    """The `tuitune` console script next to this interpreter: what a user runs."""
    return str(Path(sys.executable).parent / "tuitune")


@contextmanager
def running_server(*args: str, home: Path | None = None) -> Iterator[str]:
    """A real `tuitune serve` on a free loopback port; yields its URL, stops it afterwards."""
    import re
    import signal

    env = {**os.environ, **({"TUITUNE_HOME": str(home)} if home else {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "tuitune", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            if found:
                url = found.group(1)
                break
        if url is None:
            raise AssertionError(f"the server did not start: {process.stdout.read()[-2000:]}")
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def completed_run_of_a_huge_model(folder: Path) -> Run:
    """A completed run whose model is a 70B Llama by its config alone (no weights): anything that
    would load it must refuse first, for want of memory."""
    huge = folder / "llama-70b-like"
    huge.mkdir()
    (huge / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "hidden_size": 8192,
                "intermediate_size": 28672,
                "num_hidden_layers": 80,
                "num_attention_heads": 64,
                "num_key_value_heads": 8,
                "vocab_size": 128256,
                "max_position_embeddings": 8192,
            }
        )
    )
    store = open_store()
    run = store.create_run(
        name="huge", config={"model": {"name_or_path": str(huge)}}, model=str(huge), method="lora", dataset="d"
    )
    store.set_status(run.id, COMPLETED)
    return store.get_run(run.id)
