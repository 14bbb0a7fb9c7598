"""Chat with a run's model: beside its base (the same prompt, settings and seed), or two runs side
by side. Tokens stream in as the model writes them; ctrl+c or escape stops an answer.

The models load and answer in one chat child process (`tuitune.chats.server`), never in the
app's process; this screen sends prompts from a thread worker and draws what comes back. Each
turn that every pane answered is saved with its run (the run detail lists and exports them).
"""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Input, Static

from tuitune.chats.side_by_side import ChatSession, Loaded, PaneSpec
from tuitune.errors import TuituneError
from tuitune.tui.failures import ReportsWorkerErrors
from tuitune.tui.widgets.chat_pane import ChatPane
from tuitune.tui.widgets.chat_settings import ChatSettings, ChatSettingsModal
from tuitune.tui.widgets.footer import FittingFooter

# The layouts of a one-run chat: which models answer, left to right.
LAYOUTS: dict[str, tuple[str, ...]] = {
    "finetuned+base": ("finetuned", "base"),
    "finetuned": ("finetuned",),
    "merged+base": ("merged", "base"),
    "merged": ("merged",),
    "base": ("base",),
}
LAYOUT_LABELS = {
    "finetuned+base": "fine-tuned | base",
    "finetuned": "fine-tuned alone",
    "merged+base": "merged | base",
    "merged": "merged alone",
    "base": "base alone",
}
TWO_RUNS = "two-runs"


def _follow_if_at_end(conversation: VerticalScroll) -> None:
    if conversation.scroll_y >= conversation.max_scroll_y:
        conversation.scroll_end(animate=False, immediate=True)


class ChatScreen(ReportsWorkerErrors, Screen[None]):
    """One or two panes over a prompt line; every key works while the prompt has the focus."""

    BINDINGS = [
        # Offered only while an answer streams (check_action); otherwise ctrl+c copies and escape leaves.
        Binding(
            "ctrl+c,escape",
            "stop",
            "Stop",
            tooltip="Stop the answer being written (it is not kept).",
            id="chat-stop",
            priority=True,
        ),
        Binding(
            "escape",
            "leave",
            "Back",
            tooltip="Leave the chat (it is saved with the run after every answer).",
            id="chat-leave",
        ),
        Binding(
            "ctrl+o",
            "settings",
            "Settings",
            tooltip="System prompt, temperature, top p/k, min p, repetition penalty, max new tokens, seed, stop strings, template, models.",
            id="chat-settings",
        ),
        Binding(
            "ctrl+n", "new_chat", "New chat", tooltip="Start a new conversation with the same models.", id="chat-new"
        ),
        Binding(
            "pageup",
            "scroll(-1)",
            "Scroll up",
            show=False,
            tooltip="Scroll the conversations up (they stop following the answer).",
            id="chat-scroll-up",
        ),
        Binding(
            "pagedown",
            "scroll(1)",
            "Scroll down",
            show=False,
            tooltip="Scroll the conversations down (at the end they follow the answer again).",
            id="chat-scroll-down",
        ),
    ]

    class PaneLoaded(Message):
        def __init__(self, pane: PaneSpec, loaded: Loaded) -> None:
            super().__init__()
            self.pane, self.loaded = pane, loaded

    class Streamed(Message):
        """A piece of an answer, its end, or why it failed."""

        def __init__(self, key: str, kind: str, payload: Any) -> None:
            super().__init__()
            self.key, self.kind, self.payload = key, kind, payload

    class TurnEnded(Message):
        def __init__(self, kept: bool, conversation_ids: dict[int, int]) -> None:
            super().__init__()
            self.kept, self.conversation_ids = kept, conversation_ids

    def __init__(self, run_ids: list[int], *, models: str = "finetuned+base") -> None:
        super().__init__()
        self.run_ids = run_ids
        self.models = TWO_RUNS if len(run_ids) > 1 else models
        self.session: ChatSession | None = None
        self.generating = False
        self._names: dict[int, str] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Horizontal(id="chat-panes")
        yield Static("", id="chat-status")
        yield Input(
            placeholder="Ask something; enter sends (ctrl+o settings, ctrl+n new chat)", id="prompt", compact=True
        )
        yield FittingFooter()

    def on_mount(self) -> None:
        self.sub_title = "chat"
        self.query_one("#prompt", Input).focus()
        self._open()

    def on_unmount(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            # The child stops in the background: closing waits for it, and the app must not.
            threading.Thread(target=session.close, name="tuitune-chat-close", daemon=True).start()

    # --- loading -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="chat", exit_on_error=False)
    def _open(self, settings: ChatSettings | None = None) -> None:
        """Read the runs, lay out the panes, start the child and load each pane's model."""
        service = self.tuitune.service
        if not self._names:
            for run_id in self.run_ids:
                run = service.get_run(run_id)
                self._names[run.id] = run.name
        panes = self._panes()
        session = ChatSession(panes, service.save_conversation)
        if settings is not None:
            session.sampling, session.template = settings.sampling, settings.template
        elif self.session is not None:
            session.sampling, session.template = self.session.sampling, self.session.template
        old, self.session = self.session, session
        if old is not None:
            old.close()
        self.tuitune.call_from_thread(self._lay_out, panes)  # type: ignore[arg-type]  # awaited: panes exist before loads report

        def loaded(pane: PaneSpec, loaded: Loaded) -> None:
            self.post_message(self.PaneLoaded(pane, loaded))

        try:
            session.load(loaded)
        except TuituneError as error:  # the child could not start at all
            for pane in panes:
                self.post_message(self.PaneLoaded(pane, Loaded(error=str(error))))

    def _panes(self) -> list[PaneSpec]:
        if self.models == TWO_RUNS:
            return [
                PaneSpec(key, run_id, self._names[run_id], "finetuned")
                for key, run_id in zip("ab", self.run_ids, strict=False)
            ]
        run_id = self.run_ids[0]
        return [
            PaneSpec(key, run_id, self._names[run_id], which)
            for key, which in zip("ab", LAYOUTS[self.models], strict=False)
        ]

    async def _lay_out(self, panes: list[PaneSpec]) -> None:
        row = self.query_one("#chat-panes", Horizontal)
        await row.remove_children()  # before the new panes take the same ids
        await row.mount_all([ChatPane(pane.title, id=f"pane-{pane.key}") for pane in panes])
        self._show_status()

    @on(PaneLoaded)
    def _loaded(self, message: PaneLoaded) -> None:
        pane = next(self.query(f"#pane-{message.pane.key}").results(ChatPane), None)
        if pane is None:
            return
        loaded = message.loaded
        if loaded.ok:
            pane.loaded(loaded.description, loaded.template, loaded.device)
        else:
            pane.failed_to_load(loaded.error or "it did not say why")
            self.notify(loaded.error or "", title=f"Could not load {message.pane.title}", severity="error")
        self._show_status()

    # --- asking --------------------------------------------------------------------------------
    @on(Input.Submitted, "#prompt")
    def _send(self, event: Input.Submitted) -> None:
        prompt = event.value.strip()
        session = self.session
        if not prompt:
            return
        if self.generating:
            self.notify("An answer is still being written: wait for it, or stop it (ctrl+c).", severity="warning")
            return
        if session is None or not session.ready:
            waiting = session is not None and len(session.loaded) < len(session.panes)
            self.notify(
                "The models are still loading."
                if waiting or session is None
                else "No model could be loaded: see the panes.",
                severity="warning",
            )
            return
        event.input.value = ""
        for pane in session.ready:
            self.query_one(f"#pane-{pane.key}", ChatPane).ask(prompt)
        self._generating(True)
        session.begin_turn()
        self._ask(session, prompt)

    @work(thread=True, exclusive=True, group="chat-ask", exit_on_error=False)
    def _ask(self, session: ChatSession, prompt: str) -> None:
        def streamed(key: str, kind: str, payload: Any) -> None:
            self.post_message(self.Streamed(key, kind, payload))

        turn = None
        try:
            turn = session.ask(prompt, streamed)
        finally:
            self.post_message(self.TurnEnded(turn is not None, dict(session.conversation_ids) if turn else {}))

    @on(Streamed)
    def _streamed(self, message: Streamed) -> None:
        panes = self.query(f"#pane-{message.key}").results(ChatPane)
        pane = next(panes, None)
        if pane is None:
            return
        if message.kind == "chunk":
            pane.add(message.payload)
        elif message.kind == "done":
            pane.done(message.payload)
        else:
            pane.fail(message.payload)
            self.notify(message.payload, title="The chat model failed", severity="error")

    @on(TurnEnded)
    def _turn_ended(self, message: TurnEnded) -> None:
        self._generating(False)
        for pane in self.query(ChatPane):
            pane.abandon()
        if message.kept and message.conversation_ids:
            saved = ", ".join(f"run {run_id}" for run_id in message.conversation_ids)
            self._show_status(f"saved with {saved}")

    def _generating(self, value: bool) -> None:
        self.generating = value
        self.refresh_bindings()
        self._show_status()

    # --- the status line -----------------------------------------------------------------------
    def _show_status(self, note: str | None = None) -> None:
        session = self.session
        line = Text()
        if self.generating:
            line.append("writing… ", style="bold yellow")
            line.append("ctrl+c or escape stops the answer · ", style="dim")
        if session is not None:
            sampling = session.sampling
            settings = (
                "greedy"
                if sampling.greedy
                else f"temperature {sampling.temperature:g} · top p {sampling.top_p:g} · top k {sampling.top_k}"
            )
            line.append(f"{settings} · max {sampling.max_new_tokens:,} tokens · seed {sampling.seed}")
            if session.template:
                line.append(f" · template {session.template}")
            if sampling.system_prompt:
                line.append(" · system prompt set")
            if sampling.stop:
                line.append(f" · {len(sampling.stop)} stop string{'s' if len(sampling.stop) > 1 else ''}")
        if note:
            line.append(f" · {note}", style="green")
        self.query_one("#chat-status", Static).update(line)

    # --- actions -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.generating  # else ctrl+c copies in the prompt, and escape leaves
        if action == "leave":
            return not self.generating
        if action in ("settings", "new_chat"):
            return not self.generating or None
        return True

    def action_stop(self) -> None:
        if self.session is not None:
            self.session.stop()

    def action_leave(self) -> None:
        self.dismiss()

    def action_scroll(self, direction: int) -> None:
        for pane in self.query(ChatPane):
            # Scrolling up releases Textual's anchor (the pane stops following the answer); back
            # at the end, it follows again.
            conversation = pane.conversation
            if direction < 0:
                conversation.scroll_page_up(animate=False)
            else:
                conversation.scroll_page_down(animate=False)
                # Textual re-anchors only when the scroll position changes, and a page down at
                # the end releases the anchor without moving: once it has scrolled, anchor again.
                conversation.call_after_refresh(_follow_if_at_end, conversation)

    def action_new_chat(self) -> None:
        if self.session is not None:
            self.session.new_conversation()
        for pane in self.query(ChatPane):
            pane.clear()
        self._show_status("a new conversation")

    def action_settings(self) -> None:
        session = self.session
        if session is None:
            return
        current = ChatSettings(session.sampling, session.template, self.models)
        trained = next((loaded.template for loaded in session.loaded.values() if loaded.ok), "")
        layouts = [(label, value) for value, label in LAYOUT_LABELS.items()] if self.models != TWO_RUNS else []
        self.tuitune.push_screen(
            ChatSettingsModal(current, trained_template=trained if session.template is None else "", layouts=layouts),
            self._settings_chosen,
        )

    def _settings_chosen(self, settings: ChatSettings | None) -> None:
        session = self.session
        if settings is None or session is None:
            return
        if settings.template != session.template or settings.models != self.models:
            # Other models or another template: the panes load again, for a new conversation.
            self.models = settings.models
            self._open(settings)
            self._show_status("loading the models again")
            return
        session.sampling = settings.sampling
        self._show_status("settings applied")
