"""The run store: one SQLite file that every face and every training worker shares.

    from tuitune.store import open_store, RUNNING
    store = open_store()                      # $TUITUNE_HOME/tuitune.db
    run = store.create_run(name="demo", config={}, model="tuitune/demo", method="lora",
                           dataset="tuitune/sample")
    store.set_status(run.id, RUNNING)

Imports peewee only (no torch): the TUI and CLI start fast.
"""

from __future__ import annotations

from tuitune.store.records import (
    ARTIFACT_KINDS,
    BASE,
    EVALUATION_LABELS,
    FINETUNED,
    METRIC_FIELDS,
    Artifact,
    Evaluation,
    Event,
    MetricPoint,
    Run,
)
from tuitune.store.repository import Store, open_store
from tuitune.store.status import (
    ACTIVE,
    ALL,
    CANCELLED,
    COMPLETED,
    CRASHED,
    FAILED,
    FINISHED,
    QUEUED,
    RESUMABLE,
    RUNNING,
)

__all__ = [
    "ACTIVE",
    "ALL",
    "ARTIFACT_KINDS",
    "BASE",
    "CANCELLED",
    "COMPLETED",
    "CRASHED",
    "EVALUATION_LABELS",
    "FAILED",
    "FINETUNED",
    "FINISHED",
    "METRIC_FIELDS",
    "QUEUED",
    "RESUMABLE",
    "RUNNING",
    "Artifact",
    "Evaluation",
    "Event",
    "MetricPoint",
    "Run",
    "Store",
    "open_store",
]
