"""A SLURM job's journal (tuitune.store.journal): its writes made again in the login node's store,
once each, at their moments; a line for another run, another method or a column that says where
the run lives is left out. Real stores in a temporary home; no process, no cluster."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tuitune.store import COMPLETED, RUNNING, journal, open_store
from tuitune.system import paths


@pytest.fixture
def job(tuitune_home: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, Path]:
    """A SLURM run in the main store, and its job's writes journalled from a scratch store."""
    store = open_store()
    run = store.create_run(name="job", config={}, model="m", method="lora", dataset="d")
    store.update_run(run.id, slurm={"job_id": "12"}, output_dir=str(tuitune_home / "runs" / "1-job"))
    snapshot = json.loads(json.dumps(journal.snapshot(store, run.id), default=str))
    path = tuitune_home / "journal.jsonl"
    monkeypatch.setenv(paths.STORE_ENV, str(tuitune_home / "scratch.db"))
    scratch = open_store()
    assert journal.restore(scratch, snapshot) == run.id
    monkeypatch.setenv(journal.JOURNAL_ENV, str(path))
    monkeypatch.setenv(journal.JOURNAL_RUN_ENV, str(run.id))
    scratch.set_status(run.id, RUNNING)
    scratch.add_metric_points(run.id, [{"step": 1, "loss": 2.5}, {"step": 2, "loss": 2.0}])
    scratch.heartbeat(run.id, steps_done=2, steps_total=4)
    scratch.add_artifact(run.id, kind="checkpoint", path="/x/checkpoint-2")
    scratch.set_status(run.id, COMPLETED)
    monkeypatch.delenv(journal.JOURNAL_ENV)
    monkeypatch.delenv(paths.STORE_ENV)
    return run.id, path


def test_a_jobs_writes_reach_the_store_once_at_their_moments(job: tuple[int, Path]) -> None:
    run_id, path = job
    store = open_store()
    assert store.get_run(run_id).status == "queued"  # nothing reached it before a look
    written = [line["at"] for line in map(json.loads, path.read_text().splitlines())]
    folded = journal.fold(store, run_id, path)
    assert folded.applied == 5 and folded.offset == path.stat().st_size
    run = store.get_run(run_id)
    assert (run.status, run.steps_done, run.steps_total, run.last_loss) == (COMPLETED, 2, 4, 2.0)
    assert run.finished_at is not None and run.finished_at.timestamp() == pytest.approx(written[-1])
    assert [p.step for p in store.metric_points(run_id)] == [1, 2]
    assert [a.path for a in store.artifacts(run_id)] == ["/x/checkpoint-2"]
    assert run.slurm == {"job_id": "12", "journal_offset": folded.offset}
    # A second look (another face, the keeper) finds nothing new and applies nothing twice.
    assert journal.fold(store, run_id, path).applied == 0
    assert len(store.metric_points(run_id)) == 2


def test_a_line_half_written_waits_and_a_broken_one_is_skipped(job: tuple[int, Path]) -> None:
    run_id, path = job
    store = open_store()
    with path.open("a") as out:
        out.write("not json\n")
        out.write(json.dumps({"at": 1.0, "op": "add_event", "args": [run_id, "late"], "kwargs": {}})[:20])
    folded = journal.fold(store, run_id, path)
    assert folded.unreadable == 1 and folded.offset < path.stat().st_size  # the half line is read next time
    with path.open("a") as out:
        out.write(json.dumps({"at": 1.0, "op": "add_event", "args": [run_id, "late"], "kwargs": {}})[20:] + "\n")
    assert journal.fold(store, run_id, path).applied == 1
    assert store.events(run_id)[-1].message == "late"


def test_a_journal_cannot_write_another_run_call_another_method_or_move_the_run(job: tuple[int, Path]) -> None:
    run_id, path = job
    store = open_store()
    other = store.create_run(name="other", config={}, model="m", method="lora", dataset="d")
    hostile: list[dict[str, object]] = [
        {"op": "set_status", "args": [other.id, "failed"], "kwargs": {}},  # another run
        {"op": "delete_run", "args": [run_id], "kwargs": {}},  # not a progress write
        {"op": "set_setting", "args": ["notify.webhook", "http://evil.example"], "kwargs": {}},
        {"op": "update_run", "args": [run_id], "kwargs": {"output_dir": "/etc", "config": {"x": 1}, "slurm": {}}},
        {"op": "update_run", "args": [run_id], "kwargs": {"steps_total": 9, "name": "renamed"}},
    ]
    with path.open("a") as out:
        out.writelines(json.dumps({"at": 1.0} | line) + "\n" for line in hostile)
    journal.fold(store, run_id, path)
    run = store.get_run(run_id)
    assert store.get_run(other.id).status == "queued"
    assert run.output_dir and run.output_dir.endswith("1-job") and run.config == {} and run.slurm["job_id"] == "12"
    assert (run.name, run.steps_total) == ("job", 9)  # the progress kept, the rename left out
    assert store.setting("notify.webhook") is None and os.environ.get(journal.JOURNAL_ENV) is None


def test_the_python_api_trains_here_and_refuses_a_config_that_says_slurm(tuitune_home: Path) -> None:
    import tuitune
    from tuitune.errors import UsageError

    with pytest.raises(UsageError, match="backend is slurm"):
        tuitune.train({"backend": "slurm"})
    assert open_store().list_runs() == []  # refused before anything was recorded
