"""How a chat model answers: the sampling settings, with their limits declared once."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_NEW_TOKENS = 32_768
MAX_STOP_STRINGS = 16


class Sampling(BaseModel):
    """Sampling settings for one answer; temperature 0 means greedy (the same answer every time)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    system_prompt: str | None = Field(None, max_length=20_000, description="a system message before the conversation")
    temperature: float = Field(0.7, ge=0, le=5, description="0: greedy")
    top_p: float = Field(0.95, gt=0, le=1)
    top_k: int = Field(50, ge=0, le=10_000, description="0: no limit")
    min_p: float = Field(0.0, ge=0, le=1)
    repetition_penalty: float = Field(1.0, ge=0.5, le=5)
    max_new_tokens: int = Field(256, ge=1, le=MAX_NEW_TOKENS)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    stop: list[str] = Field(
        default_factory=list, max_length=MAX_STOP_STRINGS, description="strings that end the answer"
    )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0
