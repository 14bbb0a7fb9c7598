"""How a chat model answers: the sampling settings, with their limits declared once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tuitune.errors import UsageError

MAX_NEW_TOKENS = 32_768
MAX_STOP_STRINGS = 16
# Below this, sampling is greedy decoding in all but name, and dividing the logits by a temperature
# near zero turns them into inf/nan: such a temperature decodes greedily.
GREEDY_BELOW = 0.01
# No model reads a message this long (a million characters is some 250,000 tokens): refused before
# it is sent to the chat process, let alone tokenized.
MAX_MESSAGE_CHARACTERS = 1_000_000


class Sampling(BaseModel):
    """Sampling settings for one answer; temperature 0 means greedy (the same answer every time)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    system_prompt: str | None = Field(None, max_length=20_000, description="a system message before the conversation")
    temperature: float = Field(0.7, ge=0, le=5, description=f"0 (or below {GREEDY_BELOW:g}): greedy")
    top_p: float = Field(0.95, gt=0, le=1)
    top_k: int = Field(50, ge=0, le=10_000, description="0: no limit")
    min_p: float = Field(0.0, ge=0, le=1)
    repetition_penalty: float = Field(1.0, ge=0.5, le=5)
    max_new_tokens: int = Field(256, ge=1, le=MAX_NEW_TOKENS)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    stop: list[str] = Field(
        default_factory=list, max_length=MAX_STOP_STRINGS, description="strings that end the answer"
    )

    @field_validator("stop")
    @classmethod
    def _no_empty_stop_string(cls, stop: list[str]) -> list[str]:
        # Every text contains "", so an empty stop string would end each answer at its first token.
        if any(text == "" for text in stop):
            raise ValueError("an empty stop string would end every answer at once: give at least one character")
        return stop

    @property
    def greedy(self) -> bool:
        return self.temperature < GREEDY_BELOW


def sampling_of(values: dict[str, Any], *, name: Callable[[str], str] = str) -> Sampling:
    """`values` as `Sampling`, or a UsageError in one line naming the setting at fault by `name`."""
    try:
        return Sampling(**values)
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        raise UsageError(f"{name(str(first['loc'][0]))}: {message}.") from None
