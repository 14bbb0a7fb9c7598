"""The job service's routes, kept working as aliases: `POST /finetune` with its flat body,
`/jobs`, `/logs/{id}` (JSON lines); `/dashboard` is the app's. A job is a run; nothing here is a second system."""

from __future__ import annotations

import json
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tuitune.runs.documents import Job, JobAccepted, JobCancelled, JobLogLine, job, metric_point
from tuitune.serve.responses import JSON_LINES, JsonLines, stream_of
from tuitune.serve.routes import runs
from tuitune.serve.routes.refusals import STORE, WRITES, refusals
from tuitune.store import CANCELLED, QUEUED, Run

# Every route reads the store; each says what else it may refuse.
router = APIRouter(tags=["job service (aliases)"], responses=refusals(*STORE))


class FinetuneRequest(BaseModel):
    """The job service's request body; each field maps onto one run setting."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_name: str = Field(..., max_length=4096)
    dataset_name: str = Field(..., max_length=4096)
    max_seq_length: Optional[int] = None
    num_train_epochs: Optional[float] = None
    per_device_train_batch_size: Optional[int] = None
    gradient_accumulation_steps: Optional[int] = None
    learning_rate: Optional[float] = None
    max_steps: Optional[int] = Field(None, description="-1 or 0: no limit (epochs decide), as in transformers")
    warmup_steps: Optional[int] = None
    save_steps: Optional[int] = None
    logging_steps: Optional[int] = None
    output_dir: Optional[str] = Field(None, max_length=4096)
    lora_r: Optional[int] = None
    lora_alpha: Optional[int] = None
    lora_dropout: Optional[float] = None


# request field -> (config section, key); None: the top level.
FIELD_MAP: dict[str, tuple[str | None, str]] = {
    "model_name": ("model", "name_or_path"),
    "dataset_name": ("data", "source"),
    "max_seq_length": ("data", "max_length"),
    "num_train_epochs": ("training", "epochs"),
    "per_device_train_batch_size": ("training", "batch_size"),
    "gradient_accumulation_steps": ("training", "gradient_accumulation_steps"),
    "learning_rate": ("training", "learning_rate"),
    "max_steps": ("training", "max_steps"),
    "warmup_steps": ("training", "warmup_steps"),
    "save_steps": ("training", "save_steps"),
    "logging_steps": ("training", "logging_steps"),
    "output_dir": ("training", "output_dir"),
    "lora_r": ("lora", "r"),
    "lora_alpha": ("lora", "alpha"),
    "lora_dropout": ("lora", "dropout"),
}


def to_config(body: FinetuneRequest) -> dict[str, Any]:
    """The flat request as a run configuration (LoRA, the job service's method)."""
    config: dict[str, Any] = {"method": "lora"}
    for name, value in body.model_dump(exclude_none=True).items():
        if name == "max_steps" and value <= 0:
            continue
        section, key = FIELD_MAP[name]
        (config.setdefault(section, {}) if section else config)[key] = value
    return config


@router.post(
    "/finetune",
    status_code=201,
    summary="Start a fine-tuning job (alias of POST /runs)",
    responses=refusals(413, 422, *WRITES),
)
def finetune(request: Request, body: FinetuneRequest) -> JobAccepted:
    run = runs.start_run(request, to_config(body), in_queue=True, source="the /finetune request")
    return JobAccepted(**dict(job(run)), message=f"Job {run.id} accepted ({run.status}).", urls=runs.urls(run.id))


@router.get("/jobs", summary="Every job (run), newest first")
def jobs() -> list[Job]:
    return [job(run) for run in runs.runs().list_runs(limit=500)]


@router.get("/jobs/{job_id}", summary="A job's status and progress", responses=refusals(404, 422))
def get_job(job_id: int) -> Job:
    return job(runs.find(job_id))


@router.delete("/jobs/{job_id}", summary="Cancel a job", responses=refusals(404, 409, 422, *WRITES))
def cancel_job(job_id: int) -> JobCancelled:
    run = runs.find(job_id)
    cancelled = runs.runs().cancel(run.id)
    return JobCancelled(**dict(job(cancelled)), message=cancel_message(run, cancelled))


def cancel_message(before: Run, after: Run) -> str:
    """What a cancel did: a job still waiting is simply cancelled; a training one stops after its step."""
    if after.status == CANCELLED:
        return f"Job {after.id} was cancelled before it started: nothing had trained."
    if before.status == QUEUED:
        return f"Job {after.id} is cancelled: it stops before its first step."
    return f"Job {after.id} is stopping after its current step (with a checkpoint: it can be resumed)."


@router.get(
    "/logs/{job_id}",
    summary="A job's log as JSON lines (events and metric points, in time order)",
    response_class=JsonLines,
    response_model=JobLogLine,  # one line's
    responses={
        **stream_of(JobLogLine, JSON_LINES, "One JSON document per line: an event or a metric point."),
        **refusals(404, 422),
    },
)
def logs(job_id: int) -> Response:
    service = runs.runs()
    service.get_run(job_id)
    lines = [JobLogLine(time=e.time, level=e.level, message=e.message) for e in service.events(job_id)]
    lines += [
        JobLogLine.model_validate(
            {
                "time": p.time,
                "level": "metrics",
                **metric_point(p).model_dump(exclude={"id", "run_id", "time"}, exclude_none=True),
            }
        )
        for p in service.metric_points(job_id)
    ]
    lines.sort(key=lambda line: line.time)
    return JsonLines("".join(json.dumps(line.model_dump(mode="json", exclude_none=True)) + "\n" for line in lines))
