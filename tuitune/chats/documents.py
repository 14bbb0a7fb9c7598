"""What `tuitune chat … --json` prints, declared once.

`chat RUN --prompt … --json` prints a `ChatReply` (each pane's model as loaded, and its answer
with what it cost), `chat RUN --export FILE --json` a `ChatsExported`. Light: pydantic only.
"""

from __future__ import annotations

from pydantic import Field

from tuitune.runs.documents import Document


class LoadedModel(Document):
    """A pane's model, as the chat process loaded it."""

    description: str = Field(description="The base model and what is on it (an adapter, merged weights).")
    template: str = Field(description="The chat template the prompt is rendered with.")
    device: str
    context: int | None = Field(description="The most tokens the model reads, prompt and answer together.")


class ChatAnswer(Document):
    """One answer and what it cost."""

    text: str
    tokens: int = Field(description="Tokens generated.")
    seconds: float
    first_token_seconds: float | None
    tokens_per_second: float | None
    stopped: str = Field(description="Why it ended: eos, max_tokens, stop_string or interrupted.")
    dropped_messages: int = Field(description="The oldest messages left out so that the conversation fits.")


class ChatReply(Document):
    """`tuitune chat RUN --prompt … --json`: each pane's answer (finetuned; base beside it with --compare)."""

    run_id: int
    prompt: str
    loaded: dict[str, LoadedModel] = Field(description="Each pane's model: finetuned, base or merged.")
    answers: dict[str, ChatAnswer] = Field(description="Each pane's answer, by the same names.")
    conversation_id: int | None = Field(description="The conversation kept with the run; None with --no-save.")


class ChatsExported(Document):
    """`tuitune chat RUN --export FILE --json`: the run's saved chats, written as training data."""

    run_id: int
    path: str
    conversations: int = Field(description="How many conversations were written (one JSONL row each).")
