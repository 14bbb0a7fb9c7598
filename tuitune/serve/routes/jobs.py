"""The job service's routes, kept working as aliases: `POST /finetune` with its flat body,
`/jobs`, `/logs/{id}` (JSON lines); `/dashboard` is the app's. A job is a run; nothing here is a second system."""

from __future__ import annotations

import json
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tuitune.serve.routes import runs
from tuitune.store import CANCELLED, QUEUED, Run, open_store

router = APIRouter(tags=["job service (aliases)"])


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


def job(run: Run) -> dict[str, Any]:
    """A run in the job service's words."""
    return {
        "job_id": run.id,
        "status": run.status,
        "model_name": run.model,
        "dataset_name": run.dataset,
        "progress": {
            "step": run.steps_done,
            "total_steps": run.steps_total,
            "epoch": run.epoch,
            "percent": round(100 * run.progress, 1) if run.progress is not None else None,
        },
        "loss": run.last_loss,
        "eval_loss": run.last_eval_loss,
        "output_dir": run.output_dir,
        "error": run.error,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


@router.post("/finetune", status_code=201, summary="Start a fine-tuning job (alias of POST /runs)")
def finetune(request: Request, body: FinetuneRequest) -> dict[str, Any]:
    run = runs.start_run(request, to_config(body), in_queue=True, source="the /finetune request")
    return {**job(run), "message": f"Job {run.id} accepted ({run.status}).", "urls": runs.urls(run.id)}


@router.get("/jobs", summary="Every job (run), newest first")
def jobs() -> list[dict[str, Any]]:
    store = open_store()
    return [job(run) for run in store.list_runs(limit=500)]


@router.get("/jobs/{job_id}", summary="A job's status and progress")
def get_job(job_id: int) -> dict[str, Any]:
    return job(runs.find(job_id))


@router.delete("/jobs/{job_id}", summary="Cancel a job")
def cancel_job(job_id: int) -> dict[str, Any]:
    run = runs.find(job_id)
    cancelled = runs.launcher.cancel(run)
    return {**job(cancelled), "message": cancel_message(run, cancelled)}


def cancel_message(before: Run, after: Run) -> str:
    """What a cancel did: a job still waiting is simply cancelled; a training one stops after its step."""
    if after.status == CANCELLED:
        return f"Job {after.id} was cancelled before it started: nothing had trained."
    if before.status == QUEUED:
        return f"Job {after.id} is cancelled: it stops before its first step."
    return f"Job {after.id} is stopping after its current step (with a checkpoint: it can be resumed)."


@router.get("/logs/{job_id}", summary="A job's log as JSON lines (events and metric points, in time order)")
def logs(job_id: int) -> Response:
    store = open_store()
    store.get_run(job_id)
    lines = [{"time": e.time.isoformat(), "level": e.level, "message": e.message} for e in store.events(job_id)]
    lines += [
        {
            "time": p.time.isoformat(),
            "level": "metrics",
            **{k: v for k, v in p.to_dict().items() if v is not None and k not in ("id", "run_id", "time")},
        }
        for p in store.metric_points(job_id)
    ]
    lines.sort(key=lambda line: line["time"])
    return Response("".join(json.dumps(line) + "\n" for line in lines), media_type="application/x-ndjson")
