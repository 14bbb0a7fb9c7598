"""Talking to the chat child process from a face (the app, the CLI, Python). Light: no torch.

with ChatChild() as chat:
    chat.load("a", run_id=3, which="finetuned")
    for event in chat.ask("a", [{"role": "user", "content": "Hi"}], Sampling(temperature=0)):
        if event["event"] == "chunk":
            print(event["text"], end="", flush=True)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from tuitune import child, paths
from tuitune.chats.settings import Sampling
from tuitune.errors import TuituneError


class ChatError(TuituneError):
    """The chat model could not load or answer; the message says why."""


class ChatChild:
    """One chat child process; it keeps its models loaded between questions."""

    def __init__(self) -> None:
        # The child's stderr, for a crash's last words; closed in close().
        self._errors = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115
        self._process = subprocess.Popen(
            child.python_command("tuitune.chats.server"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            text=True,
            bufsize=1,
            cwd=paths.home(),
            env=child.child_environment(),
        )
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # one request is sent at a time
        self._pending: int | None = None  # the answer being generated, until its `done` is read
        self._writing = threading.Lock()  # `stop` comes from another thread while an answer streams
        self._expect("ready")

    def __enter__(self) -> ChatChild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int:
        return self._process.pid

    def _send(self, request: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        try:
            with self._writing:
                self._process.stdin.write(json.dumps(request) + "\n")
                self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise ChatError(self._death()) from None

    def _next(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise ChatError(self._death())
        return json.loads(line)

    def _death(self) -> str:
        self._process.wait(timeout=10)
        self._errors.seek(0)
        tail = self._errors.read().decode("utf-8", "replace").strip().splitlines()
        last = tail[-1][:300] if tail else f"exit code {self._process.returncode}"
        return f"The chat process stopped ({last})."

    def _expect(self, kind: str) -> dict[str, Any]:
        event = self._next()
        if event.get("event") == "error":
            raise ChatError(event["message"])
        if event.get("event") != kind:
            raise ChatError(f"The chat process answered {event.get('event')!r} instead of {kind!r}.")
        return event

    def load(
        self,
        pane: str,
        *,
        run_id: int,
        which: str = "finetuned",
        device: str | None = None,
        template: str | None = None,
    ) -> dict[str, Any]:
        """Load a model into `pane`; returns what was loaded (its description, template, device)."""
        with self._lock:
            self._finish_pending()
            self._send(
                {"op": "load", "pane": pane, "run_id": run_id, "which": which, "device": device, "template": template}
            )
            return self._expect("loaded")

    def ask(
        self, pane: str, messages: list[dict[str, str]], sampling: Sampling | None = None
    ) -> Iterator[dict[str, Any]]:
        """The answer's events: `chunk` events as text comes, then one `done` (with the answer's stats).

        One answer at a time: asking again before the last answer was read to its end stops that
        answer and skips the rest of it first.
        """
        with self._lock:
            self._finish_pending()
            request_id = next(self._ids)
            self._pending = request_id
            self._send(
                {
                    "op": "generate",
                    "id": request_id,
                    "pane": pane,
                    "messages": messages,
                    "sampling": (sampling or Sampling()).model_dump(),
                }
            )
        while True:
            event = self._next()
            if event.get("id") not in (request_id, None):
                continue  # the tail of an answer that was stopped earlier
            if event.get("event") in ("done", "error"):
                self._pending = None
            if event.get("event") == "error":
                raise ChatError(event["message"])
            yield event
            if event.get("event") == "done":
                return

    def _finish_pending(self) -> None:
        """Stop an answer nobody is reading any more, and skip what is left of it."""
        if self._pending is None:
            return
        self.stop()
        with contextlib.suppress(ChatError):
            while True:
                event = self._next()
                if event.get("id") == self._pending and event.get("event") in ("done", "error"):
                    break
        self._pending = None

    def stop(self) -> None:
        """End the answer being generated (it is reported as `interrupted`)."""
        assert self._process.stdin is not None
        try:
            with self._writing:
                self._process.stdin.write(json.dumps({"op": "stop"}) + "\n")
                self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._send({"op": "quit"})
                self._process.wait(timeout=10)
            except (ChatError, subprocess.TimeoutExpired):
                self._process.kill()
        self._errors.close()
