"""Backend slurm on a real one-node SLURM cluster (tests/slurm_cluster.py): runs are sbatch jobs of
the demo model, trained against a store of their own, their journals folded into this one.

Serial: one cluster, whose only node is named after this machine, for the whole session.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import cli, cli_json, wait_for
from tests.slurm_cluster import current, slurm_config
from tuitune.engine import launcher
from tuitune.store import CANCELLED, COMPLETED, FAILED, QUEUED, open_store

pytestmark = [pytest.mark.integration, pytest.mark.serial]

# A job waits for SLURM's scheduler and loads the demo model: generous, never slept on.
JOB_SECONDS = 300


def _loss_at(run_id: int, step: int) -> float:
    losses = [p.loss for p in open_store().metric_points(run_id) if p.step == step and p.loss is not None]
    assert losses, f"run {run_id} logged no loss at step {step}"
    return float(losses[-1])


def _steps_reached(run_id: int, step: int) -> bool:
    return current(run_id).steps_done >= step


def test_a_run_is_a_job_whose_curve_and_end_reach_the_store(
    slurm_cluster: Any, tuitune_home: Path, demo_model_path: Path, tmp_path: Path
) -> None:
    started = cli_json("train", "-c", str(slurm_config(tmp_path)), "--max-steps", "6", "--detach")
    run_id, job_id = started["run_id"], started["job_id"]
    assert job_id and started["pid"] is None and not started["in_queue"]
    # Nothing here looks at the run: the keeper folds the job's journal in, and records its end.
    store = open_store()
    wait_for(lambda: not store.get_run(run_id).is_active, timeout=JOB_SECONDS, interval=0.5, what="the keeper")
    run = store.get_run(run_id)
    assert run.status == COMPLETED, run.error
    assert [p.step for p in store.metric_points(run_id) if p.loss is not None] == [1, 2, 4, 6]
    assert run.steps_done == 6 and run.last_loss == _loss_at(run_id, 6)
    assert run.slurm["jobs"] == [job_id] and run.slurm["nodes"] == slurm_cluster.host
    events = [event.message for event in store.events(run_id)]
    assert any(f"Submitted to SLURM as job {job_id}" in message for message in events)
    assert "Status queued -> running" in events and "Status running -> completed" in events
    # The job's script stays in the run's folder; its log is the run's worker.log.
    folder = Path(run.output_dir or "")
    script = (folder / "slurm" / "job.sbatch").read_text()
    assert f"#SBATCH --job-name=tuitune-{run_id}" in script and "#SBATCH --signal=B:USR1@120" in script
    assert f"run {run_id} completed: 6 steps" in (folder / "worker.log").read_text()
    # SQLite was opened here only: the job's own store lived on its node's disk.
    assert sorted(path.name for path in tuitune_home.rglob("*.db")) == ["tuitune.db"]
    shown = cli_json("show", str(run_id))
    assert shown["slurm"]["job_id"] == job_id and shown["slurm"]["words"].startswith(f"job {job_id}")
    assert f"job {job_id}" in cli("show", str(run_id)).stdout


def test_a_job_that_fails_in_training_or_before_it_or_at_its_time_limit_records_why(
    slurm_cluster: Any, tuitune_home: Path, demo_model_path: Path, tmp_path: Path
) -> None:
    # (a) The data is gone by the time the job starts: the worker's own error, through the journal.
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"say {i}", "output": f"{i}"}) + "\n" for i in range(40)))
    held = slurm_config(tmp_path, "held.yaml", extra_sbatch=["--hold"])
    missing = cli_json("train", "-c", str(held), "-d", str(data), "--max-steps", "4", "--detach")
    # (b) Its environment cannot be prepared: the job ends before tuitune runs, and SLURM says how.
    broken = slurm_config(tmp_path, "broken.yaml", setup=["exit 3"])
    unprepared = cli_json("train", "-c", str(broken), "--max-steps", "4", "--detach")
    # (c) Warned of its time limit with no resubmission left: it stops, saying how to go on.
    limited = slurm_config(tmp_path, "limited.yaml", time_limit="30", warn_seconds=60)
    warned = cli_json("train", "-c", str(limited), "--max-steps", "100000", "--detach")
    data.unlink()
    slurm_cluster.run("scontrol", "release", missing["job_id"])

    failed = launcher.wait(missing["run_id"], timeout=JOB_SECONDS)
    assert failed.status == FAILED and failed.error and str(data) in failed.error, failed.error
    ended = launcher.wait(unprepared["run_id"], timeout=JOB_SECONDS)
    assert ended.status == FAILED and ended.error, ended.error
    assert f"Job {unprepared['job_id']} failed (exit code 3:0)" in ended.error
    assert f"tuitune resume {unprepared['run_id']}" in ended.error
    # Its signal handlers are in once it says it runs; SLURM's warning is the one its script asks for.
    wait_for(lambda: current(warned["run_id"]).status == "running", timeout=JOB_SECONDS, interval=0.2)
    slurm_cluster.run("scancel", "--batch", "--signal=USR1", warned["job_id"])
    stopped = launcher.wait(warned["run_id"], timeout=JOB_SECONDS)
    assert stopped.status == FAILED and stopped.error, stopped.error
    assert (
        "Stopped at SLURM's time limit (30)" in stopped.error
        and f"`tuitune resume {warned['run_id']}`" in stopped.error
    )


def test_warned_of_its_time_limit_a_job_requeues_from_its_checkpoint_and_cancelled_it_resumes_to_the_uninterrupted_loss(
    slurm_cluster: Any, tuitune_home: Path, demo_model_path: Path, tmp_path: Path
) -> None:
    steps = 24
    reference = cli_json(
        "train", "-c", str(slurm_config(tmp_path)), "--max-steps", str(steps), "--name", "reference", "--detach"
    )
    config = slurm_config(tmp_path, "interrupted.yaml", time_limit="30", warn_seconds=60, resubmit=1)
    started = cli_json("train", "-c", str(config), "--max-steps", str(steps), "--name", "interrupted", "--detach")
    run_id, job_id = started["run_id"], started["job_id"]
    script = (Path(current(run_id).output_dir or "") / "slurm" / "job.sbatch").read_text()
    assert "#SBATCH --signal=B:USR1@60" in script and "#SBATCH --requeue" in script and "--time=30" in script

    # SLURM's warning (the signal the script asks for, sent as SLURM sends it rather than after a
    # real limit): a checkpoint, back in SLURM's queue, and the same job starts again from it.
    wait_for(lambda: _steps_reached(run_id, 4), timeout=JOB_SECONDS, interval=0.2, what="four steps")
    slurm_cluster.run("scancel", "--batch", "--signal=USR1", job_id)
    wait_for(lambda: current(run_id).slurm.get("restarts") == 1, timeout=JOB_SECONDS, interval=0.5, what="a restart")
    # SLURM holds a requeued job for two minutes before it may start again; the test lets it now.
    slurm_cluster.run("scontrol", "update", f"jobid={job_id}", "StartTime=now")
    events = [event.message for event in open_store().events(run_id)]
    assert any("back in SLURM's queue (restart 1 of at most 1)" in message for message in events), events
    first = open_store().get_run(run_id)
    assert first.checkpoint and 4 <= first.steps_done < steps
    wait_for(
        lambda: _steps_reached(run_id, first.steps_done + 2), timeout=JOB_SECONDS, interval=0.2, what="training on"
    )

    # Cancelled (SIGTERM to the job): a checkpoint; resumed: a new job, to the reference's loss.
    assert cli_json("cancel", str(run_id), "--wait")["status"] == CANCELLED
    cancelled = open_store().get_run(run_id)
    assert cancelled.checkpoint != first.checkpoint and first.steps_done < cancelled.steps_done < steps
    resumed = cli_json("resume", str(run_id), "--detach")
    assert resumed["job_id"] not in (None, job_id)
    assert launcher.wait(run_id, timeout=JOB_SECONDS).status == COMPLETED
    assert launcher.wait(reference["run_id"], timeout=JOB_SECONDS).status == COMPLETED
    assert open_store().get_run(run_id).slurm["jobs"] == [job_id, resumed["job_id"]]
    assert _loss_at(run_id, steps) == pytest.approx(_loss_at(reference["run_id"], steps), rel=1e-3, abs=1e-3)
    logged = [p.step for p in open_store().metric_points(run_id) if p.loss is not None]
    assert logged == sorted(set(logged))  # each resume replaced the points after its checkpoint


def test_a_two_task_job_trains_as_one_group(
    slurm_cluster: Any, tuitune_home: Path, demo_model_path: Path, tmp_path: Path
) -> None:
    config = str(slurm_config(tmp_path, tasks_per_node=2))
    started = cli_json("train", "-c", config, "--max-steps", "4", "--detach")
    script = (Path(current(started["run_id"]).output_dir or "") / "slurm" / "job.sbatch").read_text()
    assert "#SBATCH --ntasks-per-node=2" in script and "exec srun " in script and "--signal=USR1@120" in script
    run = launcher.wait(started["run_id"], timeout=JOB_SECONDS)
    assert run.status == COMPLETED, run.error
    log = (Path(run.output_dir or "") / "worker.log").read_text()
    assert "2 processes" in log, log[-2000:]


def test_a_job_waiting_for_gpus_says_why_and_a_cancel_takes_it_out_of_slurms_queue(
    slurm_cluster: Any, tuitune_home: Path, demo_model_path: Path, tmp_path: Path
) -> None:
    holder = slurm_cluster.run("sbatch", "--parsable", "--gres=gpu:2", "--wrap", "sleep 600").strip()
    try:
        wait_for(lambda: "RUNNING" in slurm_cluster.run("squeue", "-h", "-j", holder, "-o", "%T"), timeout=60)
        free = cli_json("cluster")
        assert free["partitions"][0]["gpus"] == 2 and free["partitions"][0]["free_gpus"] == 0
        started = cli_json("train", "-c", str(slurm_config(tmp_path, gpus_per_node=1)), "--max-steps", "4", "--detach")
        run_id = started["run_id"]
        waiting = wait_for(
            lambda: (run := current(run_id)).slurm.get("reason") and run, timeout=60, interval=0.5, what="a reason"
        )
        assert waiting.status == QUEUED and waiting.slurm["state"] == "PENDING"
        assert waiting.slurm["reason"] == "Resources"
        assert "pending (Resources)" in cli("show", str(run_id)).stdout
        assert "pending" in cli("runs").stdout
        cancelled = cli_json("cancel", str(run_id))
        assert cancelled["status"] == CANCELLED
        assert slurm_cluster.run("squeue", "-h", "-j", started["job_id"], "-o", "%T").strip() in ("", "CANCELLED")
        # A sweep's runs are a job each, in SLURM's queue (held here: nothing needs to train).
        held = slurm_config(tmp_path, "held.yaml", extra_sbatch=["--hold"])
        swept = cli_json("sweep", "-c", str(held), "--set", "training.learning_rate=1e-4,5e-4", "--max-steps", "4")
        runs = [open_store().get_run(run["id"]) for run in swept["runs"]]
        jobs = [run.slurm["job_id"] for run in runs]
        assert len(set(jobs)) == 2 and all(run.status == QUEUED and not run.in_queue for run in runs)
        for job in jobs:
            assert "JobHeldUser" in slurm_cluster.run("squeue", "-h", "-j", job, "-o", "%r")
        assert [cli_json("cancel", str(run.id))["status"] for run in runs] == [CANCELLED, CANCELLED]
    finally:
        slurm_cluster.run("scancel", holder)


async def test_the_wizard_on_a_slurm_store_asks_for_the_jobs_partition_and_launch_submits_it(
    slurm_cluster: Any, tuitune_home: Path, demo_model_path: Path
) -> None:
    from textual.widgets import Collapsible, Input

    from tests.tui_steps import run_of, shown
    from tuitune._dev.pilot import screen_text, wait_until
    from tuitune.tui.app import create_app
    from tuitune.tui.screens.training import TrainingScreen
    from tuitune.tui.screens.wizard import WizardScreen

    assert cli_json("cluster", "use", "slurm") == {"backend": "slurm"}
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await pilot.press("enter", "enter")  # the demo model, the sample data
        assert wizard.step == "method"
        wizard.query_one("#advanced", Collapsible).collapsed = False
        await pilot.pause()
        for field, text in (("#field-training-max-steps", "2"), ("#field-slurm-time-limit", "20")):
            box = wizard.query_one(field, Input)
            box.value = text
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: "submits it to SLURM as a job" in screen_text(app), timeout=120)
        await pilot.press("ctrl+l")
        training = await shown(pilot, TrainingScreen, lambda screen: screen.run is not None, timeout=120)
        run = run_of(training)
        assert run.on_slurm and run.slurm["job_id"] and run.config["slurm"]["time_limit"] == "20"
        await wait_until(pilot, lambda: f"job {run.slurm['job_id']}" in screen_text(app), timeout=60)
    assert launcher.wait(run.id, timeout=JOB_SECONDS).status == COMPLETED
    assert cli_json("cluster", "use", "local") == {"backend": "local"}


def test_slurms_own_warning_before_a_real_time_limit_stops_the_run_with_a_checkpoint(
    slurm_cluster: Any, tuitune_home: Path, demo_model_path: Path, tmp_path: Path
) -> None:
    # Two minutes, warned 30 s before: SLURM sends the warning up to a minute early, so it comes
    # between 30 and 90 s after the start, once training is under way. No signal from the test.
    limited = slurm_config(tmp_path, time_limit="2", warn_seconds=30)
    started = cli_json("train", "-c", str(limited), "--max-steps", "100000", "--detach")
    stopped = launcher.wait(started["run_id"], timeout=JOB_SECONDS)
    assert stopped.status == FAILED and stopped.error, stopped.error
    assert "Stopped at SLURM's time limit (2)" in stopped.error and "with a checkpoint" in stopped.error
    assert stopped.checkpoint and Path(stopped.checkpoint).exists() and stopped.steps_done > 0
