"""What the store hands to the faces: plain dataclasses, never peewee rows.

Records are snapshots: they do not change when the database does, and reading one never touches
the database again. Datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from tuitune.store.status import ACTIVE, FINISHED, QUEUED, RESUMABLE

# Evaluation labels: the model before and after fine-tuning.
BASE = "base"
FINETUNED = "finetuned"
EVALUATION_LABELS: tuple[str, ...] = (BASE, FINETUNED)

# What a run leaves behind. `upload` holds a URL in `path`.
ARTIFACT_KINDS: tuple[str, ...] = (
    "adapter",
    "model",
    "checkpoint",
    "merged",
    "upload",
    "config",
    "log",
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Run:
    """One training run, as the faces show it."""

    id: int
    name: str
    status: str
    method: str
    model: str
    dataset: str
    output_dir: str | None
    pid: int | None
    host: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    steps_done: int
    steps_total: int | None
    epoch: float | None
    last_loss: float | None
    last_eval_loss: float | None
    best_eval_loss: float | None
    train_loss: float | None
    tokens_per_second: float | None
    error: str | None
    cancel_requested: bool
    checkpoint: str | None
    version: str | None
    notes: str | None = None
    queue_position: float | None = None  # set while the run waits in the queue
    gpus: str | None = None  # the GPUs it asked for, "0,1"
    devices: str | None = None  # the GPUs it was given (its CUDA_VISIBLE_DEVICES)
    sweep_id: int | None = None
    # The config as stored (JSON text). Parsed on first use of `config`, so listing thousands of
    # runs for the history table does not pay for parsing configs nobody looks at.
    config_json: str = field(default="{}", repr=False, compare=False)

    @cached_property
    def config(self) -> dict[str, Any]:
        """The run's configuration (what `RunConfig.to_dict()` produced)."""
        return json.loads(self.config_json) if self.config_json else {}

    @property
    def is_active(self) -> bool:
        """Queued or running."""
        return self.status in ACTIVE

    @property
    def in_queue(self) -> bool:
        """Waiting in the queue for a free slot (not a run that is just starting)."""
        return self.status == QUEUED and self.queue_position is not None

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def is_resumable(self) -> bool:
        """Cancelled, failed or crashed: it can continue from its last checkpoint."""
        return self.status in RESUMABLE

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish, or to now while it runs; None before it started."""
        if self.started_at is None:
            return None
        end = self.finished_at or datetime.now(timezone.utc)
        return max(0.0, (end - self.started_at).total_seconds())

    @property
    def progress(self) -> float | None:
        """Fraction of steps done (0..1), None while the total is unknown."""
        if not self.steps_total:
            return None
        return min(1.0, self.steps_done / self.steps_total)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO datetimes, parsed config) for `--json` output."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "method": self.method,
            "model": self.model,
            "dataset": self.dataset,
            "output_dir": self.output_dir,
            "pid": self.pid,
            "host": self.host,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "heartbeat_at": _iso(self.heartbeat_at),
            "duration_seconds": self.duration_seconds,
            "steps_done": self.steps_done,
            "steps_total": self.steps_total,
            "epoch": self.epoch,
            "last_loss": self.last_loss,
            "last_eval_loss": self.last_eval_loss,
            "best_eval_loss": self.best_eval_loss,
            "train_loss": self.train_loss,
            "tokens_per_second": self.tokens_per_second,
            "error": self.error,
            "cancel_requested": self.cancel_requested,
            "checkpoint": self.checkpoint,
            "version": self.version,
            "notes": self.notes,
            "in_queue": self.in_queue,
            "requested_gpus": self.gpus,
            "devices": self.devices,
            "sweep_id": self.sweep_id,
            "config": self.config,
        }


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One logging step of a run. Any measurement may be missing (None)."""

    id: int
    run_id: int
    step: int
    epoch: float | None
    loss: float | None
    eval_loss: float | None
    learning_rate: float | None
    grad_norm: float | None
    tokens_per_second: float | None
    gpu_memory_gb: float | None
    cpu_memory_gb: float | None
    time: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "step": self.step,
            "epoch": self.epoch,
            "loss": self.loss,
            "eval_loss": self.eval_loss,
            "learning_rate": self.learning_rate,
            "grad_norm": self.grad_norm,
            "tokens_per_second": self.tokens_per_second,
            "gpu_memory_gb": self.gpu_memory_gb,
            "cpu_memory_gb": self.cpu_memory_gb,
            "time": self.time.isoformat(),
        }


# The keys `Store.add_metric_points` accepts: every MetricPoint field the writer chooses.
METRIC_FIELDS: tuple[str, ...] = (
    "step",
    "epoch",
    "loss",
    "eval_loss",
    "learning_rate",
    "grad_norm",
    "tokens_per_second",
    "gpu_memory_gb",
    "cpu_memory_gb",
    "time",
)


@dataclass(frozen=True, slots=True)
class Event:
    """A line in a run's story: status changes, warnings, errors."""

    id: int
    run_id: int
    time: datetime
    level: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "time": self.time.isoformat(),
            "level": self.level,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Scores of the base or the fine-tuned model on held-out samples."""

    id: int
    run_id: int
    label: str
    metrics: dict[str, Any]
    sample_count: int
    settings: dict[str, Any]
    samples: list[dict[str, Any]]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "label": self.label,
            "metrics": self.metrics,
            "sample_count": self.sample_count,
            "settings": self.settings,
            "samples": self.samples,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Artifact:
    """Something a run produced: an adapter folder, a checkpoint, a merged model, an upload URL."""

    id: int
    run_id: int
    kind: str
    path: str
    meta: dict[str, Any]
    created_at: datetime
    # Its file or folder is no longer there (a checkpoint `save_total_limit` rotated away, a
    # folder deleted by hand); looked at when the store lists a run's artifacts.
    gone: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "kind": self.kind,
            "path": self.path,
            "meta": self.meta,
            "created_at": self.created_at.isoformat(),
            "gone": self.gone,
        }
