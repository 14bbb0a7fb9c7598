"""The chat child process: `python -m tuitune.chats.server`. Loads models once, answers many times.

One JSON object per line on stdin, one per line on stdout:

    → {"op": "load", "pane": "a", "run_id": 3, "which": "finetuned", "device": null, "template": null}
    ← {"event": "loaded", "pane": "a", "description": "Qwen/Qwen2.5-0.5B + adapter …", "template": "chatml", "device": "cpu",
       "context": 32768}
    → {"op": "generate", "id": 7, "pane": "a", "messages": [{"role": "user", "content": "Hi"}], "sampling": {…}}
    ← {"event": "chunk", "id": 7, "text": "Hel"}  … then {"event": "done", "id": 7, "answer": {…}}
    → {"op": "stop"}      ends the answer being generated (it is still reported, as `interrupted`),
                          and every answer asked before it that has not started yet
    → {"op": "quit"}

A failure is `{"event": "error", "id": …, "message": "one line that says what to do"}`; the process
goes on serving. Everything a library prints goes to stderr, so stdout carries only the protocol.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import traceback
import warnings
from typing import Any, TextIO

from tuitune.chats.protocol import SERVED_ON
from tuitune.chats.settings import Sampling
from tuitune.errors import TuituneError
from tuitune.store import open_store


class Server:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.panes: dict[str, Any] = {}
        self.requests: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.interrupt = threading.Event()
        self._write = threading.Lock()
        # Generate requests are numbered as they are read. A stop ends every answer asked before
        # it, even one still waiting in `requests` while a model loads: without this, a stop sent
        # right after its question was cleared when the question's turn came, and lost.
        self._asked = 0
        self._stopped_through = 0
        self._stopping = threading.Lock()

    def emit(self, **message: Any) -> None:
        with self._write:
            self.out.write(json.dumps(message) + "\n")
            self.out.flush()

    def read(self, source: TextIO) -> None:
        """In a thread: a `stop` acts at once (generation is busy in the main thread)."""
        for line in source:
            try:
                request = json.loads(line)
            except ValueError:
                self.emit(event="error", id=None, message="The chat process got a line that is not JSON.")
                continue
            if request.get("op") == "stop":
                with self._stopping:
                    self._stopped_through = self._asked
                    self.interrupt.set()
                continue
            if request.get("op") == "generate":
                with self._stopping:
                    self._asked += 1
                    request["_asked"] = self._asked
            self.requests.put(request)
        self.requests.put(None)  # stdin closed: the app is gone

    def serve(self) -> None:
        while True:
            request = self.requests.get()
            if request is None or request.get("op") == "quit":
                return
            try:
                self.handle(request)
            except TuituneError as error:
                self.emit(event="error", id=request.get("id"), pane=request.get("pane"), message=str(error))
            except Exception as error:
                traceback.print_exc()
                print(SERVED_ON, file=sys.stderr, flush=True)
                first = (str(error).strip().splitlines() or [""])[0][:300]
                self.emit(
                    event="error",
                    id=request.get("id"),
                    pane=request.get("pane"),
                    message=f"The chat model failed: {type(error).__name__}: {first}",
                )

    def handle(self, request: dict[str, Any]) -> None:
        # Imported here: the child says it is ready before the models' modules load.
        from tuitune.chats.models import answer, open_pane

        op = request.get("op")
        if op == "load":
            store = open_store()
            run = store.get_run(int(request["run_id"]))
            opened = open_pane(
                run,
                store,
                request.get("which", "finetuned"),
                device=request.get("device"),
                template=request.get("template"),
            )
            self.panes[request["pane"]] = opened
            self.emit(
                event="loaded",
                pane=request["pane"],
                description=opened.description,
                template=opened.template.describe(),
                device=opened.device,
                context=opened.context,
            )
        elif op == "generate":
            pane = self.panes.get(request["pane"])
            if pane is None:
                raise TuituneError(f"No model is loaded in pane {request['pane']!r}: load one first.")
            sampling = Sampling.model_validate(request.get("sampling") or {})
            with self._stopping:
                if request.get("_asked", 0) > self._stopped_through:
                    self.interrupt.clear()  # a stop for an earlier answer
                else:
                    self.interrupt.set()  # stopped before it started: it ends at its first token
            result = answer(
                pane,
                request["messages"],
                sampling,
                interrupt=self.interrupt,
                on_text=lambda text: self.emit(event="chunk", id=request.get("id"), pane=request["pane"], text=text),
            )
            self.emit(event="done", id=request.get("id"), pane=request["pane"], answer=result.to_dict())
        elif op == "close":
            self.panes.pop(str(request.get("pane")), None)
            self.emit(event="closed", pane=request.get("pane"))
        else:
            raise TuituneError(f"Unknown chat request {str(op)[:40]!r}.")


def main() -> int:
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    protocol = sys.stdout
    sys.stdout = sys.stderr  # library chatter must never corrupt the protocol
    server = Server(protocol)
    threading.Thread(target=server.read, args=(sys.stdin,), name="tuitune-chat-stdin", daemon=True).start()
    server.emit(event="ready")
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
