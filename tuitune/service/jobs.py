"""Heavy work a face asks for (evaluate, merge, upload, export) runs in a child process of the
CLI, never in the face's own process: the one runner for the app and the service.

They import torch or transformers; running them as `python -m tuitune ... --json` keeps the app
light and its UI responsive and the service's event loop free, and a crash there takes neither
down. The child's stderr lines are progress, its stdout is one JSON document, and a failure is
the CLI's one-line `error: ...` message. Nothing here imports textual or fastapi.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tuitune.system import child, paths


@dataclass(frozen=True)
class CliOutcome:
    """How a child command ended."""

    ok: bool
    document: Any  # the parsed JSON document on stdout (None if there was none)
    error: str | None  # one line for the user when not ok
    returncode: int
    timed_out: bool = False


class ChildProcesses:
    """The children this process started, so that quitting the app stops them (runs are not children)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: set[subprocess.Popen[Any]] = set()

    def add(self, process: subprocess.Popen[Any]) -> None:
        with self._lock:
            self._children.add(process)

    def discard(self, process: subprocess.Popen[Any]) -> None:
        with self._lock:
            self._children.discard(process)

    def terminate_all(self) -> None:
        with self._lock:
            children = list(self._children)
        for process in children:
            if process.poll() is None:
                process.terminate()


CHILDREN = ChildProcesses()


def tuitune_command(*args: str) -> list[str]:
    """`python -m tuitune ARGS` with this interpreter (the same install), the current folder kept
    off the child's import path (see tuitune.system.child)."""
    return child.python_command("tuitune", *args)


def run_child(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    on_progress: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> CliOutcome:
    """Run `command`, streaming stderr lines to `on_progress`, and parse its JSON stdout.

    `env` entries are added to this process's environment (a secret such as HF_TOKEN goes here,
    never into argv where `ps` would show it).
    """
    # Rich would wrap JSON and progress to an 80-column guess; the TUI wants plain lines.
    child_env = child.child_environment({"NO_COLOR": "1", **(env or {})})
    child_env.pop("TEXTUAL", None)
    try:
        process = subprocess.Popen(
            list(command),
            cwd=paths.home(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env,
        )
    except OSError as exc:
        return CliOutcome(False, None, f"Could not start {command[0]}: {exc.strerror or exc}.", -1)
    CHILDREN.add(process)
    stdout_chunks: list[bytes] = []
    assert process.stdout is not None  # piped above
    output = process.stdout
    reader = threading.Thread(target=lambda: stdout_chunks.append(output.read()), daemon=True)
    reader.start()
    stderr_lines: list[str] = []
    try:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip()
            # A progress bar redraws one line with carriage returns: report its latest state.
            line = line.rsplit("\r", 1)[-1].strip()
            if not line:
                continue
            stderr_lines.append(line)
            del stderr_lines[:-50]
            if on_progress is not None:
                on_progress(line)
        returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return CliOutcome(False, None, f"{' '.join(command[2:4])} took too long and was stopped.", -1, timed_out=True)
    finally:
        CHILDREN.discard(process)
        reader.join(timeout=5)
    stdout = b"".join(stdout_chunks).decode("utf-8", errors="replace").strip()
    document = None
    if stdout:
        try:
            document = json.loads(stdout)
        except json.JSONDecodeError:
            document = None
    if returncode == 0:
        return CliOutcome(True, document, None, 0)
    return CliOutcome(False, document, error_line(stderr_lines, returncode), returncode)


def error_line(stderr_lines: Sequence[str], returncode: int) -> str:
    """The CLI's `error: ...` line, else the last line it wrote, else the exit code."""
    for line in reversed(stderr_lines):
        if line.lower().startswith("error:"):
            return line.split(":", 1)[1].strip()
    if returncode < 0:
        return f"The command was stopped by signal {-returncode}."
    if stderr_lines:
        return stderr_lines[-1]
    return f"The command failed with exit code {returncode}."


def run_tuitune(
    *args: str,
    env: Mapping[str, str] | None = None,
    on_progress: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> CliOutcome:
    """`tuitune ARGS` in a child process (see `run_child`)."""
    return run_child(tuitune_command(*args), env=env, on_progress=on_progress, timeout=timeout)
