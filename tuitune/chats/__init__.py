"""Chat with a run's model, or its base, side by side. The model runs in a child process.

import tuitune
print(tuitune.chat("last", "Greet Ada.", temperature=0))
for piece in tuitune.chat(7, [{"role": "user", "content": "Hi"}], stream=True):
    print(piece, end="")
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from typing import Any

from tuitune.chats.guard import check_device
from tuitune.chats.session import ChatChild, ChatError
from tuitune.chats.settings import Sampling, sampling_of
from tuitune.runs import lookup
from tuitune.store import Run, open_store

# One child per (run, model, device), kept between calls: loading is the slow part.
_children: dict[tuple[int, str, str | None], ChatChild] = {}


def _child(run_id: int, which: str, device: str | None) -> ChatChild:
    key = (run_id, which, device)
    if key not in _children:
        chat_child = ChatChild()
        chat_child.load("main", run_id=run_id, which=which, device=device)
        _children[key] = chat_child
    return _children[key]


def _close_all() -> None:
    for chat_child in _children.values():
        chat_child.close()
    _children.clear()


atexit.register(_close_all)


def chat(
    run: Any,
    messages: str | list[dict[str, str]],
    *,
    which: str = "finetuned",
    stream: bool = False,
    device: str | None = None,
    **sampling: Any,
) -> str | Iterator[str]:
    """The answer of a run's model (`which`: finetuned, base or merged) to `messages`.

    `run` is a Run, an id, a name or "last"; `messages` a prompt or a list of role/content dicts;
    `sampling` any of `Sampling`'s settings (temperature, top_p, max_new_tokens, seed, stop, …).
    With `stream=True`, a generator of text pieces as they are generated.
    """
    settings = sampling_of(sampling)
    device = check_device(device)
    store = open_store()
    found = lookup.check_alive(run, store=store) if isinstance(run, Run) else lookup.find(run, store=store)
    turns = [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
    events = _child(found.id, which, device).ask("main", turns, settings)
    if stream:
        return (event["text"] for event in events if event["event"] == "chunk")
    answer = next(event["answer"] for event in events if event["event"] == "done")
    return str(answer["text"])


__all__ = ["ChatChild", "ChatError", "Sampling", "chat"]
