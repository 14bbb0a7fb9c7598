"""What the store hands to the faces: plain dataclasses, never peewee rows.

Records are snapshots: they do not change when the database does, and reading one never touches
the database again. Datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
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
    "gguf",  # an exported GGUF file (`tuitune export`), its round trip in meta
    "modelfile",  # the Ollama Modelfile beside it
    "vllm-script",  # the script that serves the run with vLLM
    "tracker",  # where a tracker of training.report_to keeps the run's data (a folder or a URL); meta names it
)


# A record field's metadata key for the table column it is read from, when its name is not the
# column's (None: a field the store works out rather than stores). See `tuitune.store.rows`.
COLUMN = "column"


def json_ready(record: Any) -> dict[str, Any]:
    """A record's fields as a JSON-ready dict (datetimes in ISO 8601). The faces print the
    documents of `tuitune.runs.documents` instead, which say what each field means."""
    values: dict[str, Any] = {}
    for item in fields(record):
        value = getattr(record, item.name)
        values[item.name] = value.isoformat() if isinstance(value, datetime) else value
    return values


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
    tags: list[str] = field(default_factory=list)  # a person's labels, in the order given
    # The config as stored (JSON text, the `config` column). Parsed on first use of `config`, so
    # listing thousands of runs for the history table does not pay for parsing configs nobody
    # looks at.
    config_json: str = field(default="{}", repr=False, compare=False, metadata={COLUMN: "config"})
    # Where the run came from (`tuitune.runs.lineage`), JSON text parsed on first use like the config.
    lineage_json: str | None = field(default=None, repr=False, compare=False, metadata={COLUMN: "lineage"})
    # The SLURM job it is (`tuitune.runs.cluster`), JSON text; None for a run trained on this machine.
    slurm_json: str | None = field(default=None, repr=False, compare=False, metadata={COLUMN: "slurm"})

    @cached_property
    def config(self) -> dict[str, Any]:
        """The run's configuration (what `RunConfig.to_dict()` produced)."""
        return json.loads(self.config_json) if self.config_json else {}

    @cached_property
    def lineage(self) -> dict[str, Any]:
        """The data's fingerprint, the model's revision, the versions and the git commit it trained with
        ({} for a run from before tuitune recorded them)."""
        return json.loads(self.lineage_json) if self.lineage_json else {}

    @cached_property
    def slurm(self) -> dict[str, Any]:
        """The SLURM job the run is: its id, state and reason, nodes, exit code ({} for a run
        trained on this machine)."""
        return json.loads(self.slurm_json) if self.slurm_json else {}

    @property
    def on_slurm(self) -> bool:
        """Trained as a SLURM job (backend slurm), not by a worker on this machine."""
        return self.slurm_json is not None

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
        """Its fields, JSON-ready, with the config parsed (`tuitune.runs.documents.RunDocument` is
        what the faces print)."""
        values = json_ready(self)
        values["config"] = self.config
        values["lineage"] = self.lineage
        values["slurm"] = self.slurm or None
        del values["config_json"], values["lineage_json"], values["slurm_json"]
        return values


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One logging step of a run. Any measurement may be missing (None).

    `extra` holds every other number the trainer logged at that step, under the trainer's own
    names (`rewards/margins`, `eval_rewards/accuracies`, `frac_reward_zero_std`…; which of them
    matter for an objective is declared in `tuitune.runs.metrics`). A value that was not a finite
    number (NaN, inf) is kept as None, like the columns' NaN: the store holds only what JSON can.
    """

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
    extra: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


# The keys `Store.add_metric_points` accepts: every MetricPoint field the writer chooses.
METRIC_FIELDS: tuple[str, ...] = tuple(item.name for item in fields(MetricPoint) if item.name not in ("id", "run_id"))


@dataclass(frozen=True, slots=True)
class Event:
    """A line in a run's story: status changes, warnings, errors."""

    id: int
    run_id: int
    time: datetime
    level: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


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
        return json_ready(self)


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
    # folder deleted by hand); looked at when the store lists a run's artifacts, never stored.
    gone: bool = field(default=False, metadata={COLUMN: None})

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)
