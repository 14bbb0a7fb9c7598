"""Rows (tuples straight from SQLite) into records, and values into columns.

Selecting named columns as tuples instead of peewee model instances is what keeps listing ten
thousand runs fast; the column lists below and the record constructors must stay in step.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tuitune.store.clock import moment, to_datetime
from tuitune.store.records import Artifact, Evaluation, Event, MetricPoint, Run
from tuitune.store.tables import ArtifactRow, EvaluationRow, EventRow, MetricPointRow, RunRow

RUN_COLUMNS = (
    RunRow.id,
    RunRow.name,
    RunRow.status,
    RunRow.method,
    RunRow.model,
    RunRow.dataset,
    RunRow.output_dir,
    RunRow.pid,
    RunRow.host,
    RunRow.created_at,
    RunRow.started_at,
    RunRow.finished_at,
    RunRow.heartbeat_at,
    RunRow.steps_done,
    RunRow.steps_total,
    RunRow.epoch,
    RunRow.last_loss,
    RunRow.last_eval_loss,
    RunRow.best_eval_loss,
    RunRow.train_loss,
    RunRow.tokens_per_second,
    RunRow.error,
    RunRow.cancel_requested,
    RunRow.checkpoint,
    RunRow.version,
    RunRow.notes,
    RunRow.queue_position,
    RunRow.gpus,
    RunRow.devices,
    RunRow.sweep_id,
    RunRow.config,
)


def run_record(row: tuple[Any, ...]) -> Run:
    (
        id_, name, status, method, model, dataset, output_dir, pid, host,
        created_at, started_at, finished_at, heartbeat_at,
        steps_done, steps_total, epoch, last_loss, last_eval_loss, best_eval_loss, train_loss,
        tokens_per_second, error, cancel_requested, checkpoint, version, notes,
        queue_position, gpus, devices, sweep_id, config,
    ) = row  # fmt: skip
    return Run(
        id=id_,
        name=name,
        status=status,
        method=method,
        model=model,
        dataset=dataset,
        output_dir=output_dir,
        pid=pid,
        host=host,
        created_at=moment(created_at),
        started_at=to_datetime(started_at),
        finished_at=to_datetime(finished_at),
        heartbeat_at=to_datetime(heartbeat_at),
        steps_done=steps_done or 0,
        steps_total=steps_total,
        epoch=epoch,
        last_loss=last_loss,
        last_eval_loss=last_eval_loss,
        best_eval_loss=best_eval_loss,
        train_loss=train_loss,
        tokens_per_second=tokens_per_second,
        error=error,
        cancel_requested=bool(cancel_requested),
        checkpoint=checkpoint,
        version=version,
        notes=notes,
        queue_position=queue_position,
        gpus=gpus,
        devices=devices,
        sweep_id=sweep_id,
        config_json=config or "{}",
    )


METRIC_COLUMNS = (
    MetricPointRow.id,
    MetricPointRow.run,
    MetricPointRow.step,
    MetricPointRow.epoch,
    MetricPointRow.loss,
    MetricPointRow.eval_loss,
    MetricPointRow.learning_rate,
    MetricPointRow.grad_norm,
    MetricPointRow.tokens_per_second,
    MetricPointRow.gpu_memory_gb,
    MetricPointRow.cpu_memory_gb,
    MetricPointRow.time,
)


def metric_record(row: tuple[Any, ...]) -> MetricPoint:
    names = [field.name for field in dataclasses.fields(MetricPoint)]
    values: dict[str, Any] = dict(zip(names, row, strict=True))
    values["time"] = moment(row[-1])
    return MetricPoint(**values)


EVENT_COLUMNS = (EventRow.id, EventRow.run, EventRow.time, EventRow.level, EventRow.message)


def event_record(row: tuple[Any, ...]) -> Event:
    id_, run_id, time, level, message = row
    return Event(id=id_, run_id=run_id, time=moment(time), level=level, message=message)


EVALUATION_COLUMNS = (
    EvaluationRow.id,
    EvaluationRow.run,
    EvaluationRow.label,
    EvaluationRow.metrics,
    EvaluationRow.sample_count,
    EvaluationRow.settings,
    EvaluationRow.samples,
    EvaluationRow.created_at,
)


def evaluation_record(row: tuple[Any, ...]) -> Evaluation:
    id_, run_id, label, metrics, sample_count, settings, samples, created_at = row
    return Evaluation(
        id=id_,
        run_id=run_id,
        label=label,
        metrics=from_json(metrics, {}),
        sample_count=sample_count or 0,
        settings=from_json(settings, {}),
        samples=from_json(samples, []),
        created_at=moment(created_at),
    )


ARTIFACT_COLUMNS = (
    ArtifactRow.id,
    ArtifactRow.run,
    ArtifactRow.kind,
    ArtifactRow.path,
    ArtifactRow.meta,
    ArtifactRow.created_at,
)


def artifact_record(row: tuple[Any, ...]) -> Artifact:
    id_, run_id, kind, path, meta, created_at = row
    return Artifact(
        id=id_,
        run_id=run_id,
        kind=kind,
        path=path,
        meta=from_json(meta, {}),
        created_at=moment(created_at),
    )


def to_json(value: Any) -> str:
    # default=str: a Path or datetime inside a config or meta dict is stored as its text rather
    # than failing the whole write.
    return json.dumps(value, ensure_ascii=False, default=str)


def from_json(text: str | None, empty: Any) -> Any:
    if not text:
        return empty
    return json.loads(text)
