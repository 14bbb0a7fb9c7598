"""Runs live in their own process: a user detaches, cancels, resumes, and survives a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, cli, cli_json, wait_for, wait_for_status
from tuitune.store import CANCELLED, COMPLETED, CRASHED, FAILED, open_store

pytestmark = pytest.mark.slow

# Small but not instant: enough steps that a cancel lands in the middle of the run.
COMMON = ["--demo", "--max-length", "128", "--batch-size", "4", "--lr", "1e-3"]


def loss_at(run_id: int, step: int) -> float:
    points = [p for p in open_store().metric_points(run_id) if p.step == step and p.loss is not None]
    assert points, f"run {run_id} logged no loss at step {step}"
    loss = points[-1].loss
    assert loss is not None
    return loss


def test_train_demo_attached_prints_one_json_document(demo_model_path: Path) -> None:
    document = cli_json("train", *COMMON, "--max-steps", "6", "--name", "attached")
    assert document["status"] == "completed"
    assert document["steps_completed"] == 6
    assert {"run_id", "output_dir", "train_loss", "elapsed_seconds"} <= set(document)
    assert isinstance(document["train_loss"], float)
    # --demo fine-tunes the tiny random demo model fully (LoRA on random weights barely learns).
    assert Path(document["output_dir"], "model", "model.safetensors").exists()
    assert Path(document["output_dir"], "worker.log").exists()

    listed = cli_json("runs")
    assert [run["name"] for run in listed] == ["attached"]
    shown = cli_json("show", "last")
    assert shown["metrics"]["first_loss"] is not None and shown["metrics"]["last_loss"] is not None
    assert shown["method"] == "full_finetuning"
    assert shown["metrics"]["last_loss"] < shown["metrics"]["first_loss"]
    assert any(artifact["kind"] == "model" for artifact in shown["artifacts"])
    log = cli("logs", "attached")
    assert log.returncode == 0 and "[metrics]" in log.stdout


def test_cancelled_run_resumes_and_ends_where_an_uninterrupted_run_ends(tmp_path: Path, demo_model_path: Path) -> None:
    from tuitune.config import ConfigBuilder
    from tuitune.engine import launcher

    # A constant learning rate makes the trajectory independent of the step budget, so the
    # interrupted run can be given an unreachable budget: the cancel always lands mid-run.
    config = tmp_path / "run.yaml"
    ConfigBuilder().demo().data(max_length=128, packing=True).training(
        learning_rate=1e-3, lr_scheduler="constant", warmup_ratio=0.0, batch_size=4, logging_steps=2, save_steps=1000
    ).build().save(config)
    steps = 40
    # (a) the uninterrupted reference, in a worker process like any other run
    reference = cli_json("train", "-c", str(config), "--max-steps", str(steps), "--name", "reference")
    assert reference["status"] == "completed"

    # (b) the same run, cancelled part-way, then resumed to the same step budget
    started = cli_json("train", "-c", str(config), "--max-steps", "100000", "--name", "interrupted", "--detach")
    run_id = started["run_id"]
    assert started["pid"] > 0
    store = open_store()
    wait_for(
        lambda: any(p.step >= 4 for p in store.metric_points(run_id)), timeout=180, interval=0.01, what="four steps"
    )
    launcher.cancel(store.get_run(run_id))
    run = wait_for_status(run_id, {CANCELLED})
    assert 4 <= run.steps_done < steps, run.steps_done
    assert run.checkpoint and Path(run.checkpoint).exists()

    resumed = cli_json("resume", str(run_id), "--max-steps", str(steps))
    assert resumed["status"] == "completed"
    assert resumed["steps_completed"] == steps
    # Same seed, same data order, optimizer and RNG restored: the same end point.
    assert loss_at(run_id, steps) == pytest.approx(loss_at(reference["run_id"], steps), rel=1e-3, abs=1e-3)
    steps_logged = [p.step for p in store.metric_points(run_id) if p.loss is not None]
    assert steps_logged == sorted(steps_logged) and len(steps_logged) == len(set(steps_logged))


def test_cancel_from_the_command_line_saves_a_checkpoint(demo_model_path: Path) -> None:
    started = cli_json("train", *COMMON, "--max-steps", "100000", "--name", "endless", "--detach")
    store = open_store()
    wait_for(lambda: store.get_run(started["run_id"]).steps_done >= 1, timeout=180, interval=0.05, what="a step")
    cancelled = cli_json("cancel", "endless", "--wait")
    assert cancelled == {"run_id": started["run_id"], "status": "cancelled", "cancel_requested": True}
    run = store.get_run(started["run_id"])
    assert run.checkpoint and Path(run.checkpoint, "trainer_state.json").exists()
    assert_one_line_error(cli("cancel", "endless"), "not running")


def test_killed_worker_is_crashed_and_resumes(tmp_path: Path, demo_model_path: Path) -> None:
    from tuitune.config import ConfigBuilder

    config = tmp_path / "run.yaml"
    ConfigBuilder().demo().data(max_length=128).training(
        learning_rate=1e-3, batch_size=4, logging_steps=2, save_steps=4
    ).build().save(config)
    # An unreachable budget: the worker is surely still training when it is killed.
    started = cli_json("train", "-c", str(config), "--max-steps", "100000", "--name", "doomed", "--detach")
    run_id = started["run_id"]
    checkpoints = Path(started["output_dir"]) / "checkpoints"
    wait_for(
        lambda: any(checkpoints.glob("checkpoint-*/trainer_state.json")),
        timeout=180,
        interval=0.02,
        what="a checkpoint",
    )
    os.kill(started["pid"], signal.SIGKILL)
    run = wait_for_status(run_id, {CRASHED})
    assert "tuitune resume" in (run.error or "")
    listed = {r["id"]: r for r in cli_json("runs")}
    assert listed[run_id]["status"] == "crashed"

    resumed = cli_json("resume", str(run_id), "--max-steps", "40")
    assert resumed["status"] == "completed" and resumed["steps_completed"] == 40
    assert "resuming from checkpoint-" in cli("logs", str(run_id)).stdout


def test_two_runs_and_a_reader_keep_the_store_consistent(demo_model_path: Path) -> None:
    first = cli_json("train", *COMMON, "--max-steps", "20", "--name", "one", "--detach")
    second = cli_json("train", *COMMON, "--max-steps", "20", "--name", "two", "--detach")
    errors: list[str] = []
    stop = threading.Event()

    def read_continuously() -> None:
        store = open_store()
        seen = {first["run_id"]: 0, second["run_id"]: 0}
        while not stop.is_set():
            for run_id in seen:
                try:
                    points = store.metric_points(run_id, after_id=seen[run_id])
                except Exception as exc:
                    errors.append(repr(exc))
                    return
                if points:
                    ids = [p.id for p in points]
                    if ids != sorted(ids) or ids[0] <= seen[run_id]:
                        errors.append(f"out of order: {ids}")
                    seen[run_id] = ids[-1]

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        runs = [wait_for_status(r["run_id"], {COMPLETED, FAILED, CRASHED}, timeout=300) for r in (first, second)]
        listing = cli_json("runs")
    finally:
        stop.set()
        reader.join()
    assert errors == []
    assert [r.status for r in runs] == [COMPLETED, COMPLETED], [r.error for r in runs]
    for run in runs:
        steps = [p.step for p in open_store().metric_points(run.id) if p.loss is not None]
        assert steps[-1] == 20 and steps == sorted(steps)
    assert {r["name"] for r in listing} == {"one", "two"}


def test_cli_errors_are_one_line() -> None:
    assert_one_line_error(cli("train"), "--demo", code=2)
    assert_one_line_error(cli("train", "--demo", "--lora-r", "0"), "lora.r")
    assert_one_line_error(cli("show", "nothing-like-this"), "tuitune runs")
    assert_one_line_error(cli("resume", "42"), "42")
    bad = cli("train", "--demo", "--fp16", "--bf16")
    assert_one_line_error(bad, "fp16", "bf16")


def test_missing_dataset_is_refused_in_one_line_before_a_run_is_recorded(tmp_path: Path, demo_model_path: Path) -> None:
    result = cli("train", "--demo", "-d", str(tmp_path / "missing.jsonl"), "--max-steps", "2")
    assert_one_line_error(result, "missing.jsonl")
    assert open_store().count_runs() == 0  # the check comes first: no failed run is left behind


def test_config_file_and_flags_override(tmp_path: Path, demo_model_path: Path) -> None:
    config = tmp_path / "run.yaml"
    result = cli("train", "--demo", "--max-steps", "3", "--lora-r", "4", "--save-config", str(config))
    assert result.returncode == 0, result.stderr
    import yaml

    saved = yaml.safe_load(config.read_text())
    assert saved["lora"]["r"] == 4 and saved["training"]["max_steps"] == 3
    document = cli_json("train", "-c", str(config), "--lora-r", "2", "--name", "from-file")
    assert document["status"] == "completed"
    assert open_store().find_run("from-file").config["lora"]["r"] == 2


def test_python_module_entry_and_version() -> None:
    result = subprocess.run([sys.executable, "-m", "tuitune", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("tuitune ")
    help_text = cli("--help").stdout
    for command in (
        "train",
        "runs",
        "show",
        "logs",
        "cancel",
        "resume",
        "delete",
        "compare",
        "data",
        "eval",
        "merge",
        "upload",
        "recommend",
    ):
        assert command in help_text


def test_delete_with_files(demo_model_path: Path) -> None:
    document = cli_json("train", *COMMON, "--max-steps", "2", "--name", "temp")
    folder = Path(document["output_dir"])
    assert folder.exists()
    result = cli("delete", "temp", "--files", "--yes")
    assert result.returncode == 0, result.stderr
    assert not folder.exists()
    assert json.loads(cli("runs", "--json").stdout) == []


def test_resuming_a_completed_run_needs_a_bigger_budget_and_is_not_taken_for_a_crash(demo_model_path: Path) -> None:
    from tuitune.engine import launcher, resume
    from tuitune.runs import lookup

    done = cli_json("train", *COMMON, "--max-steps", "4", "--name", "short")
    assert done["status"] == "completed"
    # A budget the run has already spent would train one stray step and report 5/4.
    assert_one_line_error(cli("resume", "short", "--max-steps", "4"), "--max-steps above 4")
    assert_one_line_error(cli("resume", "short", "--epochs", "0.01"), "--epochs above")
    assert open_store().get_run(done["run_id"]).status == COMPLETED

    store = open_store()
    old_pid = store.get_run(done["run_id"]).pid
    wait_for(lambda: not lookup.pid_alive(old_pid), timeout=60, what="the old worker to exit")
    queued = resume.prepare(store.get_run(done["run_id"]), max_steps=6, store=store)
    # Between queueing and spawning the new worker, the old worker's dead pid is no crash.
    assert lookup.check_alive(queued, store=store).status == "queued"
    launcher.start_worker(queued, resume=True, store=store)
    run = launcher.wait(done["run_id"], timeout=180, store=store)
    assert run.status == COMPLETED and run.steps_done == 6


def test_a_run_cancelled_while_queued_never_trains(demo_model_path: Path) -> None:
    from tuitune.config import ConfigBuilder
    from tuitune.engine import launcher
    from tuitune.runs import lookup

    store = open_store()
    config = ConfigBuilder().demo().training(max_steps=4).build()
    run = launcher.create_run(config, store=store)
    assert launcher.cancel(run, store=store).status == CANCELLED
    # The worker that was about to start for it arrives late: the cancel must win.
    launcher.start_worker(store.get_run(run.id), store=store)
    wait_for(lambda: not lookup.pid_alive(store.get_run(run.id).pid), timeout=120, what="the late worker to exit")
    run = store.get_run(run.id)
    assert run.status == CANCELLED and not run.steps_done and run.output_dir
    assert not (Path(run.output_dir) / "checkpoints").exists()


def test_cancelling_a_run_trained_in_a_python_program_stops_the_run_not_the_program(
    tmp_path: Path, demo_model_path: Path
) -> None:
    script = (
        "from tuitune import train\n"
        "from tuitune.config import ConfigBuilder\n"
        "result = train(ConfigBuilder().demo().data(max_length=64).training(max_steps=100000, save_steps=100000).build())\n"
        "print('program carried on:', result.status)\n"
    )
    program = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        store = open_store()
        wait_for(
            lambda: store.list_runs() and store.list_runs()[0].steps_done, timeout=180, interval=0.05, what="a step"
        )
        cancelled = cli("cancel", "last")
        assert cancelled.returncode == 0, cancelled.stderr
        output, _ = program.communicate(timeout=120)
    finally:
        program.kill()
    assert program.returncode == 0, output
    assert "program carried on: cancelled" in output
    assert open_store().list_runs()[0].status == CANCELLED


def _catches_sigterm(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as handle:
        caught = next(line for line in handle if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads signal masks from /proc")
def test_a_sigterm_in_the_first_moments_cancels_the_run(demo_model_path: Path) -> None:
    from tuitune.config import ConfigBuilder
    from tuitune.engine import launcher

    run = launcher.launch(ConfigBuilder().demo().training(max_steps=5).build())
    worker = run.pid
    assert worker is not None
    wait_for(lambda: _catches_sigterm(worker), interval=0.005, what="the worker to listen for SIGTERM")
    # It listens before the training stack (seconds of imports) is even loaded.
    assert "libtorch" not in Path(f"/proc/{worker}/maps").read_text()
    os.kill(worker, signal.SIGTERM)  # not through `tuitune cancel`: a shutdown, a `kill`
    assert wait_for_status(run.id, {CANCELLED, CRASHED, COMPLETED, FAILED}).status == CANCELLED


def test_cancel_never_signals_a_process_it_cannot_tell_is_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook that runs `tuitune.train()` has the run's pid; where the command line cannot be
    read (macOS without permission, no /proc), cancel must use the store's flag, not SIGTERM."""
    import psutil

    from tuitune.engine import launcher

    notebook = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store = open_store()
        run = store.create_run(name="in-a-notebook", config={}, model="m", method="lora", dataset="d")
        store.set_status(run.id, "running")
        store.update_run(run.id, pid=notebook.pid)
        store.heartbeat(run.id)

        def no_command_line(self: psutil.Process) -> list[str]:
            raise psutil.AccessDenied(self.pid)

        monkeypatch.setattr(psutil.Process, "cmdline", no_command_line)
        cancelled = launcher.cancel(store.get_run(run.id))
        assert cancelled.cancel_requested and notebook.poll() is None  # asked through the store only
    finally:
        notebook.kill()


def test_a_reused_pid_is_not_taken_for_the_runs_worker() -> None:
    from datetime import datetime, timedelta, timezone

    from tuitune.runs import lookup

    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
        assert lookup.pid_alive(alive.pid)
        assert not lookup.pid_alive(alive.pid, started_before=an_hour_ago)  # younger than the run
    finally:
        alive.kill()
        alive.wait()
    assert not lookup.pid_alive(alive.pid)


def test_a_resume_waits_for_the_previous_worker_to_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run records its end a moment before its worker exits (a group's supervisor tidies up
    after rank 0): a resume in that moment must not race the old worker, which would otherwise
    write its own ending over the resumed run."""
    import socket

    from tuitune.engine import launcher, resume
    from tuitune.errors import RunStateError

    store = open_store()
    run = store.create_run(name="ending", method="lora", model="m", dataset="d", config={}, status=CANCELLED)
    # A process that looks like this run's worker, still finishing.
    finishing = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "tuitune.engine.worker"])
    try:
        wait_for(lambda: "tuitune.engine.worker" in " ".join(__import__("psutil").Process(finishing.pid).cmdline()))
        store.update_run(run.id, pid=finishing.pid, host=socket.gethostname())
        store.heartbeat(run.id)
        monkeypatch.setattr(launcher, "WORKER_EXIT_SECONDS", 0.5)
        with pytest.raises(RunStateError, match="still finishing"):
            resume.prepare(store.get_run(run.id), store=store)
        assert store.get_run(run.id).status == CANCELLED  # refused: nothing changed
    finally:
        finishing.kill()
        finishing.wait()
    resumed = resume.prepare(store.get_run(run.id), store=store)
    assert resumed.status == "queued"
