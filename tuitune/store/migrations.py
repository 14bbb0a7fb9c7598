"""Schema versions of the store. `PRAGMA user_version` says which migrations a file has had.

Rules for a new version:
- append a function to `MIGRATIONS`; never edit one that has shipped (v1 is frozen SQL on purpose:
  building it from the current models would make old files and new files differ);
- keep the models in `tables.py` in step (a test compares them with the migrated schema);
- prefer additive changes (`migrator.add_column` with `null=True` or a default). Operations that
  rebuild a table (drop/rename/alter column on SQLite) need `PRAGMA foreign_keys=OFF` around the
  transaction, or the rebuild cascades deletes into child tables.

All pending migrations run in one `BEGIN IMMEDIATE` transaction: two processes opening an old
store at the same moment cannot both upgrade it, and a failed upgrade leaves it untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from peewee import FloatField, IntegerField, SqliteDatabase, TextField
from playhouse.migrate import SqliteMigrator, migrate

from tuitune.errors import StoreError

_V1_SCHEMA = (
    """CREATE TABLE runs (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        method TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        dataset TEXT NOT NULL DEFAULT '',
        config TEXT NOT NULL DEFAULT '{}',
        output_dir TEXT,
        pid INTEGER,
        host TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        heartbeat_at REAL,
        steps_done INTEGER NOT NULL DEFAULT 0,
        steps_total INTEGER,
        epoch REAL,
        last_loss REAL,
        last_eval_loss REAL,
        best_eval_loss REAL,
        train_loss REAL,
        tokens_per_second REAL,
        error TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        checkpoint TEXT,
        version TEXT
    )""",
    "CREATE INDEX runs_status ON runs (status)",
    "CREATE INDEX runs_name ON runs (name)",
    "CREATE INDEX runs_created_at ON runs (created_at)",
    """CREATE TABLE metric_points (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        epoch REAL,
        loss REAL,
        eval_loss REAL,
        learning_rate REAL,
        grad_norm REAL,
        tokens_per_second REAL,
        gpu_memory_gb REAL,
        cpu_memory_gb REAL,
        time REAL NOT NULL
    )""",
    # (run_id, id): "points of run 7 after id 1234" is one index range scan.
    "CREATE INDEX metric_points_run_id ON metric_points (run_id, id)",
    """CREATE TABLE events (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        time REAL NOT NULL,
        level TEXT NOT NULL DEFAULT 'info',
        message TEXT NOT NULL
    )""",
    "CREATE INDEX events_run_id ON events (run_id, id)",
    """CREATE TABLE evaluations (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        metrics TEXT NOT NULL DEFAULT '{}',
        sample_count INTEGER NOT NULL DEFAULT 0,
        settings TEXT NOT NULL DEFAULT '{}',
        samples TEXT NOT NULL DEFAULT '[]',
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX evaluations_run_id ON evaluations (run_id, id)",
    "CREATE INDEX evaluations_label ON evaluations (label, run_id, id)",
    """CREATE TABLE artifacts (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    )""",
    # Unique: recording the same adapter folder twice updates it instead of listing it twice.
    "CREATE UNIQUE INDEX artifacts_run_kind_path ON artifacts (run_id, kind, path)",
)


def v1_create_tables(db: SqliteDatabase) -> None:
    """The first schema: runs, metric points, events, evaluations, artifacts."""
    for statement in _V1_SCHEMA:
        db.execute_sql(statement)


def v2_add_run_notes(db: SqliteDatabase) -> None:
    """A free-text note a person can attach to a run (shown in history and `show`)."""
    migrator = SqliteMigrator(db)
    migrate(migrator.add_column("runs", "notes", TextField(null=True)))


def v3_queue_and_sweeps(db: SqliteDatabase) -> None:
    """The run queue (a place in line, requested and given GPUs), sweeps, and store-wide settings."""
    migrator = SqliteMigrator(db)
    migrate(
        migrator.add_column("runs", "queue_position", FloatField(null=True)),
        migrator.add_column("runs", "gpus", TextField(null=True)),
        migrator.add_column("runs", "devices", TextField(null=True)),
        migrator.add_column("runs", "sweep_id", IntegerField(null=True)),
    )
    db.execute_sql("CREATE INDEX runs_queue_position ON runs (queue_position)")
    db.execute_sql("CREATE INDEX runs_sweep_id ON runs (sweep_id)")
    db.execute_sql(
        """CREATE TABLE sweeps (
            id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            base_config TEXT NOT NULL DEFAULT '{}',
            grid TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL
        )"""
    )
    db.execute_sql("CREATE TABLE settings (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)")


def v4_run_processes(db: SqliteDatabase) -> None:
    """One row per process of a run's group (rank, pid, host, device, memory, last heartbeat)."""
    db.execute_sql(
        """CREATE TABLE run_processes (
            id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            rank INTEGER NOT NULL,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            device TEXT,
            step INTEGER NOT NULL DEFAULT 0,
            gpu_memory_gb REAL,
            cpu_memory_gb REAL,
            heartbeat_at REAL NOT NULL
        )"""
    )
    db.execute_sql("CREATE UNIQUE INDEX run_processes_run_rank ON run_processes (run_id, rank)")


def v5_conversations(db: SqliteDatabase) -> None:
    """Chats with a run's model: the settings and every turn (prompt, each pane's answer, timings)."""
    db.execute_sql(
        """CREATE TABLE conversations (
            id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            title TEXT NOT NULL DEFAULT '',
            settings TEXT NOT NULL DEFAULT '{}',
            turns TEXT NOT NULL DEFAULT '[]',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute_sql("CREATE INDEX conversations_run_id ON conversations (run_id, id)")


def v6_rank_endings(db: SqliteDatabase) -> None:
    """How a rank of a group left on its own (completed, cancelled, failed): a rank gone without
    one was killed, which is how the supervisor names the rank that brought the group down."""
    migrator = SqliteMigrator(db)
    migrate(migrator.add_column("run_processes", "ended", TextField(null=True)))


def v7_logged_metrics(db: SqliteDatabase) -> None:
    """Every other number the trainer logs at a step (a preference run's rewards, GRPO's reward
    spread, completion lengths…), as JSON beside the fixed columns; older points have none."""
    migrator = SqliteMigrator(db)
    migrate(migrator.add_column("metric_points", "extra", TextField(null=True)))


def v8_tags_and_lineage(db: SqliteDatabase) -> None:
    """A run's tags (JSON list) beside its note, and its lineage (JSON: what data, model revision,
    versions and git commit it trained with), so compare can say what differs and rerun can warn."""
    migrator = SqliteMigrator(db)
    migrate(
        migrator.add_column("runs", "tags", TextField(null=True)),
        migrator.add_column("runs", "lineage", TextField(null=True)),
    )


def v9_slurm_jobs(db: SqliteDatabase) -> None:
    """The SLURM job a run is (job id, state, reason, nodes, journal offset), as JSON; null for a
    run trained on this machine."""
    migrator = SqliteMigrator(db)
    migrate(migrator.add_column("runs", "slurm", TextField(null=True)))


MIGRATIONS: list[Callable[[SqliteDatabase], None]] = [
    v1_create_tables,
    v2_add_run_notes,
    v3_queue_and_sweeps,
    v4_run_processes,
    v5_conversations,
    v6_rank_endings,
    v7_logged_metrics,
    v8_tags_and_lineage,
    v9_slurm_jobs,
]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: SqliteDatabase) -> int:
    return int(db.execute_sql("PRAGMA user_version").fetchone()[0])


def upgrade(db: SqliteDatabase, location: str) -> int:
    """Bring the store at `db` to `SCHEMA_VERSION`; returns the version it had before."""
    before = schema_version(db)
    if before == SCHEMA_VERSION:
        return before  # the common case: no write lock taken at all
    _refuse_newer(before, location)
    with db.atomic("IMMEDIATE"):
        # Re-read under the write lock: another process may have upgraded meanwhile.
        before = schema_version(db)
        _refuse_newer(before, location)
        for step in MIGRATIONS[before:]:
            step(db)
        # PRAGMA does not take parameters; the value is our own integer.
        db.execute_sql(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
    return before


def _refuse_newer(version: int, location: str) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"The run store {location} has schema version {version}, newer than this tuitune "
            f"understands ({SCHEMA_VERSION}). Upgrade tuitune (pip install -U tuitune) or point "
            "TUITUNE_HOME at another folder."
        )
