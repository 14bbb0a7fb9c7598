"""Live run events for any number of clients from one reader.

One task reads the store for every run someone watches, through the run feed (`runs.feed`), every
`poll_seconds`: one read for all the watchers at the same place, and each watcher gets what is new
to it. A client that connects late gets the run's history first, then the live rows, in order,
with no step missing; after a resume, a `restart` message and the run's points again. A client
too slow to keep up is dropped rather than allowed to hold the others back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from tuitune.runs import documents, feed
from tuitune.runs.feed import Cursor, FeedUpdate
from tuitune.store import Run, open_store

# A watcher that falls this many messages behind is disconnected (its browser will reconnect).
QUEUE_LIMIT = 20_000


@dataclass
class Message:
    """One server-sent event: `point`, `event`, `status`, `restart` (a resume replaced the points: all
    of them follow) or `end`."""

    kind: str
    data: dict[str, Any]
    id: str | None = None

    def to_sse(self) -> dict[str, str]:
        message = {"event": self.kind, "data": json.dumps(self.data, default=str)}
        if self.id:
            message["id"] = self.id
        return message


def status_data(run: Run) -> dict[str, Any]:
    """The part of a run a live view redraws on each change: its progress."""
    return documents.progress(run).model_dump(mode="json")


@dataclass(eq=False)
class Watcher:
    run_id: int
    after_point: int = 0  # where the client said it was (Last-Event-ID); the cursor takes over
    after_event: int = 0
    points_seen: int | None = None
    cursor: Cursor | None = None
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

    async def watch(
        self, run_id: int, *, after_point: int = 0, after_event: int = 0, points_seen: int | None = None
    ) -> AsyncIterator[Message]:
        """The run's messages from the given ids on, until the run ends or the client leaves."""
        watcher = Watcher(run_id, after_point, after_event, points_seen)
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

    def _read(self, watchers: list[Watcher]) -> dict[tuple[int, Cursor], FeedUpdate]:
        """In a thread: the feed's update for each place a watcher is at. Watchers that have been
        given the same messages are at the same place: one read serves them all."""
        store = open_store()
        updates: dict[tuple[int, Cursor], FeedUpdate] = {}
        for watcher in watchers:
            if watcher.cursor is None:
                watcher.cursor = feed.start_at(
                    store,
                    watcher.run_id,
                    after_point=watcher.after_point,
                    after_event=watcher.after_event,
                    points_seen=watcher.points_seen,
                )
            place = (watcher.run_id, watcher.cursor)
            if place not in updates:
                updates[place] = feed.read(store, watcher.run_id, watcher.cursor, check=False)
                self.reads += 1
        return updates

    def _drop(self, watcher: Watcher) -> None:
        """Too far behind: forget what it has not read and end its stream (the client reconnects)."""
        self._watchers.discard(watcher)
        while not watcher.queue.empty():
            watcher.queue.get_nowait()
        watcher.send(None)

    def _deliver(self, updates: dict[tuple[int, Cursor], FeedUpdate]) -> None:
        for watcher in list(self._watchers):
            if watcher.cursor is None or (watcher.run_id, watcher.cursor) not in updates:
                continue
            update = updates[(watcher.run_id, watcher.cursor)]
            # Each id is the watcher's place after that message ("point.event.seen": the last point
            # and event ids, and how many points it holds), so a client that reconnects with
            # Last-Event-ID misses nothing, gets nothing twice, and learns of a resume meanwhile.
            messages: list[Message] = []
            if update.restarted:
                # Resumed: the points after its checkpoint were replaced; all of them follow.
                messages.append(Message("restart", {"id": watcher.run_id}))
            seen_event = watcher.cursor.after_event
            held = 0 if update.restarted else watcher.cursor.points_seen
            for point in update.points:
                held += 1
                data = documents.metric_point(point).model_dump(mode="json")
                messages.append(Message("point", data, f"{point.id}.{seen_event}.{held}"))
            seen_point = update.cursor.after_point
            for event in update.events:
                seen_event = event.id
                data = documents.event(event).model_dump(mode="json")
                messages.append(Message("event", data, f"{seen_point}.{seen_event}.{held}"))
            status = status_data(update.run)
            if status != watcher.last_status:
                messages.append(Message("status", status))
            if update.ended:
                messages.append(Message("end", status))
            for message in messages:
                if not watcher.send(message):
                    self._drop(watcher)
                    break
            else:
                watcher.cursor = update.cursor
                watcher.last_status = status
