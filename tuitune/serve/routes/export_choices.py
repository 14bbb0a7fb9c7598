"""`GET /export/choices`: what a run can be exported to, as `tuitune export` and the app offer it,
for a page to build its dialog from (`tuitune.export.choices` declares them once)."""

from __future__ import annotations

import shutil

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tuitune.export.choices import DEFAULT_QUANT, K_QUANTS, QUANT_WORDS, QUANTS, TARGET_WORDS

router = APIRouter(tags=["runs"])


class Choice(BaseModel):
    value: str
    label: str = Field(description="What it is for, in the words a user picks by.")


class ExportChoices(BaseModel):
    targets: list[Choice]
    quants: list[Choice] = Field(
        description="The GGUF's weights: the K-quants only where llama.cpp's llama-quantize is on this server's PATH."
    )
    default_quant: str


@router.get("/export/choices", summary="What POST /runs/{id}/export can write, in words")
def export_choices() -> ExportChoices:
    quants = QUANTS + (K_QUANTS if shutil.which("llama-quantize") else ())
    return ExportChoices(
        targets=[Choice(value=value, label=label) for value, label in TARGET_WORDS.items()],
        quants=[Choice(value=value, label=QUANT_WORDS.get(value, value)) for value in quants],
        default_quant=DEFAULT_QUANT,
    )
