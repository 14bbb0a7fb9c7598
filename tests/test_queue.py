"""A GPU box works through a night of experiments on its own: runs wait in a queue for a free
slot, start one after another in order, survive a failure or a killed worker in front of them,
and never share a slot or a GPU. No daemon: workers and commands move the queue."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.helpers import cli, cli_json, wait_for, wait_for_status
from tuitune.config import ConfigBuilder, RunConfig
from tuitune.engine import queue
from tuitune.store import CANCELLED, COMPLETED, CRASHED, FAILED, QUEUED, RUNNING, Run, open_store

pytestmark = pytest.mark.integration  # workers and keepers move the queue

FINISHED = {COMPLETED, FAILED, CANCELLED, CRASHED}


def tiny(name: str, steps: int = 2, **training: object) -> RunConfig:
    return (
        ConfigBuilder()
        .demo()
        .name(name)
        .method("full_finetuning")
        .data(max_length=64)
        .training(max_steps=steps, logging_steps=1, save_steps=1000, **training)
        .build()
    )


def finished(run_ids: list[int], timeout: float = 300) -> list[Run]:
    return [wait_for_status(run_id, FINISHED, timeout=timeout) for run_id in run_ids]


def started(run: Run) -> datetime:
    assert run.started_at is not None, f"{run.name} never started"
    return run.started_at


def ended(run: Run) -> datetime:
    assert run.finished_at is not None, f"{run.name} never ended"
    return run.finished_at


def pid(run: Run) -> int:
    assert run.pid is not None, f"{run.name} has no process"
    return run.pid


@pytest.mark.slow
def test_five_queued_runs_on_one_slot_run_one_after_another_in_queue_order(demo_model_path: Path) -> None:
    queue.set_slots(1)
    queue.pause()  # fill the line first, then reorder it
    runs = [queue.enqueue(tiny(f"q{index}")) for index in range(1, 6)]
    assert all(run.status == QUEUED and run.in_queue for run in runs)
    moved = cli_json("queue", "move", "q5", "--to", "1")
    assert moved["position"] == 1
    listed = cli_json("queue")
    assert [entry["name"] for entry in listed["queued"]] == ["q5", "q1", "q2", "q3", "q4"]
    assert listed["paused"] is True and listed["slots"] == 1

    assert cli_json("queue", "unpause")["started"] == [runs[4].id]
    done = finished([run.id for run in runs])
    assert [run.status for run in done] == [COMPLETED] * 5
    by_start = sorted(done, key=started)
    assert [run.name for run in by_start] == ["q5", "q1", "q2", "q3", "q4"]
    for earlier, later in itertools.pairwise(by_start):
        assert started(later) >= ended(earlier), f"{later.name} started before {earlier.name} ended"


@pytest.mark.slow
def test_a_failed_run_does_not_stop_the_runs_behind_it(tmp_path: Path, demo_model_path: Path) -> None:
    queue.set_slots(1)
    queue.pause()
    broken = tiny("broken")
    broken.data.source = str(tmp_path / "missing.jsonl")
    first = queue.enqueue(broken)
    second = queue.enqueue(tiny("after-the-failure"))
    queue.unpause()
    failed, completed = finished([first.id, second.id])
    assert failed.status == FAILED and "missing.jsonl" in (failed.error or "")
    assert completed.status == COMPLETED


@pytest.mark.slow
def test_pausing_holds_the_queue_and_unpausing_starts_the_next(demo_model_path: Path) -> None:
    queue.set_slots(1)
    assert cli("queue", "pause").returncode == 0
    run = queue.enqueue(tiny("held"))
    for _ in range(3):
        assert cli("runs").returncode == 0  # commands that move the queue do not start it
    assert open_store().get_run(run.id).in_queue
    assert cli("queue", "unpause").returncode == 0
    assert finished([run.id])[0].status == COMPLETED


@pytest.mark.slow
def test_a_killed_worker_frees_its_slot_once_its_death_is_noticed(demo_model_path: Path) -> None:
    queue.set_slots(1)
    victim = queue.enqueue(tiny("victim", steps=100_000))
    waiting = queue.enqueue(tiny("next-in-line"))
    store = open_store()
    running = wait_for_status(victim.id, {RUNNING})
    wait_for(lambda: store.get_run(victim.id).steps_done > 0, what="the victim to train")
    assert store.get_run(waiting.id).in_queue
    os.kill(pid(running), signal.SIGKILL)
    wait_for(
        lambda: cli("runs").returncode == 0 and store.get_run(victim.id).status == CRASHED,
        what="the crash to be noticed",
    )
    assert finished([waiting.id])[0].status == COMPLETED


@pytest.mark.serial  # holds the keeper to seconds
@pytest.mark.slow
def test_a_killed_worker_is_replaced_within_seconds_with_nobody_looking(demo_model_path: Path) -> None:
    from tuitune.engine.keeper_lock import keeper_alive

    queue.set_slots(1)
    victim = queue.enqueue(tiny("victim", steps=100_000))
    behind = [queue.enqueue(tiny(f"behind{index}")) for index in (1, 2)]
    store = open_store()  # from here on only plain reads: no command, no face, no reconcile
    wait_for(lambda: store.get_run(victim.id).steps_done > 0, what="the victim to train")
    assert keeper_alive()
    os.kill(pid(store.get_run(victim.id)), signal.SIGKILL)  # what the OOM killer does at 3 a.m.
    wait_for(lambda: store.get_run(behind[0].id).pid is not None, timeout=15, what="the next run to start")
    assert store.get_run(victim.id).status == CRASHED
    wait_for(
        lambda: all(store.get_run(run.id).status == COMPLETED for run in behind),
        timeout=300,
        what="the runs behind to complete",
    )
    # Nothing waits: the keeper goes too.
    wait_for(lambda: not keeper_alive(), timeout=30, what="the keeper to exit")


FAILED_CLAIMER = """
import os
from tuitune.engine import launcher, queue
# Killed the moment it has claimed the run, before its worker starts.
launcher.start_worker = lambda *args, **kwargs: os._exit(9)
queue.unpause()
"""


@pytest.mark.slow
def test_a_claim_whose_claimer_died_goes_back_in_line_and_trains(demo_model_path: Path) -> None:
    queue.set_slots(1)
    queue.pause()
    run = queue.enqueue(tiny("orphaned-claim"))
    claimer = subprocess.run([sys.executable, "-c", FAILED_CLAIMER], timeout=120)
    assert claimer.returncode == 9
    store = open_store()
    claimed = store.get_run(run.id)
    assert claimed.status == QUEUED and not claimed.in_queue and claimed.pid is None
    wait_for(lambda: store.get_run(run.id).status == COMPLETED, timeout=300, what="the run to train after all")
    messages = [event.message for event in store.events(run.id)]
    assert any(message.startswith("Back in line: its worker never started") for message in messages)
    assert sum(message.startswith("Left the queue") for message in messages) == 2
    assert store.get_run(run.id).error is None


@pytest.mark.slow
def test_with_two_slots_two_runs_train_at_the_same_time(demo_model_path: Path) -> None:
    queue.set_slots(2)
    queue.pause()
    runs = [queue.enqueue(tiny(f"pair{index}", steps=40)) for index in (1, 2)]
    queue.unpause()
    first, second = finished([run.id for run in runs])
    assert first.status == second.status == COMPLETED
    assert started(second) < ended(first) and started(first) < ended(second)


def test_cancelling_a_queued_run_takes_it_out_of_the_queue(tuitune_home: Path) -> None:
    queue.pause()
    run = queue.enqueue(tiny("never"))
    result = cli("cancel", str(run.id))
    assert result.returncode == 0 and "left the queue" in result.stdout
    assert open_store().get_run(run.id).status == CANCELLED
    assert cli_json("queue")["queued"] == []


CLAIMER = """
import json, sys
from tuitune.store import open_store
store = open_store()
claimed = []
for _ in range(40):
    claim = store.claim_next(slots=int(sys.argv[1]), gpus=sys.argv[2].split(",") if sys.argv[2] else [])
    if claim is not None:
        claimed.append([claim.run.id, claim.devices])
print(json.dumps(claimed))
"""


@pytest.mark.parametrize(("slots", "gpus"), [(2, ""), (3, "0,1,2,3")])
def test_processes_claiming_at_once_never_start_a_run_twice_nor_overfill_the_slots(
    tuitune_home: Path, slots: int, gpus: str
) -> None:
    store = open_store()
    for index in range(12):
        store.create_run(name=f"c{index}", config={}, model="m", method="lora", dataset="d", in_queue=True)
    claimers = [
        subprocess.Popen([sys.executable, "-c", CLAIMER, str(slots), gpus], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    claims = [claim for process in claimers for claim in json.loads(process.communicate(timeout=120)[0])]
    ids = [run_id for run_id, _ in claims]
    assert len(ids) == len(set(ids)) == slots
    devices = [device for _, given in claims for device in given]
    assert len(devices) == len(set(devices)) == (slots if gpus else 0)
    assert len(store.queued_runs()) == 12 - slots


def test_a_run_asking_for_gpus_waits_for_exactly_those(tuitune_home: Path) -> None:
    store = open_store()
    busy = store.create_run(
        name="on-gpu-1", config={}, model="m", method="lora", dataset="d", in_queue=True, gpus=["1"]
    )
    wants_both = store.create_run(
        name="wants-0-and-1", config={}, model="m", method="lora", dataset="d", in_queue=True, gpus=["0", "1"]
    )
    store.create_run(name="any-gpu", config={}, model="m", method="lora", dataset="d", in_queue=True)
    first = store.claim_next(slots=4, gpus=["0", "1", "2"])
    assert first is not None and first.run.id == busy.id and first.devices == ["1"]
    # GPU 1 is taken: the run that needs it waits, and nothing behind it jumps the line.
    assert store.claim_next(slots=4, gpus=["0", "1", "2"]) is None
    store.set_status(busy.id, COMPLETED)
    second = store.claim_next(slots=4, gpus=["0", "1", "2"])
    assert second is not None and second.run.id == wants_both.id and second.devices == ["0", "1"]
    third = store.claim_next(slots=4, gpus=["0", "1", "2"])
    assert third is not None and third.devices == ["2"]  # a two-GPU run fills two of the four slots


def test_queue_refuses_gpus_this_machine_does_not_have(tuitune_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuitune.errors import UsageError

    monkeypatch.setenv("TUITUNE_GPUS", "0,1")
    with pytest.raises(UsageError, match="GPU 7 is not on this machine: choose among 0, 1"):
        queue.enqueue(tiny("far"), gpus=["7"])
    monkeypatch.setenv("TUITUNE_GPUS", "")
    with pytest.raises(UsageError, match="no GPU"):
        queue.enqueue(tiny("cpu"), gpus=["0"])
    assert open_store().count_runs() == 0
