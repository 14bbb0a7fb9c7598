"""The chat models a server holds: one chat child process per run, kept between requests (loading
is the slow part), the least recently used closed once more than a few runs have one.

The models load and answer in those children (`tuitune.chats.server`), never in the server's
process. A run's chat answers one message at a time; a stop may come from another request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from fastapi import Request

from tuitune.chats.session import ChatChild
from tuitune.chats.side_by_side import ChatSession, Loaded
from tuitune.errors import RunStateError

# Each child holds a run's models (fine-tuned and base: two copies of the base's weights): a few
# runs' worth is what a chat page switching between runs needs, and what a GPU box can spare.
MAX_RUNS = 2


@dataclass(eq=False)
class RunChat:
    """One run's chat child, what it has loaded, and the turn it is answering."""

    run_id: int
    child: ChatChild | None = None
    loaded: dict[str, Loaded] = field(default_factory=dict)  # model -> what its pane loaded
    busy: threading.Lock = field(default_factory=threading.Lock)  # held while a turn runs
    session: ChatSession | None = None  # the turn being answered
    _stop_asked: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def started(self) -> ChatChild:
        """The child, started on first use (by the turn that holds `busy`)."""
        if self.child is None:
            self.child = ChatChild()
        return self.child

    def attach(self, session: ChatSession) -> None:
        """The turn's session is ready: a stop asked for before now stops it at once."""
        with self._lock:
            self.session = session
            if self._stop_asked:
                session.stop()

    def stop(self) -> bool:
        """Stop the turn being answered; False when there is none."""
        with self._lock:
            if not self.busy.locked():
                return False
            self._stop_asked = True
            session = self.session
        if session is not None:
            session.stop()
        return True

    def begin(self) -> None:
        with self._lock:
            self._stop_asked, self.session = False, None

    def release(self) -> None:
        with self._lock:
            self.session = None
        self.busy.release()

    def close(self) -> None:
        child, self.child = self.child, None
        self.loaded.clear()
        if child is not None:
            child.stop()
            child.close()


class ChatPool:
    """The runs' chats, least recently used first; thread-safe."""

    def __init__(self, size: int = MAX_RUNS) -> None:
        self.size = size
        self._chats: OrderedDict[int, RunChat] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, run_id: int) -> RunChat:
        """Run `run_id`'s chat, held for one turn (`release` it after), or a RunStateError while it
        answers another message. Runs over the size whose chat is idle are closed."""
        with self._lock:
            chat = self._chats.get(run_id) or RunChat(run_id)
            self._chats[run_id] = chat
            self._chats.move_to_end(run_id)
            # Under the pool's lock: an idle chat is never evicted between being taken and held.
            if not chat.busy.acquire(blocking=False):
                raise RunStateError(
                    f"Run {run_id}'s chat is answering another message: wait for it to end, or stop it."
                )
            chat.begin()
            evicted = []
            for other_id, other in list(self._chats.items()):
                if len(self._chats) <= self.size:
                    break
                if other is not chat and not other.busy.locked():
                    evicted.append(self._chats.pop(other_id))
        for old in evicted:
            # Closing waits for the child to quit: not on the request's time.
            threading.Thread(target=old.close, name="tuitune-chat-evict", daemon=True).start()
        return chat

    def find(self, run_id: int) -> RunChat | None:
        with self._lock:
            return self._chats.get(run_id)

    def running(self) -> list[int]:
        """The runs that have a chat child, least recently used first."""
        with self._lock:
            return [run_id for run_id, chat in self._chats.items() if chat.child is not None]

    def close(self) -> None:
        with self._lock:
            chats = list(self._chats.values())
            self._chats.clear()
        for chat in chats:
            chat.close()


_CREATING = threading.Lock()


def pool_of(request: Request) -> ChatPool:
    """The server's pool, made on the first chat and closed when the server stops."""
    state = request.app.state
    with _CREATING:
        pool = getattr(state, "chat_pool", None)
        if pool is None:
            pool = state.chat_pool = ChatPool()
            state.closers.append(pool.close)
    return pool
