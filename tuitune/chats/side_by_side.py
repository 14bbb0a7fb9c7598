"""One side-by-side chat, as the app and the dashboard have it: the panes (which run's which
model), their conversations, and the chat child process that holds the models. No textual here,
and no torch: the models load and answer in the child (`tuitune.chats.server`); this side sends
prompts and hands the streamed text on.

Every pane answers the same prompt with the same sampling settings and seed, one after the
other. A turn that every pane answered is kept with its run (one conversation per run, the way
`tuitune chat` keeps them); a turn cut short by a stop or an error is shown but not kept, and not
sent back as history.

The app's chat screen owns its session and child. The server keeps a child per run between
requests (the models stay loaded) and makes a session per request on it (`child=`, `loaded=`),
continuing the conversation the request names (`continue_conversation`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tuitune.chats.session import ChatChild, ChatError
from tuitune.chats.settings import Sampling
from tuitune.errors import TuituneError
from tuitune.runs.present import MODEL_LABELS


@dataclass(frozen=True)
class PaneSpec:
    """One pane: the model of a run it chats with."""

    key: str  # the chat child's pane name: "a", "b"
    run_id: int
    run_name: str
    which: str  # finetuned, base, merged

    @property
    def title(self) -> str:
        return f"#{self.run_id} {self.run_name} · {MODEL_LABELS.get(self.which, self.which)}"


@dataclass
class Loaded:
    """What a pane loaded (its description says exactly what), or why it could not."""

    description: str = ""
    template: str = ""
    device: str = ""
    error: str | None = None
    context: int | None = None  # the most tokens the model reads, prompt and answer together

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.description)


@dataclass
class Turn:
    """One prompt and each pane's answer (the answer's text and stats, as the child reports them)."""

    prompt: str
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # pane key -> answer
    # A kept turn's answers by models no pane of this session has (kept again as they were).
    others: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> answer


# The events a turn hands to the screen, from the thread that runs it.
OnEvent = Callable[[str, str, Any], None]  # (pane key, "chunk" | "done" | "error", text or answer or message)


class ChatSession:
    """The panes of one chat screen and their child process; call it from one worker at a time."""

    def __init__(
        self,
        panes: list[PaneSpec],
        save: Callable[[int, list[dict[str, Any]], dict[str, Any], int | None], int],
        *,
        child: ChatChild | None = None,
        loaded: dict[str, Loaded] | None = None,
    ) -> None:
        """`child` and `loaded`: a child process someone else owns (close() leaves it running) and
        what it has loaded already, by pane key (filled in as this session loads more)."""
        self.panes = panes
        self.loaded: dict[str, Loaded] = {} if loaded is None else loaded
        self.turns: list[Turn] = []
        self.conversation_ids: dict[int, int] = {}  # run id -> its saved conversation
        self.sampling = Sampling()
        self.template: str | None = None  # None: the template each run trained with
        self._save = save
        self._child: ChatChild | None = child
        self._owns_child = child is None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    # --- the child -------------------------------------------------------------------------
    def load(self, on_loaded: Callable[[PaneSpec, Loaded], None]) -> None:
        """Start the child and load every pane, telling `on_loaded` about each as it is ready (a
        pane the child had loaded already is told at once; one that had failed is tried again)."""
        with self._lock:
            if self._child is None:
                self._child = ChatChild()
            child = self._child
        for pane in self.panes:
            if self.loaded.get(pane.key, Loaded()).ok:
                on_loaded(pane, self.loaded[pane.key])
                continue
            try:
                info = child.load(pane.key, run_id=pane.run_id, which=pane.which, template=self.template)
                loaded = Loaded(
                    str(info.get("description", "")),
                    str(info.get("template", "")),
                    str(info.get("device", "")),
                    context=info.get("context"),
                )
            except TuituneError as error:  # the memory guard, no weights yet, a model that will not load
                loaded = Loaded(error=str(error))
            self.loaded[pane.key] = loaded
            on_loaded(pane, loaded)

    def close(self) -> None:
        """Stop the child (an answer in progress is stopped first); one the session was given is
        left to its owner."""
        with self._lock:
            child, self._child = self._child, None
        if child is not None and self._owns_child:
            child.stop()
            child.close()

    @property
    def ready(self) -> list[PaneSpec]:
        """The panes whose model loaded."""
        return [pane for pane in self.panes if self.loaded.get(pane.key, Loaded()).ok]

    # --- a turn ----------------------------------------------------------------------------
    def ask(self, prompt: str, on_event: OnEvent) -> Turn | None:
        """Every loaded pane answers `prompt`, in turn; returns the turn when all of them did
        (it is then kept with its runs), None when it was stopped or failed."""
        child = self._child
        if child is None:
            raise ChatError("The chat is not loaded yet.")
        turn = Turn(prompt)
        complete = True
        for pane in self.ready:
            if self._stopping.is_set():
                complete = False
                break
            try:
                for event in child.ask(
                    pane.key, [*self._history(pane), {"role": "user", "content": prompt}], self.sampling
                ):
                    if event["event"] == "chunk":
                        on_event(pane.key, "chunk", event["text"])
                    elif event["event"] == "done":
                        turn.answers[pane.key] = event["answer"]
                        on_event(pane.key, "done", event["answer"])
            except ChatError as error:
                on_event(pane.key, "error", str(error))
                complete = False
                break
            if turn.answers.get(pane.key, {}).get("stopped") == "interrupted":
                complete = False
                break
        if not complete or not turn.answers:
            return None
        self.turns.append(turn)
        self._keep()
        return turn

    def begin_turn(self) -> None:
        """A prompt was sent: called by the face before `ask` runs in its thread, so a stop pressed
        in between (before the thread started) still stops this turn."""
        self._stopping.clear()

    def stop(self) -> None:
        """End the answer being generated; the panes after it do not answer this prompt."""
        self._stopping.set()
        child = self._child
        if child is not None:
            child.stop()

    def new_conversation(self) -> None:
        self.turns.clear()
        self.conversation_ids.clear()

    def continue_conversation(self, run_id: int, conversation_id: int, turns: list[dict[str, Any]]) -> None:
        """Go on with a kept conversation of `run_id` (its `turns` as the store holds them, answers
        by model): each pane of that run takes its model's answers as its history, and the next
        kept turn is added to that conversation."""
        mine = [pane for pane in self.panes if pane.run_id == run_id]
        for stored in turns:
            answers = stored.get("answers") or {}
            turn = Turn(str(stored.get("prompt", "")))
            turn.answers = {pane.key: answers[pane.which] for pane in mine if pane.which in answers}
            turn.others = {which: answer for which, answer in answers.items() if which not in {p.which for p in mine}}
            self.turns.append(turn)
        self.conversation_ids[run_id] = conversation_id

    def _history(self, pane: PaneSpec) -> list[dict[str, str]]:
        messages: list[dict[str, str]] = []
        for turn in self.turns:
            answer = turn.answers.get(pane.key)
            if answer is not None:
                messages += [{"role": "user", "content": turn.prompt}, {"role": "assistant", "content": answer["text"]}]
        return messages

    def _keep(self) -> None:
        """Save the conversation with each run of the chat, as `tuitune chat` saves it."""
        settings = self.sampling.model_dump()
        if self.template:
            settings["template"] = self.template
        for run_id in dict.fromkeys(pane.run_id for pane in self.panes):
            mine = [pane for pane in self.panes if pane.run_id == run_id]
            turns = [
                {
                    "prompt": turn.prompt,
                    "answers": {
                        **turn.others,
                        **{pane.which: turn.answers[pane.key] for pane in mine if pane.key in turn.answers},
                    },
                }
                for turn in self.turns
            ]
            turns = [turn for turn in turns if turn["answers"]]
            if turns:
                self.conversation_ids[run_id] = self._save(run_id, turns, settings, self.conversation_ids.get(run_id))
