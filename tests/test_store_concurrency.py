"""Several processes share the store: training workers write while faces read.

These are the situations the product lives in (two runs training, a TUI and a CLI watching), run
with real processes on a real file.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tuitune.store import COMPLETED, QUEUED, RUNNING, open_store
from tuitune.store.clock import now
from tuitune.store.db import database
from tuitune.store.tables import RunRow

POINTS = 300

WRITER = textwrap.dedent(
    """
    import sys
    from tuitune.store import open_store, RUNNING, COMPLETED

    store = open_store(sys.argv[1])
    run_id, points = int(sys.argv[2]), int(sys.argv[3])
    store.set_status(run_id, RUNNING)
    # Every worker also creates a run with the same name at the same time.
    store.create_run(name="same", config={}, model="m", method="lora", dataset="d")
    for step in range(points):
        store.add_metric_points(run_id, [{"step": step, "loss": 1.0 / (step + 1)}])
        if step % 5 == 0:
            store.heartbeat(run_id, steps_done=step, steps_total=points)
        if step % 50 == 0:
            store.add_event(run_id, f"step {step}")
    store.set_status(run_id, COMPLETED)
    """
)

READER = textwrap.dedent(
    """
    import json, sys, time
    from tuitune.store import open_store

    store = open_store(sys.argv[1])
    run_ids = [int(x) for x in sys.argv[2].split(",")]
    expected = int(sys.argv[3])
    seen = {run_id: [] for run_id in run_ids}
    last = {run_id: 0 for run_id in run_ids}
    polls = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        polls += 1
        for run_id in run_ids:
            for point in store.metric_points(run_id, after_id=last[run_id]):
                seen[run_id].append([point.id, point.step])
                last[run_id] = point.id
            store.events(run_id)
        store.list_runs()
        if all(len(points) >= expected for points in seen.values()):
            break
        time.sleep(0.005)
    print(json.dumps({"polls": polls, "seen": seen}))
    """
)


@pytest.mark.integration
def test_two_workers_a_third_and_a_reader_lose_nothing_and_never_lock(tuitune_home: Path, tmp_path: Path) -> None:
    store = open_store()
    run_ids = [
        store.create_run(name=f"worker{i}", config={}, model="m", method="lora", dataset="d").id for i in range(3)
    ]
    (tmp_path / "writer.py").write_text(WRITER)
    (tmp_path / "reader.py").write_text(READER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    db = str(store.path)

    reader = subprocess.Popen(
        [sys.executable, str(tmp_path / "reader.py"), db, ",".join(map(str, run_ids)), str(POINTS)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    writers = [
        subprocess.Popen(
            [sys.executable, str(tmp_path / "writer.py"), db, str(run_id), str(POINTS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for run_id in run_ids
    ]
    # This process reads too, like a TUI beside the CLI.
    while any(w.poll() is None for w in writers):
        store.active_runs()
        store.list_runs()
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        assert "locked" not in err
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    seen = {int(k): v for k, v in json.loads(out)["seen"].items()}

    for run_id in run_ids:
        ids = [point_id for point_id, _ in seen[run_id]]
        assert ids == sorted(set(ids)), "the reader's ids must be strictly increasing"
        assert [step for _, step in seen[run_id]] == list(range(POINTS))
        assert [p.step for p in store.metric_points(run_id)] == list(range(POINTS))
        run = store.get_run(run_id)
        assert run.status == COMPLETED and run.steps_done == POINTS - 1  # the last logged step
        assert run.last_loss == pytest.approx(1.0 / POINTS)
        assert len(store.events(run_id)) == 1 + 1 + POINTS // 50 + 1  # created, running, steps, done
    same = sorted(r.name for r in store.list_runs() if r.name.startswith("same"))
    assert same == ["same", "same-2", "same-3"]


def _child_writes(path: str, run_id: int, queue: multiprocessing.Queue) -> None:
    try:
        inherited_closed = database.is_closed()
        store = open_store(path)
        store.add_metric_points(run_id, [{"step": step, "loss": 1.0} for step in range(50)])
        store.set_status(run_id, COMPLETED)
        queue.put(("ok", inherited_closed))
    except BaseException as exc:  # reported to the parent, which fails the test
        queue.put(("error", repr(exc)))


@pytest.mark.integration
@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")
def test_a_forked_child_opens_its_own_connection(tuitune_home: Path) -> None:
    store = open_store()
    run_id = store.create_run(name="forked", config={}, model="m", method="lora", dataset="d").id
    store.set_status(run_id, RUNNING)  # the parent holds an open connection when it forks
    assert not database.is_closed()

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_writes, args=(str(store.path), run_id, queue))
    child.start()
    for step in range(50):  # the parent keeps writing while the child does
        store.add_event(run_id, f"parent {step}")
    outcome, detail = queue.get(timeout=60)
    child.join(timeout=60)

    assert outcome == "ok", detail
    assert detail is True, "the child must not reuse the parent's connection"
    assert len(store.metric_points(run_id)) == 50
    assert store.get_run(run_id).status == COMPLETED
    assert len([e for e in store.events(run_id) if e.message.startswith("parent")]) == 50


def test_ten_thousand_runs_are_listed(tuitune_home: Path) -> None:
    store = open_store()
    config = json.dumps({"method": "lora", "training": {"epochs": 3, "learning_rate": 2e-4}})
    start = now()
    rows = [
        dict(
            name=f"run-{i}",
            status=COMPLETED if i % 3 else QUEUED,
            method="lora",
            model="tuitune/demo",
            dataset="tuitune/sample",
            config=config,
            created_at=start + i,
            started_at=start + i,
            finished_at=start + i + 60,
            steps_done=100,
            steps_total=100,
            train_loss=1.0,
        )
        for i in range(10_000)
    ]
    with database.atomic():
        for first in range(0, len(rows), 500):
            RunRow.insert_many(rows[first : first + 500]).execute()

    runs = store.list_runs()

    assert len(runs) == 10_000
    assert runs[0].name == "run-9999" and runs[-1].name == "run-0"
    assert runs[0].duration_seconds == 60 and runs[0].config["method"] == "lora"
    assert len(store.list_runs(status=QUEUED)) == 3334
    assert [r.name for r in store.list_runs(limit=2)] == ["run-9999", "run-9998"]


def test_a_writer_waits_for_a_long_transaction_elsewhere_instead_of_failing(tuitune_home: Path) -> None:
    import sqlite3
    import threading

    store = open_store()
    run_id = store.create_run(name="patient", config={}, model="m", method="lora", dataset="d").id
    other = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process mid-write, holding the write lock
    other.execute("INSERT INTO events (run_id, time, level, message) VALUES (?, 0, 'info', 'other')", (run_id,))
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    try:
        store.add_metric_points(run_id, [{"step": 1, "loss": 1.0}])
    finally:
        release.join()
        other.close()
    assert [e.message for e in store.events(run_id)][-1] == "other"
    assert len(store.metric_points(run_id)) == 1
