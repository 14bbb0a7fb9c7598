"""The training screen: live from the store, cancel with confirmation, resume, leave without stopping."""

from __future__ import annotations

import pytest

from tests.helpers import wait_for
from tuitune.config import ConfigBuilder
from tuitune.engine import launcher
from tuitune.store import open_store
from tuitune.tui.app import create_app
from tuitune.tui.sample_runs import SPECS, add_run
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.screens.training import TrainingScreen
from tuitune.tui.testing import screen_text, wait_until
from tuitune.tui.widgets.confirm import ConfirmModal
from tuitune.tui.widgets.prompts import ResumeModal


def _status(run_id: int) -> str:
    return open_store().get_run(run_id).status


@pytest.mark.slow
async def test_a_run_outlives_the_app_is_reattached_cancelled_and_resumed(demo_model_path):
    # Many short epochs, so the cancel lands mid-run; checkpoints every few steps.
    config = (
        ConfigBuilder().demo().method("lora")
        .data(max_samples=40, validation_split=4)
        .training(epochs=40, batch_size=4, logging_steps=1, save_steps=3, eval_steps=1000)
        .build()
    )
    run = launcher.launch(config)
    app = create_app(mode="training", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        app.show_training(run.id)
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_until(pilot, lambda: training.run and training.run.steps_done >= 2, timeout=180, what="training steps")
        text = screen_text(app)
        assert f"#{run.id} demo-lora" in text and "running" in text and "step " in text and "ETA" in text
    # The app is closed: the run goes on.
    steps_at_exit = open_store().get_run(run.id).steps_done
    wait_for(lambda: open_store().get_run(run.id).steps_done > steps_at_exit, timeout=60, what="more steps after the app closed")
    assert _status(run.id) == "running"

    # Reopened: the history, and `t` re-attaches to the running run.
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("t")
        training = app.screen
        await wait_until(pilot, lambda: training.run is not None and training.run.id == run.id, what="the re-attach")
        await wait_until(pilot, lambda: training.query_one("#loss").values, timeout=30, what="the loss sparkline")

        await pilot.press("c")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await wait_until(pilot, lambda: training.run.status == "cancelled", timeout=120, what="the cancel")
        await wait_until(pilot, lambda: "Cancelled after" in screen_text(app), timeout=10, what="the summary")
        cancelled = open_store().get_run(run.id)
        assert cancelled.checkpoint, "a cancelled run keeps a checkpoint to resume from"
        assert cancelled.steps_done < cancelled.steps_total

        await pilot.press("r")
        assert isinstance(app.screen, ResumeModal)
        # A total just above where it stopped (a total at or below it is refused): it finishes soon.
        target = int(cancelled.epoch or 0) + 2
        await pilot.press(*str(target), "enter")
        await wait_until(pilot, lambda: training.run.status == "completed", timeout=240, what="the resumed run to complete")
        await wait_until(pilot, lambda: "Completed after" in screen_text(app), timeout=10, what="the summary")
    finished = open_store().get_run(run.id)
    assert finished.status == "completed" and finished.config["training"]["epochs"] == target


async def test_escape_leaves_the_training_screen_while_the_run_goes_on(tuitune_home):
    spec = next(spec for spec in SPECS if spec.status == "running")
    run = add_run(open_store(), spec)
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")  # the latest running run
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_until(pilot, lambda: training.run is not None and training.query_one("#loss").values, what="the metrics")
        text = screen_text(app)
        assert f"step {spec.steps_done}/{spec.steps_total}" in text and "ETA" in text
        assert len(training.query_one("#loss").values) == spec.steps_done // 10
        await pilot.press("escape")
        assert isinstance(app.screen, HistoryScreen)
        assert _status(run.id) == "running"
        # Back again: the same run, re-attached.
        await pilot.press("t")
        assert app.screen is training and training.run.id == run.id


async def test_without_runs_the_training_screen_says_what_to_do():
    app = create_app(mode="training", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "No run to show" in screen_text(app), what="the hint")
        await pilot.press("c")  # nothing to cancel: no modal
        assert isinstance(app.screen, TrainingScreen)


async def test_at_80_columns_the_progress_line_is_read_in_full():
    # Step, epoch, ETA and elapsed: the bar gives way, the figures never do.
    spec = next(spec for spec in SPECS if spec.status == "running")
    add_run(open_store(), spec)
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        training = app.screen
        await wait_until(pilot, lambda: training.run is not None and training.query_one("#loss").values, what="the metrics")
        text = training.query_one("#progress-text").render().plain
        assert "ETA" in text and "elapsed" in text
        assert text in screen_text(app)
