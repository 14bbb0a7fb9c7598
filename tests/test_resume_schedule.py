"""A resume with a new total goes on from where the run was: its learning rate continues without a
jump, and its speed is the mean over all the time it trained, before and after the resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tuitune
from tests.helpers import cli_json, wait_for, wait_for_status
from tuitune.config import ConfigBuilder
from tuitune.engine import launcher
from tuitune.engine.checkpoint_notes import NOTES
from tuitune.runs import files
from tuitune.store import CANCELLED, COMPLETED, open_store

pytestmark = pytest.mark.slow

PEAK = 1e-3


def linear_decay(**training: object) -> ConfigBuilder:
    """A linear schedule with no warmup, every step logged: the LR of each step is easy to predict."""
    return (
        ConfigBuilder()
        .demo()
        .data(max_length=64, packing=True)
        .training(
            learning_rate=PEAK,
            lr_scheduler="linear",
            warmup_ratio=0.0,
            batch_size=4,
            logging_steps=1,
            save_steps=1000,
            **training,
        )
    )


def rates(run_id: int) -> dict[int, float]:
    return {p.step: p.learning_rate for p in open_store().metric_points(run_id) if p.learning_rate is not None}


def notes(checkpoint: Path) -> dict[str, float]:
    return json.loads((checkpoint / NOTES).read_text())


def test_a_cancelled_run_resumed_to_a_new_total_goes_on_from_the_learning_rate_it_had(
    tmp_path: Path, demo_model_path: Path
) -> None:
    config = tmp_path / "run.yaml"
    linear_decay().build().save(config)
    # Planned for 200 steps, cancelled a few steps in, then resumed to finish far sooner.
    started = cli_json("train", "-c", str(config), "--max-steps", "200", "--name", "shortened", "--detach")
    run_id = started["run_id"]
    store = open_store()
    wait_for(lambda: len(rates(run_id)) >= 4, timeout=180, interval=0.01, what="four logged steps")
    launcher.cancel(store.get_run(run_id))
    cancelled = wait_for_status(run_id, {CANCELLED})
    checkpoint = Path(cancelled.checkpoint or "")
    stop = files.checkpoint_step(checkpoint)
    total = stop + 12
    # A point's LR is the one its step trained with: step s of 200 took PEAK * (200 - (s - 1)) / 200.
    before = rates(run_id)
    assert before[stop] == pytest.approx(PEAK * (201 - stop) / 200)
    next_rate = PEAK * (200 - stop) / 200  # what the step after the checkpoint was to take
    trained_before = notes(checkpoint)

    resumed = cli_json("resume", str(run_id), "--max-steps", str(total))
    assert resumed["status"] == COMPLETED and resumed["steps_completed"] == total

    # The rest of the decay is stretched over the steps left: the first step after the resume takes
    # the LR it was to take, then it falls evenly to 0 at the new total. (Reshaped for the new
    # total, it would leap from about 0.97 of the peak to 12/(stop+12), about 0.7.)
    after = rates(run_id)
    assert after[stop + 1] == pytest.approx(next_rate)
    for step in range(stop + 1, total + 1):
        assert after[step] == pytest.approx(next_rate * (total + 1 - step) / (total - stop), abs=1e-12), step
    assert any("stretched to step" in event.message for event in store.events(run_id))

    # The run's speed: every token it trained over every second it trained, before and after.
    run = store.get_run(run_id)
    final = notes(Path(run.checkpoint or ""))
    assert final["trained_tokens"] > trained_before["trained_tokens"] > 0
    assert final["trained_seconds"] > trained_before["trained_seconds"] > 0
    assert run.tokens_per_second == pytest.approx(final["trained_tokens"] / final["trained_seconds"])
    logged = [p.tokens_per_second for p in store.metric_points(run_id) if p.tokens_per_second]
    assert run.tokens_per_second is not None and min(logged) <= run.tokens_per_second <= max(logged)
    # Every face reads that one number (`show`, compare, the service, the app).
    assert cli_json("show", str(run_id))["metrics"]["tokens_per_second"] == pytest.approx(run.tokens_per_second)


def test_a_completed_run_trained_further_gets_a_schedule_of_its_own_for_the_extra_steps(
    demo_model_path: Path,
) -> None:
    done = tuitune.train(linear_decay(max_steps=6).name("finished").build())
    assert done.status == COMPLETED
    # Its last step took PEAK/6; after it the linear decay is at 0: nothing is left to stretch.
    assert rates(done.run_id)[6] == pytest.approx(PEAK / 6)

    resumed = cli_json("resume", str(done.run_id), "--max-steps", "12")
    assert resumed["status"] == COMPLETED and resumed["steps_completed"] == 12
    after = rates(done.run_id)
    # Steps 7..12 decay from the peak again, over 6 steps (the 12-step shape would start at 6/12 of it).
    for step in range(7, 13):
        assert after[step] == pytest.approx(PEAK * (13 - step) / 6, abs=1e-12), step
    assert any("the schedule had ended" in event.message for event in open_store().events(done.run_id))
