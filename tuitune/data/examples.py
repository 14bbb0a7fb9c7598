"""The one canonical shape every dataset becomes inside tuitune: a conversation or a raw text.

Every format reads into these and every template and converter reads from them, so adding a
format never touches tokenization, and adding a template never touches the readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

# Roles a conversation may hold. `tool` carries what a tool returned (sharegpt `observation`);
# a tool *call* is something the model says, so it is an `assistant` turn and is trained on.
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class Message:
    """One turn of a conversation."""

    role: str
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Conversation:
    """Turns in order; every `assistant` turn is a response the model learns to give.

    `instruction_input` keeps the alpaca instruction and input of the last user turn apart
    (that turn's content is both joined by a blank line), so the alpaca template can show its
    `### Input:` section and a conversion back to alpaca loses nothing.
    """

    messages: tuple[Message, ...]
    instruction_input: tuple[str, str] | None = None
    # The tools the conversation may call, as the JSON text of a list of function schemas (OpenAI
    # `tools`, glaive/sharegpt `tools`): the model must see what it learns to call.
    tools: str | None = None

    @property
    def responses(self) -> list[str]:
        return [m.content for m in self.messages if m.role == "assistant"]

    @property
    def reference(self) -> str:
        """The last response: what evaluation compares a generation with."""
        responses = self.responses
        return responses[-1] if responses else ""

    @property
    def prompt_messages(self) -> tuple[Message, ...]:
        """Everything before the last response: what evaluation sends to the model."""
        last = max((i for i, m in enumerate(self.messages) if m.role == "assistant"), default=len(self.messages))
        return self.messages[:last]

    def as_dicts(self) -> list[dict[str, str]]:
        return [m.as_dict() for m in self.messages]


@dataclass(frozen=True)
class Document:
    """A raw text (the `text` format): every token is trained on."""

    text: str


Example = Union[Conversation, Document]


def join_instruction_input(instruction: str, input_text: str) -> str:
    """The user turn of an alpaca row: instruction and input joined by a blank line."""
    return "\n\n".join(part for part in (instruction.strip(), input_text.strip()) if part)
