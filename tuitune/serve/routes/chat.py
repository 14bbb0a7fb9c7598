"""`/runs/{id}/chat`: the side-by-side chat with a run's model and its base, as the app has it.

Each model answers the prompt in turn, with the same settings and seed, its answer streamed as
server-sent events; a turn every model answered is kept with the run (one conversation per run,
as the app and `tuitune chat` keep them), and the next message may continue it. The models load
in a chat child process per run (`serve/chat_pool.py`), never in the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Literal, Optional

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sse_starlette.sse import EventSourceResponse

from tuitune.chats.session import check_messages
from tuitune.chats.settings import GREEDY_BELOW, MAX_MESSAGE_CHARACTERS, Sampling
from tuitune.chats.side_by_side import ChatSession, Loaded, PaneSpec
from tuitune.errors import RunNotFoundError, TuituneError, UsageError
from tuitune.export.weights import run_weights
from tuitune.runs.documents import Document
from tuitune.runs.files import run_config
from tuitune.runs.present import MODEL_LABELS
from tuitune.serve.chat_pool import RunChat, pool_of
from tuitune.serve.guard import check_stored_run, policy_of
from tuitune.serve.responses import EVENT_STREAM, stream_of
from tuitune.serve.routes.refusals import STORE, WRITES, refusals
from tuitune.service.runs import RunService
from tuitune.store.conversations import Conversation
from tuitune.store.transactions import SQLITE_MAX_INTEGER

router = APIRouter(tags=["chat"], responses=refusals(*STORE))
log = logging.getLogger(__name__)

Model = Literal["finetuned", "base", "merged"]
SIDE_BY_SIDE: list[Model] = ["finetuned", "base"]  # the app's first layout: the run's model beside its base


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(
        ...,
        description=f"The user's message (at most {MAX_MESSAGE_CHARACTERS:,} characters, as the chat process takes).",
    )
    conversation_id: Optional[int] = Field(
        None,
        ge=1,
        le=SQLITE_MAX_INTEGER,
        description="Continue this kept conversation of the run (each model reads its own earlier answers); "
        "none: a new conversation.",
    )
    models: list[Model] = Field(
        default_factory=lambda: list(SIDE_BY_SIDE),
        min_length=1,
        max_length=len(MODEL_LABELS),
        description="Which models answer, in this order: finetuned, base, merged.",
    )
    sampling: Sampling = Field(
        default_factory=Sampling, description="The same for every model: see GET /chat/settings."
    )

    @field_validator("models")
    @classmethod
    def _each_once(cls, models: list[str]) -> list[str]:
        if len(set(models)) != len(models):
            raise ValueError("name each model once")
        return models


class ChatStreamMessage(Document):
    """One server-sent event of `POST /runs/{id}/chat`: its `data` is JSON."""

    event: Literal["loaded", "chunk", "done", "error", "end"] = Field(
        description="loaded (a model is ready: model, description, template, device, context), chunk (model, "
        "text: the next piece of its answer), done (model, answer: its text and stats: tokens, seconds, "
        "tokens_per_second, first_token_seconds, stopped, dropped_messages), error (model or null, message) "
        "or end (kept: whether the turn was kept, conversation_id: the conversation to continue); the stream "
        "closes after end."
    )
    data: dict[str, Any]


class ChatStopped(Document):
    run_id: int
    stopped: bool = Field(description="Whether an answer was being written (it ends as `interrupted`, not kept).")


class KeptConversation(Document):
    """A conversation kept with the run: its turns, each model's answer with its stats."""

    id: int
    run_id: int
    title: str
    settings: dict[str, Any] = Field(description="The sampling settings of its last turn.")
    turns: list[dict[str, Any]] = Field(description='{"prompt", "answers": {model: {"text", "tokens", …}}} each.')
    created_at: datetime
    updated_at: datetime


class ChatSettings(Document):
    """What a chat may set, with its limits, declared once (`tuitune.chats.settings.Sampling`)."""

    sampling: dict[str, Any] = Field(description="Sampling's JSON schema: each setting's type, limits, default, help.")
    models: dict[str, str] = Field(description="The models a run can chat with, and their labels.")
    side_by_side: list[Model] = Field(description="The models that answer unless the request names others.")
    max_message_characters: int
    greedy_below: float = Field(description="A temperature below this decodes greedily (the same answer every time).")


def runs() -> RunService:
    return RunService()


@router.get("/chat/settings", summary="The chat's sampling settings: their limits, defaults and help")
def chat_settings() -> ChatSettings:
    return ChatSettings(
        sampling=Sampling.model_json_schema(),
        models=dict(MODEL_LABELS),
        side_by_side=SIDE_BY_SIDE,
        max_message_characters=MAX_MESSAGE_CHARACTERS,
        greedy_below=GREEDY_BELOW,
    )


@router.get(
    "/runs/{run_id}/conversations",
    summary="The run's kept chats, newest first, with their turns",
    responses=refusals(404, 422),
)
def conversations(run_id: int) -> list[KeptConversation]:
    service = runs()
    run = service.get_run(run_id)
    return [KeptConversation.model_validate(conversation) for conversation in service.conversations(run.id)]


@router.post(
    "/runs/{run_id}/chat/stop",
    summary="Stop the answer being written (the turn is not kept)",
    responses=refusals(404, 422),
)
def stop(request: Request, run_id: int) -> ChatStopped:
    runs().get_run(run_id)
    chat = pool_of(request).find(run_id)
    return ChatStopped(run_id=run_id, stopped=chat is not None and chat.stop())


@router.post(
    "/runs/{run_id}/chat",
    summary="Chat: each model answers the prompt in turn (same settings and seed), streamed",
    response_class=EventSourceResponse,
    response_model=ChatStreamMessage,  # one event's
    responses={
        **stream_of(
            ChatStreamMessage,
            EVENT_STREAM,
            "Server-sent events: loaded for each model, then its chunks and done (or error), then end.",
        ),
        **refusals(404, 409, 413, 422, *WRITES),
    },
)
async def chat(request: Request, run_id: int, body: ChatRequest) -> EventSourceResponse:
    kept = await run_in_threadpool(_check, request, run_id, body)
    held = pool_of(request).take(run_id)  # 409 while it answers another message
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def put(message: dict[str, Any] | None) -> None:
        with contextlib.suppress(RuntimeError):  # the server is shutting down: nobody reads
            loop.call_soon_threadsafe(queue.put_nowait, message)

    worker = threading.Thread(target=_answer, args=(held, body, kept, put), name=f"tuitune-chat-{run_id}", daemon=True)
    try:
        worker.start()
    except BaseException:
        held.release()
        raise

    async def messages() -> AsyncIterator[dict[str, Any]]:
        ended = False
        try:
            while (message := await queue.get()) is not None:
                yield message
            ended = True
        finally:
            if not ended:
                held.stop()  # the page went away: the answer stops, and the turn is not kept

    return EventSourceResponse(messages(), ping=15)


def _check(request: Request, run_id: int, body: ChatRequest) -> Conversation | None:
    """Every refusal before the stream opens; the conversation the request continues."""
    service = runs()
    run = service.current(run_id)
    check_stored_run(run_config(run), policy_of(request), run_id=run.id, action="chat with")
    if "finetuned" in body.models:
        run_weights(run, action="chat with")  # an active run, or one with nothing trained yet
    if not body.prompt.strip():
        raise UsageError("The message is empty: type something to ask.")
    check_messages([{"role": "user", "content": body.prompt}])
    if body.conversation_id is None:
        return None
    for conversation in service.conversations(run.id):
        if conversation.id == body.conversation_id:
            return conversation
    raise RunNotFoundError(
        f"Run {run.id} has no conversation {body.conversation_id}: start a new one (leave conversation_id out)."
    )


def _answer(
    chat: RunChat, body: ChatRequest, kept: Conversation | None, put: Callable[[dict[str, Any] | None], None]
) -> None:
    """In a thread: load the models, let each answer, keep the turn; every step an event."""

    def send(event: str, **data: Any) -> None:
        put({"event": event, "data": json.dumps(data, default=str)})

    run_id = chat.run_id
    conversation_id = kept.id if kept is not None else None
    try:
        panes = [PaneSpec(which, run_id, "", which) for which in body.models]
        session = ChatSession(panes, runs().save_conversation, child=chat.started(), loaded=chat.loaded)
        session.sampling = body.sampling
        if kept is not None:
            session.continue_conversation(run_id, kept.id, kept.turns)
        session.begin_turn()
        chat.attach(session)

        def loaded(pane: PaneSpec, what: Loaded) -> None:
            if what.ok:
                send(
                    "loaded",
                    model=pane.which,
                    description=what.description,
                    template=what.template,
                    device=what.device,
                    context=what.context,
                )
            else:
                send("error", model=pane.which, message=what.error or "The model did not load (it did not say why).")

        session.load(loaded)
        turn = None
        if session.ready:
            turn = session.ask(
                body.prompt.strip(),
                lambda key, kind, payload: send(
                    kind,
                    model=key,
                    **(
                        {"text": payload}
                        if kind == "chunk"
                        else {"answer": payload}
                        if kind == "done"
                        else {"message": payload}
                    ),
                ),
            )
        send("end", kept=turn is not None, conversation_id=session.conversation_ids.get(run_id, conversation_id))
    except TuituneError as error:  # the child could not start, the store refused the turn
        send("error", model=None, message=str(error))
        send("end", kept=False, conversation_id=conversation_id)
    except Exception as error:  # a bug: one line for the page, the traceback in the server's log
        log.exception("chat with run %s failed", run_id)
        send(
            "error", model=None, message=f"The chat failed ({type(error).__name__}): the server's log has the details."
        )
        send("end", kept=False, conversation_id=conversation_id)
    finally:
        chat.release()
        put(None)
