"""A store written by an older tuitune opens in this one with nothing lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tuitune.errors import StoreError
from tuitune.store import COMPLETED, RUNNING, open_store
from tuitune.store.db import database
from tuitune.store.migrations import SCHEMA_VERSION
from tuitune.store.tables import MODELS

# The schema as tuitune 0.1.0 shipped it (store version 1), written out here on purpose: the test
# must keep describing the old file even if the migration code changes.
V1_SCHEMA = """
CREATE TABLE runs (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, status TEXT NOT NULL,
    method TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '', dataset TEXT NOT NULL DEFAULT '',
    config TEXT NOT NULL DEFAULT '{}', output_dir TEXT, pid INTEGER, host TEXT,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL, heartbeat_at REAL,
    steps_done INTEGER NOT NULL DEFAULT 0, steps_total INTEGER, epoch REAL, last_loss REAL,
    last_eval_loss REAL, best_eval_loss REAL, train_loss REAL, tokens_per_second REAL, error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0, checkpoint TEXT, version TEXT);
CREATE INDEX runs_status ON runs (status);
CREATE INDEX runs_name ON runs (name);
CREATE INDEX runs_created_at ON runs (created_at);
CREATE TABLE metric_points (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE, step INTEGER NOT NULL,
    epoch REAL, loss REAL, eval_loss REAL, learning_rate REAL, grad_norm REAL,
    tokens_per_second REAL, gpu_memory_gb REAL, cpu_memory_gb REAL, time REAL NOT NULL);
CREATE INDEX metric_points_run_id ON metric_points (run_id, id);
CREATE TABLE events (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE, time REAL NOT NULL,
    level TEXT NOT NULL DEFAULT 'info', message TEXT NOT NULL);
CREATE INDEX events_run_id ON events (run_id, id);
CREATE TABLE evaluations (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE, label TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}', sample_count INTEGER NOT NULL DEFAULT 0,
    settings TEXT NOT NULL DEFAULT '{}', samples TEXT NOT NULL DEFAULT '[]', created_at REAL NOT NULL);
CREATE INDEX evaluations_run_id ON evaluations (run_id, id);
CREATE INDEX evaluations_label ON evaluations (label, run_id, id);
CREATE TABLE artifacts (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE, kind TEXT NOT NULL,
    path TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL);
CREATE UNIQUE INDEX artifacts_run_kind_path ON artifacts (run_id, kind, path);
PRAGMA user_version = 1;
"""

OLD_RUNS = """
INSERT INTO runs (name, status, method, model, dataset, config, output_dir, pid, host, created_at,
                  started_at, finished_at, steps_done, steps_total, train_loss, checkpoint, version)
VALUES ('old-demo', 'completed', 'lora', 'tuitune/demo', 'tuitune/sample', '{"method": "lora"}',
        '/runs/1-old-demo', 321, 'gpu-box', 1700000000.0, 1700000001.0, 1700000061.5, 20, 20,
        1.25, '/runs/1-old-demo/checkpoints/checkpoint-20', '0.1.0');
INSERT INTO runs (name, status, created_at) VALUES ('old-running', 'running', 1700000100.0);
INSERT INTO metric_points (run_id, step, loss, learning_rate, time) VALUES
    (1, 10, 2.0, 0.0001, 1700000030.0), (1, 20, 1.5, 0.00005, 1700000060.0);
INSERT INTO events (run_id, time, level, message) VALUES (1, 1700000000.0, 'info', 'Created');
INSERT INTO evaluations (run_id, label, metrics, sample_count, settings, samples, created_at)
    VALUES (1, 'finetuned', '{"rougeL": 0.42}', 3, '{}', '[{"output": "hi"}]', 1700000070.0);
INSERT INTO artifacts (run_id, kind, path, meta, created_at)
    VALUES (1, 'adapter', '/runs/1-old-demo/adapter', '{}', 1700000062.0);
"""


def write_v1_store(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.executescript(V1_SCHEMA + OLD_RUNS)
    connection.commit()
    connection.close()


def test_a_version_1_store_upgrades_with_nothing_lost(tuitune_home: Path) -> None:
    write_v1_store(tuitune_home / "tuitune.db")

    store = open_store()

    assert database.execute_sql("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    old = store.find_run("old-demo")
    assert (old.id, old.status, old.method, old.pid, old.host) == (1, COMPLETED, "lora", 321, "gpu-box")
    assert old.config == {"method": "lora"} and old.train_loss == 1.25
    assert old.duration_seconds == 60.5 and old.steps_done == 20
    assert old.checkpoint == "/runs/1-old-demo/checkpoints/checkpoint-20"
    assert old.notes is None  # the column v2 added
    assert [(p.step, p.loss) for p in store.metric_points(1)] == [(10, 2.0), (20, 1.5)]
    assert [e.message for e in store.events(1)] == ["Created"]
    assert store.latest_scores() == {1: 0.42}
    assert store.evaluations(1)[0].samples == [{"output": "hi"}]
    assert [a.kind for a in store.artifacts(1)] == ["adapter"]
    assert store.find_run("last").name == "old-running"

    # The upgraded store works like a new one.
    store.update_run(old.id, notes="the first good adapter")
    store.set_status(2, RUNNING)
    assert store.get_run(old.id).notes == "the first good adapter"
    assert store.create_run(name="old-demo", config={}, model="m", method="lora", dataset="d").name == "old-demo-2"
    store.delete_run(old.id)
    assert store.metric_points(1) == []


def test_the_migrated_schema_matches_the_models(tuitune_home: Path) -> None:
    open_store()  # a fresh store, built by running every migration
    for model in MODELS:
        table = model._meta.table_name
        columns = {c.name: c for c in database.get_columns(table)}
        fields = {f.column_name: f for f in model._meta.sorted_fields}
        assert set(columns) == set(fields), table
        for name, field in fields.items():
            assert columns[name].null == (field.null and not field.primary_key), f"{table}.{name}"


def test_a_store_from_a_newer_tuitune_is_refused_untouched(tuitune_home: Path) -> None:
    path = tuitune_home / "tuitune.db"
    connection = sqlite3.connect(path)
    connection.executescript("CREATE TABLE future (x); PRAGMA user_version = 99;")
    connection.close()

    with pytest.raises(StoreError, match="newer than this tuitune.*Upgrade tuitune"):
        open_store()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == 99
    connection.close()


def test_a_store_from_before_logged_metrics_keeps_its_points_and_new_ones_keep_every_metric(tuitune_home: Path) -> None:
    write_v1_store(tuitune_home / "tuitune.db")  # upgraded through every version, v7 (`extra`) last

    store = open_store()

    assert [(p.step, p.loss, p.extra) for p in store.metric_points(1)] == [(10, 2.0, {}), (20, 1.5, {})]
    assert store.latest_extra(1) == {}
    logged = {"rewards/margins": 0.25, "rewards/accuracies": 1.0, "kl": float("inf")}
    store.add_metric_points(1, [{"step": 30, "loss": 1.2, "extra": logged}])
    store.add_metric_points(1, [{"step": 30, "eval_loss": 1.3, "extra": {"eval_rewards/margins": 0.2}}])
    newest = store.metric_points(1)[-2]
    # Not a finite number: kept as missing, so every face's JSON stays JSON.
    assert newest.extra == {"rewards/margins": 0.25, "rewards/accuracies": 1.0, "kl": None}
    assert store.latest_extra(1) == {
        "eval_rewards/margins": 0.2,
        "kl": None,
        "rewards/accuracies": 1.0,
        "rewards/margins": 0.25,
    }
