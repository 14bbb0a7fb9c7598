"""Every face follows a run through one feed (`tuitune.runs.feed`): a resume replaces the points
logged after its checkpoint, and each follower ends with exactly the store's points, none lost and
none twice, whether it followed all along or reconnected after the resume."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import cli_json, running_server, wait_for, wait_for_status
from tuitune.config import ConfigBuilder
from tuitune.engine import launcher
from tuitune.runs.feed import FeedUpdate, RunFeed
from tuitune.serve.stream import Message, StreamHub
from tuitune.store import COMPLETED, CRASHED, RUNNING, open_store


def drawn_by_rule(drawn: list[tuple[int, int]], update: FeedUpdate) -> None:
    """What every face does with an update: forget on a restart, then add what came."""
    if update.restarted:
        drawn.clear()
    drawn.extend((point.id, point.step) for point in update.points)


def stored(run_id: int) -> list[tuple[int, int]]:
    return [(point.id, point.step) for point in open_store().metric_points(run_id)]


def record(run_id: int, steps: range) -> None:
    open_store().add_metric_points(run_id, [{"step": step, "loss": 1.0 / step} for step in steps])


def test_a_resume_that_replaces_points_is_told_once_and_every_follower_ends_with_the_stores_points() -> None:
    store = open_store()
    run = launcher.create_run(ConfigBuilder().demo().build(), store=store)
    along: list[tuple[int, int]] = []
    feed = RunFeed(run.id, store=store)
    record(run.id, range(1, 7))
    drawn_by_rule(along, feed.next())
    assert along == stored(run.id)
    # A client that had the first three points reconnects after the resume, saying so.
    third = along[2][0]
    # The resume from the checkpoint at step 4, as the trainer does it: later points replaced.
    store.delete_metric_points_after(run.id, 4)
    record(run.id, range(5, 9))
    update = feed.next()
    assert update.restarted
    drawn_by_rule(along, update)
    assert along == stored(run.id) and [step for _, step in along] == list(range(1, 9))
    assert not feed.next().restarted and not feed.next().points

    # A follower that knows how many points it holds notices the resume; one that only knows
    # the last id (an old client) is given what is new after it.
    knowing: list[tuple[int, int]] = [(pid, step) for pid, step in along if pid <= third]
    late = RunFeed(run.id, store=store, after_point=along[-1][0])
    assert not late.next().points
    reconnected = RunFeed(run.id, store=store, after_point=third)
    drawn_by_rule(knowing, reconnected.next())
    assert knowing == stored(run.id)


def test_a_resume_without_a_checkpoint_clears_every_point() -> None:
    store = open_store()
    run = launcher.create_run(ConfigBuilder().demo().build(), store=store)
    drawn: list[tuple[int, int]] = []
    feed = RunFeed(run.id, store=store)
    record(run.id, range(1, 4))
    drawn_by_rule(drawn, feed.next())
    store.delete_metric_points_after(run.id, -1)  # "no checkpoint to resume from: training starts over"
    update = feed.next()
    assert update.restarted and update.points == []
    drawn_by_rule(drawn, update)
    assert drawn == []


def _stream_draws(messages: list[Message]) -> list[tuple[int, int]]:
    drawn: list[tuple[int, int]] = []
    for message in messages:
        if message.kind == "restart":
            drawn.clear()
        elif message.kind == "point":
            drawn.append((message.data["id"], message.data["step"]))
    return drawn


def test_the_services_stream_follows_a_resume_with_one_restart_message() -> None:
    store = open_store()
    run = launcher.create_run(ConfigBuilder().demo().build(), store=store)
    store.set_status(run.id, RUNNING)
    record(run.id, range(1, 7))

    async def follow() -> list[Message]:
        hub = StreamHub(poll_seconds=0.02)
        hub.start()
        got: list[Message] = []

        async def watch(after: int = 0) -> None:
            async for message in hub.watch(run.id, after_point=after):
                got.append(message)

        task = asyncio.create_task(watch())
        for _ in range(500):  # until the history is in: six points
            if sum(message.kind == "point" for message in got) == 6:
                break
            await asyncio.sleep(0.01)
        store.delete_metric_points_after(run.id, 4)
        record(run.id, range(5, 9))
        for _ in range(500):
            if any(message.kind == "restart" for message in got) and _stream_draws(got) == stored(run.id):
                break
            await asyncio.sleep(0.01)
        store.set_status(run.id, COMPLETED)
        await asyncio.wait_for(task, timeout=30)
        await hub.stop()
        return got

    messages = asyncio.run(follow())
    assert [message.kind for message in messages].count("restart") == 1
    assert _stream_draws(messages) == stored(run.id)
    assert messages[-1].kind == "end"


def _sse(url: str, run_id: int, last: str | None) -> list[tuple[str, dict[str, Any], str | None]]:
    """Every message of a run's stream until `end`: (event, data, id)."""
    headers = {"Last-Event-ID": last} if last else {}
    found: list[tuple[str, dict[str, Any], str | None]] = []
    kind, data, ident = "message", "", None
    with httpx.stream("GET", f"{url}/runs/{run_id}/stream", headers=headers, timeout=120) as response:
        for line in response.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif line.startswith("id:"):
                ident = line[3:].strip()
            elif not line and data:
                found.append((kind, json.loads(data), ident))
                if kind == "end":
                    break
                kind, data, ident = "message", "", None
    return found


@pytest.mark.slow
def test_a_killed_run_resumed_while_followed_leaves_no_point_lost_or_repeated(
    tmp_path: Path, demo_model_path: Path
) -> None:
    config = tmp_path / "run.yaml"
    ConfigBuilder().demo().data(max_length=128).training(
        learning_rate=1e-3, batch_size=4, logging_steps=1, save_steps=3
    ).build().save(config)
    started = cli_json("train", "-c", str(config), "--max-steps", "100000", "--name", "followed", "--detach")
    run_id = started["run_id"]
    store = open_store()
    feed = RunFeed(run_id, store=store)
    along: list[tuple[int, int]] = []
    checkpoints = Path(started["output_dir"]) / "checkpoints"

    def past_a_checkpoint() -> bool:
        drawn_by_rule(along, feed.next(check=False))
        saved = [int(path.parent.name.split("-")[-1]) for path in checkpoints.glob("checkpoint-*/trainer_state.json")]
        return bool(saved) and bool(along) and along[-1][1] > max(saved) + 1

    # Killed with points logged after its last checkpoint: the resume replaces them.
    wait_for(past_a_checkpoint, timeout=240, interval=0.02, what="points after a checkpoint")
    os.kill(started["pid"], signal.SIGKILL)
    wait_for_status(run_id, {CRASHED})
    with running_server() as url:
        before = _sse(url, run_id, None)
        drawn_by_rule(along, feed.next())
        resumed = cli_json("resume", str(run_id), "--max-steps", str(along[-1][1] + 4))
        assert resumed["status"] == "completed"
        drawn_by_rule(along, feed.next())
        # The page that saw the crash reconnects with the id of the last message it had.
        after = _sse(url, run_id, next(ident for _, _, ident in reversed(before) if ident))
    final = stored(run_id)
    # Each step trained once: one training point per step (an evaluation has its own point).
    trained = [point.step for point in store.metric_points(run_id) if point.loss is not None]
    assert trained == list(range(1, resumed["steps_completed"] + 1))
    assert along == final
    page: list[tuple[int, int]] = []
    for kind, data, _ in before + after:
        if kind == "restart":
            page.clear()
        elif kind == "point":
            page.append((data["id"], data["step"]))
    assert [kind for kind, _, _ in after].count("restart") == 1
    assert page == final
