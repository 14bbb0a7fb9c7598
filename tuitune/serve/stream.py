"""Live run events for any number of clients from one reader.

One task reads the store for every run someone watches (rows after the lowest id any of its
watchers has seen, every `poll_seconds`) and hands each watcher what is new to it. A client that
connects late gets the run's history first, then the live rows, in order, with no step missing. A
client too slow to keep up is dropped rather than allowed to hold the others back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from tuitune.store import Run, open_store

# A watcher that falls this many messages behind is disconnected (its browser will reconnect).
QUEUE_LIMIT = 20_000


@dataclass
class Message:
    """One server-sent event: `point`, `event`, `status` or `end`."""

    kind: str
    data: dict[str, Any]
    id: str | None = None

    def to_sse(self) -> dict[str, str]:
        message = {"event": self.kind, "data": json.dumps(self.data, default=str)}
        if self.id:
            message["id"] = self.id
        return message


def status_data(run: Run) -> dict[str, Any]:
    """The part of a run a live view redraws on each change."""
    return {
        "id": run.id,
        "status": run.status,
        "steps_done": run.steps_done,
        "steps_total": run.steps_total,
        "epoch": run.epoch,
        "last_loss": run.last_loss,
        "last_eval_loss": run.last_eval_loss,
        "best_eval_loss": run.best_eval_loss,
        "tokens_per_second": run.tokens_per_second,
        "error": run.error,
        "in_queue": run.in_queue,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


@dataclass(eq=False)
class Watcher:
    run_id: int
    after_point: int = 0
    after_event: int = 0
    last_status: dict[str, Any] | None = None
    queue: asyncio.Queue[Message | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    ended: bool = False

    def send(self, message: Message | None) -> bool:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            return False
        return True


class StreamHub:
    """The one reader behind every `/runs/{id}/stream`."""

    def __init__(self, poll_seconds: float = 0.5) -> None:
        self.poll_seconds = poll_seconds
        self._watchers: set[Watcher] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.reads = 0  # store reads, for tests and the load benchmark

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="tuitune-stream-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for watcher in list(self._watchers):
            watcher.send(None)

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    async def watch(self, run_id: int, *, after_point: int = 0, after_event: int = 0) -> AsyncIterator[Message]:
        """The run's messages from the given ids on, until the run ends or the client leaves."""
        watcher = Watcher(run_id, after_point, after_event)
        self._watchers.add(watcher)
        self._wake.set()  # a new watcher gets its history at once, not after a poll interval
        try:
            while True:
                message = await watcher.queue.get()
                if message is None:
                    return
                yield message
                if message.kind == "end":
                    return
        finally:
            self._watchers.discard(watcher)

    async def _run(self) -> None:
        while True:
            if self._watchers:
                try:
                    updates = await asyncio.to_thread(self._read, list(self._watchers))
                except Exception:
                    updates = {}
                self._deliver(updates)
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    def _read(self, watchers: list[Watcher]) -> dict[int, tuple[Run, list[Any], list[Any]]]:
        """In a thread: for each watched run, one read of what is new to its slowest watcher."""
        store = open_store()
        updates = {}
        for run_id in {watcher.run_id for watcher in watchers}:
            mine = [watcher for watcher in watchers if watcher.run_id == run_id]
            run = store.get_run(run_id)
            points = store.metric_points(run_id, after_id=min(w.after_point for w in mine))
            events = store.events(run_id, after_id=min(w.after_event for w in mine))
            self.reads += 1
            updates[run_id] = (run, points, events)
        return updates

    def _drop(self, watcher: Watcher) -> None:
        """Too far behind: forget what it has not read and end its stream (the client reconnects)."""
        self._watchers.discard(watcher)
        while not watcher.queue.empty():
            watcher.queue.get_nowait()
        watcher.send(None)

    def _deliver(self, updates: dict[int, tuple[Run, list[Any], list[Any]]]) -> None:
        for watcher in list(self._watchers):
            if watcher.run_id not in updates:
                continue
            run, points, events = updates[watcher.run_id]
            # Each id is the watcher's place in both lists after that message ("points.events"), so
            # a client that reconnects with Last-Event-ID misses nothing and gets nothing twice.
            messages: list[Message] = []
            seen_point, seen_event = watcher.after_point, watcher.after_event
            for point in points:
                if point.id > seen_point:
                    seen_point = point.id
                    messages.append(Message("point", point.to_dict(), f"{seen_point}.{seen_event}"))
            for event in events:
                if event.id > seen_event:
                    seen_event = event.id
                    messages.append(Message("event", event.to_dict(), f"{seen_point}.{seen_event}"))
            status = status_data(run)
            if status != watcher.last_status:
                messages.append(Message("status", status))
            if not run.is_active:
                messages.append(Message("end", status))
            for message in messages:
                if not watcher.send(message):
                    self._drop(watcher)
                    break
            else:
                if points:
                    watcher.after_point = max(watcher.after_point, points[-1].id)
                if events:
                    watcher.after_event = max(watcher.after_event, events[-1].id)
                watcher.last_status = status
