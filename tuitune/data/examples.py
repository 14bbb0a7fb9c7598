"""The one canonical shape every dataset becomes inside tuitune: a conversation or a raw text, or a
preference record (a pair of answers, a labelled answer, a prompt alone).

Every format reads into these and every template and converter reads from them, so adding a
format never touches tokenization, and adding a template never touches the readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

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


# --- learning from preferences and rewards -------------------------------------------------
# The prompt of each is a `Conversation` that ends before the answer (no trailing assistant
# turn), so `template.prompt(record.prompt)` renders it exactly as the SFT path renders a prompt,
# tools included.
@dataclass(frozen=True)
class PreferencePair:
    """A prompt with a chosen (preferred) and a rejected answer (objectives dpo, orpo, simpo, kto)."""

    prompt: Conversation
    chosen: str
    rejected: str

    @property
    def conversation(self) -> Conversation:
        """The prompt answered with the chosen answer: what SFT on the chosen answers trains on."""
        return _answered(self.prompt, self.chosen)

    @property
    def reference(self) -> str:
        return self.chosen


@dataclass(frozen=True)
class LabelledAnswer:
    """A prompt with one answer labelled desirable (True) or undesirable (False) (objective kto)."""

    prompt: Conversation
    completion: str
    label: bool

    @property
    def conversation(self) -> Conversation:
        return _answered(self.prompt, self.completion)

    @property
    def reference(self) -> str:
        return self.completion if self.label else ""


@dataclass(frozen=True)
class PromptExample:
    """A prompt alone, with the row's other columns (an `answer`…) for reward functions (objective grpo)."""

    prompt: Conversation
    extra: dict[str, Any] = field(default_factory=dict)  # every other column, in the source's order

    @property
    def conversation(self) -> Conversation:
        return self.prompt

    @property
    def reference(self) -> str:
        answer = self.extra.get("answer")
        return "" if answer is None else str(answer)


PreferenceRecord = Union[PreferencePair, LabelledAnswer, PromptExample]


def _answered(prompt: Conversation, answer: str) -> Conversation:
    return Conversation((*prompt.messages, Message("assistant", answer)), prompt.instruction_input, prompt.tools)
