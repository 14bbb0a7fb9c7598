"""The run store as the faces use it: runs, their story, scores and outputs, in a real SQLite file."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timezone
from pathlib import Path

import pytest

from tuitune.errors import RunNotFoundError, StoreError
from tuitune.store import (
    CANCELLED,
    COMPLETED,
    FAILED,
    QUEUED,
    RUNNING,
    Store,
    open_store,
)


def new_run(store: Store, name: str = "demo", **overrides: object) -> int:
    fields: dict = dict(
        name=name,
        config={"method": "lora", "training": {"max_steps": 20}},
        model="tuitune/demo",
        method="lora",
        dataset="tuitune/sample",
    )
    fields.update(overrides)
    return store.create_run(**fields).id


def test_a_new_run_is_queued_and_keeps_what_it_was_given(tuitune_home: Path) -> None:
    store = open_store()
    run = store.create_run(
        name="demo",
        config={"method": "lora", "lora": {"r": 8}},
        model="tuitune/demo",
        method="lora",
        dataset="tuitune/sample",
        output_dir="/tmp/out",
    )

    again = store.get_run(run.id)
    assert again == run
    assert again.status == QUEUED and again.is_active and not again.is_finished
    assert again.config == {"method": "lora", "lora": {"r": 8}}
    assert again.output_dir == "/tmp/out"
    assert again.created_at.tzinfo == timezone.utc
    assert again.started_at is None and again.duration_seconds is None
    assert again.version and again.host
    assert store.path == (tuitune_home / "tuitune.db").resolve()
    assert store.events(run.id)[0].message.startswith("Created")


def test_a_taken_name_gets_a_number(tuitune_home: Path) -> None:
    store = open_store()
    names = [store.get_run(new_run(store, "sweep")).name for _ in range(3)]
    assert names == ["sweep", "sweep-2", "sweep-3"]
    # A name that merely starts like another is left alone.
    assert store.get_run(new_run(store, "sweep-big")).name == "sweep-big"


def test_a_run_is_found_by_id_name_or_last(tuitune_home: Path) -> None:
    store = open_store()
    first = new_run(store, "alpha")
    second = new_run(store, "beta")

    assert store.find_run(first).name == "alpha"
    assert store.find_run(str(first)).name == "alpha"
    assert store.find_run("beta").id == second
    assert store.find_run("last").id == second
    assert store.find_run(" LAST ").id == second


def test_a_missing_run_says_how_to_list_runs(tuitune_home: Path) -> None:
    store = open_store()
    with pytest.raises(RunNotFoundError, match="no runs yet"):
        store.find_run("last")
    new_run(store, "alpha")

    with pytest.raises(RunNotFoundError) as missing_id:
        store.find_run("12")
    assert str(missing_id.value) == "No run with id 12. List runs with `tuitune runs`."
    with pytest.raises(RunNotFoundError, match="Did you mean 'alpha'"):
        store.find_run("alpah")
    with pytest.raises(RunNotFoundError, match="tuitune runs"):
        store.get_run(99)
    with pytest.raises(RunNotFoundError):
        store.set_status(99, RUNNING)
    with pytest.raises(RunNotFoundError):
        store.add_metric_points(99, [{"step": 1, "loss": 1.0}])
    with pytest.raises(RunNotFoundError):
        store.add_event(99, "hello")


def test_runs_are_listed_newest_first_and_filtered_by_status(tuitune_home: Path) -> None:
    store = open_store()
    ids = [new_run(store, f"run{i}") for i in range(4)]
    store.set_status(ids[1], RUNNING)
    store.set_status(ids[2], COMPLETED)

    assert [r.id for r in store.list_runs()] == ids[::-1]
    assert [r.id for r in store.list_runs(limit=2)] == [ids[3], ids[2]]
    assert [r.id for r in store.list_runs(status=QUEUED)] == [ids[3], ids[0]]
    assert [r.id for r in store.active_runs()] == [ids[3], ids[1], ids[0]]
    assert store.count_runs() == 4 and store.count_runs(status=COMPLETED) == 1
    with pytest.raises(ValueError, match="unknown run status"):
        store.list_runs(status="done")


def test_a_run_goes_through_its_life_and_each_step_is_an_event(tuitune_home: Path) -> None:
    store = open_store()
    run_id = new_run(store)

    store.set_status(run_id, RUNNING)
    running = store.get_run(run_id)
    assert running.started_at is not None and running.finished_at is None
    assert running.duration_seconds is not None and running.duration_seconds >= 0

    store.heartbeat(run_id, steps_done=5, steps_total=20, epoch=0.25, tokens_per_second=1234.5)
    beat = store.get_run(run_id)
    assert beat.heartbeat_at is not None
    assert (beat.steps_done, beat.steps_total, beat.epoch, beat.tokens_per_second) == (5, 20, 0.25, 1234.5)
    assert beat.progress == 0.25

    store.set_status(run_id, FAILED, error="CUDA out of memory.\nLower the batch size.")
    failed = store.get_run(run_id)
    assert failed.status == FAILED and failed.is_resumable and not failed.is_active
    assert failed.finished_at is not None and failed.started_at is not None
    assert failed.finished_at >= failed.started_at
    assert failed.error == "CUDA out of memory. Lower the batch size."

    events = store.events(run_id)
    assert [e.message for e in events[1:]] == [
        "Status queued -> running",
        "Status running -> failed: CUDA out of memory. Lower the batch size.",
    ]
    assert events[-1].level == "error"


def test_a_cancel_request_is_seen_by_the_worker_and_forgotten_on_resume(tuitune_home: Path) -> None:
    store = open_store()
    run_id = new_run(store)
    store.request_cancel(run_id)  # requested while still queued: survives the step to running
    store.set_status(run_id, RUNNING)
    assert store.cancel_requested(run_id)

    store.update_run(run_id, checkpoint="/runs/1/checkpoints/checkpoint-10")
    store.set_status(run_id, CANCELLED)
    first_start = store.get_run(run_id).started_at

    store.set_status(run_id, QUEUED)  # resume
    resumed = store.get_run(run_id)
    assert not resumed.cancel_requested
    assert resumed.finished_at is None and resumed.error is None
    assert resumed.checkpoint == "/runs/1/checkpoints/checkpoint-10"
    store.set_status(run_id, RUNNING)
    assert store.get_run(run_id).started_at == first_start


def test_update_run_sets_columns_and_rejects_unknown_ones(tuitune_home: Path) -> None:
    store = open_store()
    run_id = new_run(store)
    store.update_run(run_id, pid=4242, config={"new": True}, train_loss=0.5, notes="good one")
    run = store.get_run(run_id)
    assert (run.pid, run.config, run.train_loss, run.notes) == (4242, {"new": True}, 0.5, "good one")

    with pytest.raises(ValueError, match="unknown run fields: colour"):
        store.update_run(run_id, colour="blue")
    with pytest.raises(RunNotFoundError):
        store.update_run(999, pid=1)


def test_metric_points_are_polled_incrementally_and_keep_the_run_losses(tuitune_home: Path) -> None:
    store = open_store()
    run_id = new_run(store)
    other = new_run(store, "other")
    store.add_metric_points(other, [{"step": 1, "loss": 9.0}])

    store.add_metric_points(
        run_id,
        [
            {"step": 1, "epoch": 0.1, "loss": 2.0, "learning_rate": 1e-4, "grad_norm": 1.5},
            {"step": 2, "epoch": 0.2, "loss": 1.8, "eval_loss": 1.9},
        ],
    )
    seen = store.metric_points(run_id)
    assert [(p.step, p.loss, p.eval_loss) for p in seen] == [(1, 2.0, None), (2, 1.8, 1.9)]
    assert seen[0].learning_rate == 1e-4 and seen[0].time.tzinfo == timezone.utc

    store.add_metric_points(
        run_id,
        [{"step": 3, "loss": 1.5, "eval_loss": 2.1}, {"step": 4, "loss": float("nan"), "tokens_per_second": 900.0}],
    )
    new = store.metric_points(run_id, after_id=seen[-1].id)
    assert [p.step for p in new] == [3, 4]
    assert new[1].loss is None  # NaN is recorded as missing, not as a loss
    assert store.metric_points(run_id, after_id=new[-1].id) == []
    assert [p.step for p in store.metric_points(run_id, limit=1)] == [1]

    run = store.get_run(run_id)
    assert (run.last_loss, run.last_eval_loss, run.best_eval_loss) == (1.5, 2.1, 1.9)

    with pytest.raises(ValueError, match="unknown metric point fields: los"):
        store.add_metric_points(run_id, [{"step": 5, "los": 1.0}])
    with pytest.raises(ValueError, match="step"):
        store.add_metric_points(run_id, [{"loss": 1.0}])


def test_a_logged_step_is_the_runs_progress_at_once_and_never_goes_back(tuitune_home: Path) -> None:
    """A worker killed between a logged step and its next heartbeat still shows how far it got."""
    store = open_store()
    run_id = new_run(store)
    store.add_metric_points(run_id, [{"step": 12, "loss": 2.0}, {"step": 13, "loss": 1.9}])
    assert store.get_run(run_id).steps_done == 13
    store.heartbeat(run_id, steps_done=14)
    store.add_metric_points(run_id, [{"step": 10, "eval_loss": 2.1}])  # a late evaluation point
    assert store.get_run(run_id).steps_done == 14


def test_a_runs_loss_summary_is_counted_by_the_store_as_its_points_would_say(tuitune_home: Path) -> None:
    from tuitune.runs.documents import loss_summary

    store = open_store()
    run_id = new_run(store)
    assert store.loss_extremes(run_id) == (None, None, 0)
    losses = [3.0, 2.5, 2.75, 1.5, 2.0]
    store.add_metric_points(run_id, [{"step": i + 1, "loss": loss} for i, loss in enumerate(losses)])
    store.add_metric_points(run_id, [{"step": 5, "eval_loss": 2.2}])
    store.delete_metric_points_after(run_id, 4)  # a resume from step 4 forgets step 5's points
    points = store.metric_points(run_id)
    kept = [p.loss for p in points if p.loss is not None]
    summary = loss_summary(store.get_run(run_id), store).model_dump()
    assert (summary["first_loss"], summary["last_loss"], summary["min_loss"]) == (kept[0], kept[-1], min(kept))
    assert summary["points"] == len(points) == 4 and summary["best_eval_loss"] is None


def test_resuming_from_a_checkpoint_forgets_later_points_but_never_reuses_their_ids(
    tuitune_home: Path,
) -> None:
    store = open_store()
    run_id = new_run(store)
    store.add_metric_points(
        run_id,
        [
            {"step": 10, "loss": 2.0, "eval_loss": 2.2},
            {"step": 20, "loss": 1.5, "eval_loss": 1.4},
            {"step": 30, "loss": 1.2},
        ],
    )
    last_seen = store.metric_points(run_id)[-1].id

    assert store.delete_metric_points_after(run_id, 10) == 2
    run = store.get_run(run_id)
    assert (run.last_loss, run.last_eval_loss, run.best_eval_loss) == (2.0, 2.2, 2.2)
    assert store.delete_metric_points_after(run_id, 10) == 0

    store.add_metric_points(run_id, [{"step": 20, "loss": 1.6}])
    # A face that saw the old points still sees the new one.
    assert [p.step for p in store.metric_points(run_id, after_id=last_seen)] == [20]


def test_events_are_polled_incrementally(tuitune_home: Path) -> None:
    store = open_store()
    run_id = new_run(store)
    start = store.events(run_id)[-1].id
    store.add_event(run_id, "Loading model")
    store.add_event(run_id, "Loss is not finite", level="warning")

    lines = store.events(run_id, after_id=start)
    assert [(e.level, e.message) for e in lines] == [("info", "Loading model"), ("warning", "Loss is not finite")]
    assert store.events(run_id, after_id=lines[0].id, limit=5) == lines[1:]
    with pytest.raises(ValueError, match="level"):
        store.add_event(run_id, "hi", level="loud")


def test_evaluations_keep_scores_samples_and_settings(tuitune_home: Path) -> None:
    store = open_store()
    a, b, c = new_run(store, "a"), new_run(store, "b"), new_run(store, "c")
    base = store.add_evaluation(
        a, label="base", metrics={"rougeL": 0.1}, sample_count=2, settings={"max_new_tokens": 32}, samples=[]
    )
    store.add_evaluation(a, label="finetuned", metrics={"rougeL": 0.3}, sample_count=2, settings={}, samples=[])
    latest = store.add_evaluation(
        a,
        label="finetuned",
        metrics={"rougeL": 0.4, "bleu": 0.2},
        sample_count=2,
        settings={"max_new_tokens": 32},
        samples=[{"prompt": "Hi", "reference": "Hello", "output": "Hello!"}],
    )
    store.add_evaluation(b, label="finetuned", metrics={"bleu": 0.5}, sample_count=1, settings={}, samples=[])
    store.add_evaluation(c, label="finetuned", metrics={"rougeL": 0.7}, sample_count=1, settings={}, samples=[])

    assert [e.id for e in store.evaluations(a)] == [latest.id, latest.id - 1, base.id]
    assert latest.samples[0]["output"] == "Hello!" and latest.settings == {"max_new_tokens": 32}
    assert store.latest_scores() == {a: 0.4, c: 0.7}
    assert store.latest_scores("bleu") == {a: 0.2, b: 0.5}
    assert store.latest_scores(label="base") == {a: 0.1}
    with pytest.raises(ValueError, match="label"):
        store.add_evaluation(a, label="tuned", metrics={}, sample_count=0, settings={}, samples=[])


def test_recording_the_same_artifact_again_updates_it(tuitune_home: Path) -> None:
    store = open_store()
    run_id = new_run(store)
    adapter = store.add_artifact(run_id, kind="adapter", path="/runs/1/adapter", meta={"size": 1})
    store.add_artifact(run_id, kind="checkpoint", path="/runs/1/checkpoints/checkpoint-10")
    again = store.add_artifact(run_id, kind="adapter", path="/runs/1/adapter", meta={"size": 2})

    assert again.id == adapter.id and again.meta == {"size": 2}
    assert [(a.kind, a.path) for a in store.artifacts(run_id)] == [
        ("adapter", "/runs/1/adapter"),
        ("checkpoint", "/runs/1/checkpoints/checkpoint-10"),
    ]
    with pytest.raises(ValueError, match="kind"):
        store.add_artifact(run_id, kind="weights", path="/x")


def test_deleting_a_run_deletes_everything_recorded_about_it(tuitune_home: Path) -> None:
    store = open_store()
    doomed, kept = new_run(store, "doomed"), new_run(store, "kept")
    for run_id in (doomed, kept):
        store.add_metric_points(run_id, [{"step": 1, "loss": 1.0}])
        store.add_event(run_id, "hello")
        store.add_evaluation(run_id, label="base", metrics={}, sample_count=0, settings={}, samples=[])
        store.add_artifact(run_id, kind="adapter", path=f"/runs/{run_id}/adapter")

    store.delete_run(doomed)

    with pytest.raises(RunNotFoundError):
        store.get_run(doomed)
    assert store.metric_points(doomed) == store.events(doomed) == []
    assert store.evaluations(doomed) == store.artifacts(doomed) == []
    assert len(store.metric_points(kept)) == 1 and len(store.artifacts(kept)) == 1
    with pytest.raises(RunNotFoundError):
        store.delete_run(doomed)
    # The id of a deleted run is never given to a new one.
    assert new_run(store, "fresh") > kept


def test_records_turn_into_json(tuitune_home: Path) -> None:
    store = open_store()
    run_id = new_run(store)
    store.set_status(run_id, RUNNING)
    store.add_metric_points(run_id, [{"step": 1, "loss": 1.0}])
    store.add_artifact(run_id, kind="config", path="/runs/1/config.yaml")
    document = {
        "run": store.get_run(run_id).to_dict(),
        "points": [p.to_dict() for p in store.metric_points(run_id)],
        "events": [e.to_dict() for e in store.events(run_id)],
        "artifacts": [a.to_dict() for a in store.artifacts(run_id)],
    }
    loaded = json.loads(json.dumps(document))
    assert loaded["run"]["status"] == RUNNING and loaded["run"]["config"]["method"] == "lora"
    assert loaded["run"]["started_at"].endswith("+00:00")


def test_open_store_follows_tuitune_home(tuitune_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = open_store()
    new_run(first, "in-first-home")
    assert open_store() is first

    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("TUITUNE_HOME", str(elsewhere))
    second = open_store()
    assert second.path == (elsewhere / "tuitune.db").resolve()
    assert second.list_runs() == []
    new_run(second, "in-second-home")

    # A Store kept from before still reads and writes its own file.
    assert [r.name for r in first.list_runs()] == ["in-first-home"]
    assert [r.name for r in second.list_runs()] == ["in-second-home"]
    explicit = open_store(tmp_path / "nested" / "folder" / "runs.db")
    assert explicit.list_runs() == [] and explicit.path.parent.is_dir()


def test_a_damaged_store_file_gives_one_line_that_says_what_to_do(tuitune_home: Path) -> None:
    (tuitune_home / "tuitune.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="damaged.*move the file away"):
        open_store()


@pytest.mark.integration  # a fresh interpreter
def test_importing_the_store_does_not_import_the_training_stack() -> None:
    code = (
        "import sys, tuitune.store\n"
        "heavy = {'torch', 'transformers', 'peft', 'datasets', 'bitsandbytes', 'accelerate'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_long_lived_thread_follows_the_store_to_a_new_home(
    tuitune_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    new_run(open_store(), "first-home")
    with ThreadPoolExecutor(max_workers=1) as pool:  # one thread, kept across both homes
        assert pool.submit(lambda: [r.name for r in open_store().list_runs()]).result() == ["first-home"]
        monkeypatch.setenv("TUITUNE_HOME", str(tmp_path / "second"))
        new_run(open_store(), "second-home")
        assert pool.submit(lambda: [r.name for r in open_store().list_runs()]).result() == ["second-home"]


def test_measurements_from_numpy_or_torch_like_scalars_are_stored_as_floats(tuitune_home: Path) -> None:
    from datetime import datetime

    class Scalar:  # what a 0-d tensor or a numpy float offers: __float__
        def __init__(self, value: float) -> None:
            self.value = value

        def __float__(self) -> float:
            return self.value

    store = open_store()
    run_id = new_run(store)
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    store.add_metric_points(run_id, [{"step": 3, "loss": Scalar(0.5), "grad_norm": Scalar(2.0), "time": when}])
    store.heartbeat(run_id, steps_done=3, epoch=Scalar(0.1))

    (point,) = store.metric_points(run_id)
    assert (point.loss, point.grad_norm, point.time) == (0.5, 2.0, when)
    assert store.get_run(run_id).epoch == 0.1
