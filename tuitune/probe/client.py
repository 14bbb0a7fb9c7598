"""The app's side of the warm probe process (`python -m tuitune.probe.server`).

One child answers every model probe, dataset preview and configuration check, so the training
stack is imported once per app rather than once per probe. It starts on the first request, is
started again if it dies, and stops with the app. Calls block: make them from thread workers.
Nothing here imports textual.
"""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from tuitune.errors import TuituneError
from tuitune.probe import cache as probe_cache
from tuitune.service.jobs import CHILDREN
from tuitune.system import child, paths


class ProbeError(TuituneError):
    """A probe failed; the message is the helper's one line for the user."""


class ProbeClient:
    """Sends requests to the helper child and waits for their answers (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._ids = itertools.count(1)
        # Request id -> (where its answers go, the child it went to).
        self._waiting: dict[int, tuple[queue.Queue[dict[str, Any]], subprocess.Popen[str]]] = {}

    def request(
        self,
        op: str,
        args: dict[str, Any],
        *,
        on_partial: Callable[[dict[str, Any]], None] | None = None,
        timeout: float | None = 600,
    ) -> dict[str, Any]:
        """The helper's answer to `op`; raises ProbeError with its one-line reason."""
        if op == "model":
            kept = probe_cache.read(str(args.get("name")), args.get("vram_gb"))
            if kept is not None:
                return kept  # read in an earlier session, and its files have not changed
        answers: queue.Queue[dict[str, Any]] = queue.Queue()
        request_id = next(self._ids)
        with self._lock:
            try:
                process = self._started()
                self._waiting[request_id] = (answers, process)
                assert process.stdin is not None
                process.stdin.write(json.dumps({"id": request_id, "op": op, "args": args}) + "\n")
                process.stdin.flush()
            except OSError as exc:
                self._waiting.pop(request_id, None)
                raise ProbeError(f"The probe process could not start: {exc.strerror or exc}.") from None
        try:
            while True:
                try:
                    answer = answers.get(timeout=timeout)
                except queue.Empty:
                    raise ProbeError(f"Reading that took longer than {timeout:.0f} s; try again.") from None
                if "partial" in answer:
                    if on_partial is not None:
                        on_partial(answer["partial"])
                    continue
                if answer.get("ok"):
                    return answer.get("result") or {}
                raise ProbeError(answer.get("error") or "The probe failed.")
        finally:
            with self._lock:
                self._waiting.pop(request_id, None)

    def start(self) -> None:
        """Start the child now (its imports take seconds), so the first probe finds it warm."""
        with self._lock:
            self._started()

    def stop(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    # --- internals (called with the lock held) ---------------------------------------------
    def _started(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        env = child.child_environment({"NO_COLOR": "1"})
        env.pop("TEXTUAL", None)
        process = subprocess.Popen(
            # The current folder stays off its import path; it runs in TUITUNE_HOME (see tuitune.system.child).
            child.python_command("tuitune.probe.server"),
            cwd=paths.home(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        CHILDREN.add(process)
        self._process = process
        threading.Thread(target=self._read, args=(process,), name="probe-reader", daemon=True).start()
        return process

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                answer = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self._lock:
                waiting = self._waiting.get(answer.get("id"))
            if waiting is not None:
                waiting[0].put(answer)
        # The child is gone (killed, crashed): whoever still waits hears it now, not at the timeout.
        process.wait()
        CHILDREN.discard(process)
        with self._lock:
            orphans = [answers for answers, sent_to in self._waiting.values() if sent_to is process]
        for orphan in orphans:
            orphan.put(
                {"ok": False, "error": f"The probe process stopped (exit code {process.returncode}); try again."}
            )
