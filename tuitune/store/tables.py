"""The peewee models of the store. Only `tuitune.store` touches them; the faces get records.

The tables are created by the frozen SQL of migration v1 and changed only by later migrations
(`migrations.py`), never by `create_tables`, so an old store upgrades in place. A test checks
that these models and the migrated schema agree column for column.

Times are unix seconds (REAL, UTC); JSON columns are TEXT.
"""

from __future__ import annotations

from peewee import (
    BooleanField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)
from playhouse.sqlite_ext import AutoIncrementField

from tuitune.store.db import database


class BaseRow(Model):
    class Meta:
        database = database


class RunRow(BaseRow):
    # AUTOINCREMENT: the id of a deleted run is never given to another, so `tuitune show 12`
    # cannot silently show a different run than the one a script remembered.
    id = AutoIncrementField()
    name = TextField()
    status = TextField()
    method = TextField(default="")
    model = TextField(default="")
    dataset = TextField(default="")
    config = TextField(default="{}")
    output_dir = TextField(null=True)
    pid = IntegerField(null=True)
    host = TextField(null=True)
    created_at = FloatField()
    started_at = FloatField(null=True)
    finished_at = FloatField(null=True)
    heartbeat_at = FloatField(null=True)
    steps_done = IntegerField(default=0)
    steps_total = IntegerField(null=True)
    epoch = FloatField(null=True)
    last_loss = FloatField(null=True)
    last_eval_loss = FloatField(null=True)
    best_eval_loss = FloatField(null=True)
    train_loss = FloatField(null=True)
    tokens_per_second = FloatField(null=True)
    error = TextField(null=True)
    cancel_requested = BooleanField(default=False)
    checkpoint = TextField(null=True)
    version = TextField(null=True)
    notes = TextField(null=True)  # added by migration v2
    # Added by migration v3: the run's place in the queue (set only while it waits there), the
    # GPUs it asked for and the ones it was given ("0,1"), and the sweep it belongs to.
    queue_position = FloatField(null=True)
    gpus = TextField(null=True)
    devices = TextField(null=True)
    sweep_id = IntegerField(null=True)
    # Added by migration v8: a person's tags (a JSON list) and where the run came from (a JSON
    # object: the data's fingerprint, the model's revision, the versions, the git commit).
    tags = TextField(null=True)
    lineage = TextField(null=True)
    # Added by migration v9: the SLURM job a run is (JSON: job id, state, reason, nodes, how much of
    # its journal is folded in); null for a run trained on this machine.
    slurm = TextField(null=True)

    class Meta:
        table_name = "runs"


class MetricPointRow(BaseRow):
    # AUTOINCREMENT here matters for polling: after `delete_metric_points_after` (resume), new
    # points still get ids above every id a face has already seen.
    id = AutoIncrementField()
    run = ForeignKeyField(RunRow, on_delete="CASCADE", index=False, column_name="run_id")
    step = IntegerField()
    epoch = FloatField(null=True)
    loss = FloatField(null=True)
    eval_loss = FloatField(null=True)
    learning_rate = FloatField(null=True)
    grad_norm = FloatField(null=True)
    tokens_per_second = FloatField(null=True)
    gpu_memory_gb = FloatField(null=True)
    cpu_memory_gb = FloatField(null=True)
    time = FloatField()
    # Added by migration v7: every other metric the trainer logged, {name: value} as JSON (None:
    # none, as on points from before it).
    extra = TextField(null=True)

    class Meta:
        table_name = "metric_points"


class EventRow(BaseRow):
    id = AutoIncrementField()
    run = ForeignKeyField(RunRow, on_delete="CASCADE", index=False, column_name="run_id")
    time = FloatField()
    level = TextField(default="info")
    message = TextField()

    class Meta:
        table_name = "events"


class EvaluationRow(BaseRow):
    id = AutoIncrementField()
    run = ForeignKeyField(RunRow, on_delete="CASCADE", index=False, column_name="run_id")
    label = TextField()
    metrics = TextField(default="{}")
    sample_count = IntegerField(default=0)
    settings = TextField(default="{}")
    samples = TextField(default="[]")
    created_at = FloatField()

    class Meta:
        table_name = "evaluations"


class ArtifactRow(BaseRow):
    id = AutoIncrementField()
    run = ForeignKeyField(RunRow, on_delete="CASCADE", index=False, column_name="run_id")
    kind = TextField()
    path = TextField()
    meta = TextField(default="{}")
    created_at = FloatField()

    class Meta:
        table_name = "artifacts"


class SweepRow(BaseRow):
    """A grid of settings queued as runs (added by migration v3)."""

    id = AutoIncrementField()
    name = TextField()
    base_config = TextField(default="{}")
    grid = TextField(default="{}")
    created_at = FloatField()

    class Meta:
        table_name = "sweeps"


class SettingRow(BaseRow):
    """Store-wide settings such as the queue's slots and whether it is paused (migration v3)."""

    key = TextField(primary_key=True)
    value = TextField()

    class Meta:
        table_name = "settings"


class RunProcessRow(BaseRow):
    """A process of a run's group: its rank, where it runs, and its last heartbeat (migration v4)."""

    id = AutoIncrementField()
    run = ForeignKeyField(RunRow, on_delete="CASCADE", index=False, column_name="run_id")
    rank = IntegerField()
    pid = IntegerField()
    host = TextField()
    device = TextField(null=True)
    step = IntegerField(default=0)
    gpu_memory_gb = FloatField(null=True)
    cpu_memory_gb = FloatField(null=True)
    heartbeat_at = FloatField()
    ended = TextField(null=True)  # how the rank left on its own (migration v6); None: running or killed

    class Meta:
        table_name = "run_processes"


class ConversationRow(BaseRow):
    """A chat with a run's model (migration v5); `turns` is JSON."""

    id = AutoIncrementField()
    run = ForeignKeyField(RunRow, on_delete="CASCADE", index=False, column_name="run_id")
    title = TextField(default="")
    settings = TextField(default="{}")
    turns = TextField(default="[]")
    created_at = FloatField()
    updated_at = FloatField()

    class Meta:
        table_name = "conversations"


MODELS: tuple[type[BaseRow], ...] = (
    RunRow,
    MetricPointRow,
    EventRow,
    EvaluationRow,
    ArtifactRow,
    SweepRow,
    SettingRow,
    RunProcessRow,
    ConversationRow,
)
