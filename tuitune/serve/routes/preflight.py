"""`/preflight/*`: the wizard's checks of a model, a dataset and a whole configuration, through the
same warm probe child the terminal app uses (`tuitune.probe`), so the browser sees what the app sees.

What a request names is checked by the guard first (a path outside the data roots, a Hub id on a
server not started to reach the Hub), in the guard's own words, before anything is read. The probe
blocks while it reads: the routes are plain functions, which FastAPI runs in its thread pool.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from fastapi import APIRouter, Body, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from tuitune.config import MAX_TOKENS, Method, Objective, RunConfig
from tuitune.engine.launcher import with_local_paths
from tuitune.probe.client import ProbeClient
from tuitune.serve.guard import checked_config
from tuitune.serve.routes.refusals import refusals

router = APIRouter(prefix="/preflight", tags=["preflight"])

# A probe that reads a large dataset or a model from the Hub may take minutes; longer is stuck.
PROBE_SECONDS = 300
_starting = threading.Lock()  # two first requests at once must not start two probe children


def probe_of(app: FastAPI) -> ProbeClient:
    """The server's one probe client, made on first use and stopped when the server stops."""
    with _starting:
        client: ProbeClient | None = getattr(app.state, "probe", None)
        if client is None:
            client = ProbeClient()
            app.state.probe = client
            app.state.closers.append(client.stop)
        return client


def _checked(request: Request, data: dict[str, Any], source: str) -> RunConfig:
    """Validated and checked as `POST /runs` checks it, with local paths made absolute (the probe
    child runs in TUITUNE_HOME, not in the server's folder)."""
    return with_local_paths(checked_config(request, data, source))


def _ask(request: Request, op: str, args: dict[str, Any]) -> dict[str, Any]:
    return probe_of(request.app).request(op, args, timeout=PROBE_SECONDS)


class ModelProbe(BaseModel):
    """What the probe read of a model: its description and the recommendation for this machine."""

    model: dict[str, Any] = Field(description="Architecture, type, parameters, layers, LoRA targets, stored dtype…")
    recommendation: Optional[dict[str, Any]] = Field(
        None,
        description="Method, LoRA rank, batch size, gradient checkpointing and max length for this machine's GPUs.",
    )
    recommendation_error: Optional[str] = Field(None, description="Why there is no recommendation, when there is none.")
    gpus: list[Any] = Field(default_factory=list, description="The GPUs runs may be given here.")


class DataPreview(BaseModel):
    """What `tuitune data SOURCE --json` reports: the detected format, rows, token lengths, and a few
    samples as `segments` of text, each marked `trained` or not (and more statistics besides)."""

    model_config = ConfigDict(extra="allow")

    format: str
    rows: int
    objective: str
    previews: list[dict[str, Any]] = Field(default_factory=list)


class ConfigProbe(BaseModel):
    """What a run does before its first step, as the worker would do it."""

    format: str
    template: str
    train: int = Field(description="Training rows (after the split).")
    validation: int = Field(description="Held-out rows.")
    dropped: dict[str, int] = Field(description="Rows left out, by reason.")


class ModelQuestion(BaseModel):
    name: str = Field(max_length=4096, description="A Hugging Face model id, a local folder, or tuitune/demo.")


class DataQuestion(BaseModel):
    source: str = Field(max_length=4096, description="A dataset file or folder, a Hub dataset id, or a bundled set.")
    model: Optional[str] = Field(
        None, max_length=4096, description="Whose tokenizer and template render the samples (default: the demo)."
    )
    method: Method = "lora"
    objective: Optional[Objective] = Field(
        None, description="What to read the data for; None: what its format suggests."
    )
    max_length: int = Field(512, ge=8, le=MAX_TOKENS, description="Tokens per training sequence.")
    chosen_only: bool = Field(False, description="Objective sft on a preference set: its chosen answers only.")


@router.post(
    "/model",
    summary="A model's architecture, size and memory, and the recommended settings for this machine's GPUs",
    responses=refusals(400, 413, 422),
)
def model(request: Request, question: ModelQuestion) -> ModelProbe:
    config = _checked(request, {"model": {"name_or_path": question.name}}, "the model")
    return ModelProbe.model_validate(_ask(request, "model", {"name": config.model.name_or_path}))


@router.post(
    "/data",
    summary="A dataset's detected format, rows, token lengths and samples rendered with the trained part marked",
    responses=refusals(400, 413, 422),
)
def data(request: Request, question: DataQuestion) -> DataPreview:
    wanted: dict[str, Any] = {
        "method": question.method,
        "data": {"source": question.source, "max_length": question.max_length},
        "preference": {"chosen_only": question.chosen_only},
    }
    if question.model:
        wanted["model"] = {"name_or_path": question.model}
    if question.objective:
        wanted["objective"] = question.objective
    config = _checked(request, wanted, "the dataset")
    args = {
        "source": config.data.source,
        "model": config.model.name_or_path,
        "method": question.method,
        "objective": question.objective,
        "max_length": question.max_length,
        "chosen_only": question.chosen_only,
    }
    return DataPreview.model_validate(_ask(request, "data", args))


@router.post(
    "/check",
    summary="Everything a run does before its first step (data read, templated, tokenized, split), minus the weights",
    responses=refusals(400, 413, 422),
)
def check(
    request: Request,
    config: dict[str, Any] = Body(..., embed=True, description="A run configuration, as `POST /runs` takes it."),
) -> ConfigProbe:
    checked = _checked(request, config, "request")
    return ConfigProbe.model_validate(_ask(request, "check", {"config": checked.to_dict()}))
