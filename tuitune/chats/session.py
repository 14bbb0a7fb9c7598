"""Talking to the chat child process from a face (the app, the CLI, Python). Light: no torch.

with ChatChild() as chat:
    chat.load("a", run_id=3, which="finetuned")
    for event in chat.ask("a", [{"role": "user", "content": "Hi"}], Sampling(temperature=0)):
        if event["event"] == "chunk":
            print(event["text"], end="", flush=True)

A child that died (killed, out of memory, crashed) is started again for the next question, with
the same models loaded: that answer's events begin with `{"event": "restarted", "message": …}`,
which says how the old one died.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from tuitune.chats.guard import check_device
from tuitune.chats.protocol import SERVED_ON
from tuitune.chats.settings import MAX_MESSAGE_CHARACTERS, Sampling
from tuitune.errors import TuituneError, UsageError
from tuitune.system import child, paths


class ChatError(TuituneError):
    """The chat model could not load or answer; the message says why."""


class MessageTooLongError(ChatError, UsageError):
    """A message longer than any model reads: refused before it reaches the chat process."""


def check_messages(messages: list[dict[str, str]]) -> None:
    """Refuse a conversation with a message over `MAX_MESSAGE_CHARACTERS`, in words that say what to do."""
    for message in messages:
        length = len(str(message.get("content", "")))
        if length > MAX_MESSAGE_CHARACTERS:
            raise MessageTooLongError(
                f"A message of {length:,} characters is longer than any model reads "
                f"(at most {MAX_MESSAGE_CHARACTERS:,} characters are sent): shorten it."
            )


# The last line of a traceback (`ValueError: …`, `torch.OutOfMemoryError: …`), or the interpreter's own.
_ERROR_LINE = re.compile(
    r"^((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt)\b(?::.*)?|Fatal Python error:.*)$"
)


def death_report(returncode: int | None, stderr: str) -> str:
    """How a chat process died, in one sentence: its exit code or signal, and its last error line
    (never a library's warning, which is what a killed process often printed last, nor an error
    it reported and served on after)."""
    if returncode is None:
        how = "it closed its output and was stopped"
    elif returncode < 0:
        try:
            how = f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"killed by signal {-returncode}"
        if -returncode == signal.SIGKILL:
            how += ": the system may have run out of memory"
    else:
        how = f"exit code {returncode}"
    lines = [line.strip() for line in stderr.split(SERVED_ON)[-1].splitlines()]
    error = next((line for line in reversed(lines) if _ERROR_LINE.match(line)), None)
    if error is not None:
        how += f"; {error[:300]}" if returncode is not None and returncode < 0 else f": {error[:300]}"
    return f"The chat process died ({how})."


class ChatChild:
    """One chat child process; it keeps its models loaded between questions, and is started again
    (its models loaded again) for the next question after it died."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # one request is sent at a time
        self._pending: int | None = None  # the answer being generated, until its `done` is read
        self._writing = threading.Lock()  # `stop` comes from another thread while an answer streams
        self._loads: dict[str, dict[str, Any]] = {}  # pane -> its load request, to load it again
        self._start()

    def _start(self) -> None:
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
        self._pending = None
        self._expect("ready")

    def _restart(self) -> str:
        """Start a new child in place of the one that died, load its panes again; how it died."""
        report = self._death()
        with contextlib.suppress(OSError, ValueError):
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
        self._errors.close()
        self._start()
        for request in self._loads.values():
            self._send(request)
            self._expect("loaded")
        return report

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
        except (OSError, ValueError):  # a broken pipe, or one closed when the child was replaced
            raise ChatError(self._death()) from None

    def _next(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise ChatError(self._death())
        return json.loads(line)

    def _death(self) -> str:
        returncode: int | None
        try:
            returncode = self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # it closed its output but lives on: of no use any more
            self._process.kill()
            self._process.wait()
            returncode = None
        # A crash's last words are at the end; a long log of warnings before them does not matter.
        self._errors.seek(max(0, self._errors.seek(0, 2) - 64_000))
        return death_report(returncode, self._errors.read().decode("utf-8", "replace"))

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
        """Load a model into `pane`; returns what was loaded (its description, template, device, context)."""
        request = {
            "op": "load",
            "pane": pane,
            "run_id": run_id,
            "which": which,
            "device": check_device(device),
            "template": template,
        }
        with self._lock:
            if self._process.poll() is not None:
                self._restart()
            self._finish_pending()
            self._send(request)
            loaded = self._expect("loaded")
            self._loads[pane] = request
            return loaded

    def ask(
        self, pane: str, messages: list[dict[str, str]], sampling: Sampling | None = None
    ) -> Iterator[dict[str, Any]]:
        """The answer's events: `chunk` events as text comes, then one `done` (with the answer's stats).

        One answer at a time: asking again before the last answer was read to its end stops that
        answer and skips the rest of it first. When the child had died, a new one answers, and the
        first event (`restarted`) says how the old one died.
        """
        check_messages(messages)
        with self._lock:
            restarted = self._restart() if self._process.poll() is not None else None
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
        if restarted is not None:
            yield {"event": "restarted", "id": request_id, "message": f"{restarted[:-1]}: started again."}
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
        except (OSError, ValueError):  # a broken pipe, or one closed when the child was replaced
            pass

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._send({"op": "quit"})
                self._process.wait(timeout=10)
            except (ChatError, subprocess.TimeoutExpired):
                self._process.kill()
        self._errors.close()
