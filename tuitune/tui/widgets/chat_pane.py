"""One side of a chat: what it loaded (exactly), then the conversation as it streams.

The conversation stays scrolled to its end while tokens arrive, unless the user scrolled up to
read (Textual's anchor: scrolling back to the end follows the stream again). Prompts, answers and
descriptions are the user's and the model's text: shown as Text, never read as markup, with
control characters escaped (a model may emit any of them).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from tuitune.runs.present import literal, literal_text

# How an answer ended, in words.
ENDINGS = {
    "eos": "end of answer",
    "max_tokens": "token limit reached",
    "stop_string": "stop string",
    "interrupted": "stopped: not kept",
}


def answer_stats(answer: dict[str, Any]) -> str:
    """`24 tokens · 31.2 tokens/s · first token 0.05 s · end of answer`."""
    parts = [f"{answer.get('tokens', 0):,} tokens"]
    if answer.get("tokens_per_second"):
        parts.append(f"{answer['tokens_per_second']:.1f} tokens/s")
    if answer.get("first_token_seconds") is not None:
        parts.append(f"first token {answer['first_token_seconds']:.2f} s")
    parts.append(ENDINGS.get(str(answer.get("stopped")), str(answer.get("stopped"))))
    return " · ".join(parts)


class ChatPane(Vertical):
    """A header saying what answers here, and the conversation below it."""

    DEFAULT_CSS = """
    ChatPane { width: 1fr; height: 1fr; border: round $panel-lighten-2; }
    ChatPane:focus-within { border: round $primary; }
    ChatPane > .pane-header { height: auto; max-height: 4; padding: 0 1; background: $panel; }
    ChatPane > VerticalScroll { height: 1fr; padding: 0 1; }
    ChatPane .prompt { color: $text-accent; text-style: bold; margin-top: 1; }
    ChatPane .answer { height: auto; }
    ChatPane .stats { color: $text-muted; }
    ChatPane .failure { color: $error; }
    """

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = literal_text(title)
        self._answer: Static | None = None
        self._text = ""

    def compose(self) -> ComposeResult:
        yield Static(Text("loading…", style="italic"), classes="pane-header")
        yield VerticalScroll(classes="conversation")

    def on_mount(self) -> None:
        self.conversation.anchor()

    @property
    def conversation(self) -> VerticalScroll:
        return self.query_one(".conversation", VerticalScroll)

    @property
    def answer_text(self) -> str:
        """The text of the answer being (or last) streamed."""
        return self._text

    def loaded(self, description: str, template: str, device: str) -> None:
        header = literal_text(description)
        header.append(f"\ntemplate {template} · {device}", style="dim")
        self.query_one(".pane-header", Static).update(header)

    def failed_to_load(self, message: str) -> None:
        header = Text("Could not load: ", style="bold red")
        header.append(literal(message), style="red")
        self.query_one(".pane-header", Static).update(header)
        self.query_one(".pane-header").styles.max_height = None  # the whole reason, wrapped

    def ask(self, prompt: str) -> None:
        """The user's prompt, and an empty answer that fills as tokens arrive."""
        self._text = ""
        self._answer = Static("", classes="answer")
        self.conversation.mount_all([Static(literal_text(prompt), classes="prompt"), self._answer])

    def add(self, text: str) -> None:
        if self._answer is None:
            return
        self._text += text
        self._answer.update(literal_text(self._text))

    def done(self, answer: dict[str, Any]) -> None:
        if self._answer is not None:
            self._answer.update(literal_text(answer.get("text", self._text)))
        self.conversation.mount(Static(Text(answer_stats(answer)), classes="stats"))
        self._answer = None

    def abandon(self) -> None:
        """The turn ended before this pane answered (stopped, or an error in another pane)."""
        if self._answer is not None:
            self._answer.update(Text("not answered: the turn was stopped", style="dim italic"))
            self._answer = None

    def fail(self, message: str) -> None:
        self.conversation.mount(Static(literal_text(message), classes="failure"))
        self._answer = None

    def clear(self) -> None:
        self.conversation.remove_children()
        self._answer, self._text = None, ""
