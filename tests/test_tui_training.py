"""The training screen: live from the store, cancel with confirmation, resume, leave without stopping."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static
from textual.widgets._footer import FooterKey  # what the footer shows a key as (Textual has no public name)

from tests.helpers import wait_for
from tests.tui_steps import current, run_of
from tuitune._dev.pilot import notifications, screen_text, wait_until
from tuitune._dev.sample_runs import SPECS, add_run
from tuitune.config import ConfigBuilder
from tuitune.engine import launcher
from tuitune.store import open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.screens.training import TrainingScreen
from tuitune.tui.widgets.confirm import ConfirmModal
from tuitune.tui.widgets.metric_panel import MetricPanel
from tuitune.tui.widgets.prompts import ResumeModal


def _status(run_id: int) -> str:
    return open_store().get_run(run_id).status


@pytest.mark.slow
async def test_a_run_outlives_the_app_is_reattached_cancelled_and_resumed(demo_model_path):
    # Many short epochs, so the cancel lands mid-run; checkpoints every few steps.
    config = (
        ConfigBuilder()
        .demo()
        .method("lora")
        .data(max_samples=40, validation_split=4)
        .training(epochs=40, batch_size=4, logging_steps=1, save_steps=3, eval_steps=1000)
        .build()
    )
    run = launcher.launch(config)
    app = create_app(mode="training", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        app.show_training(run.id)
        training = current(app, TrainingScreen)
        await wait_until(
            pilot, lambda: training.run and training.run.steps_done >= 2, timeout=180, what="training steps"
        )
        text = screen_text(app)
        assert f"#{run.id} demo-lora" in text and "running" in text and "step " in text and "ETA" in text
    # The app is closed: the run goes on.
    steps_at_exit = open_store().get_run(run.id).steps_done
    wait_for(
        lambda: open_store().get_run(run.id).steps_done > steps_at_exit,
        timeout=60,
        what="more steps after the app closed",
    )
    assert _status(run.id) == "running"

    # Reopened: the history, and `t` re-attaches to the running run.
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("t")
        training = current(app, TrainingScreen)
        await wait_until(pilot, lambda: training.run is not None and training.run.id == run.id, what="the re-attach")
        await wait_until(
            pilot, lambda: training.query_one("#loss", MetricPanel).values, timeout=30, what="the loss sparkline"
        )

        await pilot.press("c")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await wait_until(pilot, lambda: run_of(training).status == "cancelled", timeout=120, what="the cancel")
        await wait_until(pilot, lambda: "Cancelled after" in screen_text(app), timeout=10, what="the summary")
        cancelled = open_store().get_run(run.id)
        assert cancelled.checkpoint, "a cancelled run keeps a checkpoint to resume from"
        assert cancelled.steps_total is not None and cancelled.steps_done < cancelled.steps_total

        await pilot.press("r")
        assert isinstance(app.screen, ResumeModal)
        # A total just above where it stopped (a total at or below it is refused): it finishes soon.
        target = int(cancelled.epoch or 0) + 2
        await pilot.press(*str(target), "enter")
        await wait_until(
            pilot, lambda: run_of(training).status == "completed", timeout=240, what="the resumed run to complete"
        )
        await wait_until(pilot, lambda: "Completed after" in screen_text(app), timeout=10, what="the summary")
    finished = open_store().get_run(run.id)
    assert finished.status == "completed" and finished.config["training"]["epochs"] == target


async def test_escape_leaves_the_training_screen_while_the_run_goes_on(tuitune_home):
    spec = next(spec for spec in SPECS if spec.status == "running")
    run = add_run(open_store(), spec)
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")  # the latest running run
        training = current(app, TrainingScreen)
        await wait_until(
            pilot,
            lambda: training.run is not None and training.query_one("#loss", MetricPanel).values,
            what="the metrics",
        )
        text = screen_text(app)
        assert f"step {spec.steps_done}/{spec.steps_total}" in text and "ETA" in text
        assert len(training.query_one("#loss", MetricPanel).values) == spec.steps_done // 10
        await pilot.press("escape")
        assert isinstance(app.screen, HistoryScreen)
        assert _status(run.id) == "running"
        # Back again: the same run, re-attached.
        await pilot.press("t")
        assert run_of(training).id == run.id and app.screen is training


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
        training = current(app, TrainingScreen)
        await wait_until(
            pilot,
            lambda: training.run is not None and training.query_one("#loss", MetricPanel).values,
            what="the metrics",
        )
        text = str(training.query_one("#progress-text", Static).render())
        assert "ETA" in text and "elapsed" in text
        assert text in screen_text(app)


def _story_run(tuitune_home, name: str, status: str, messages: list[str], **progress):
    """A run written into the real store with its events, as a worker would leave them."""
    store = open_store()
    run = store.create_run(
        name=name,
        config=ConfigBuilder().demo().build().to_dict(),
        model="tuitune/demo",
        method="lora",
        dataset="tuitune/sample",
        status="running",
    )
    store.update_run(
        run.id, output_dir=str(tuitune_home / "runs" / f"{run.id}-{name}"), host="another-host", **progress
    )
    for message in messages:
        store.add_event(run.id, message)
    if status != "running":
        store.set_status(run.id, status)
    return store.get_run(run.id)


async def test_the_training_screen_shows_only_the_run_it_follows_with_its_last_events_in_view(tuitune_home):
    # A finished run with a long story, then a run that has just been launched.
    first_story = [f"checkpoint {n} of the first run saved" for n in range(1, 31)] + ["the first run's final words"]
    first = _story_run(tuitune_home, "first-run", "completed", first_story, steps_done=40, steps_total=40)
    open_store().add_metric_points(first.id, [{"step": 20, "loss": 2.5}, {"step": 40, "loss": 2.1, "eval_loss": 2.3}])
    second = _story_run(tuitune_home, "second-run", "running", ["loading tokenizer tuitune/demo"])
    app = create_app(mode="training", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        training = current(app, TrainingScreen)
        app.show_training(first.id)
        await wait_until(pilot, lambda: "Completed after" in screen_text(app), what="the first run's summary")
        await pilot.pause(0.3)
        text = screen_text(app)
        # The end of the story stays in view above the summary, not hidden under it.
        assert "the first run's final words" in text
        assert "evaluation at step 40: eval loss 2.3000" in text
        assert "[metrics]" not in text  # metric lines belong in the panels above

        app.show_training(second.id)
        await wait_until(
            pilot, lambda: training.run is not None and training.run.id == second.id, what="the second run"
        )
        await wait_until(pilot, lambda: "loading tokenizer tuitune/demo" in screen_text(app), what="its events")
        text = screen_text(app)
        assert "first run" not in text  # no line of the other run
        assert "100%" not in text and "step 0/?" not in text
        assert "starting: loading the model and data" in text


async def test_a_run_that_failed_before_its_first_step_shows_its_whole_error_and_offers_no_resume(tuitune_home):
    error = (
        "instruction_tuning trains on alpaca data (instruction/input/output), but "
        f"{tuitune_home}/data/conversations-with-tools.jsonl is sharegpt: convert it with "
        f"`tuitune data {tuitune_home}/data/conversations-with-tools.jsonl --to alpaca -o out.jsonl`, or use method lora."
    )
    run = _story_run(tuitune_home, "sharegpt-instructions", "running", ["loading tokenizer tuitune/demo"])
    open_store().set_status(run.id, "failed", error=error)
    app = create_app(mode="training", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        training = current(app, TrainingScreen)
        app.show_training(run.id)
        await wait_until(pilot, lambda: "Failed after 0 steps" in screen_text(app), what="the summary")
        text = screen_text(app)
        # The whole message, wrapped inside the summary box: every word of it is on screen.
        on_screen = "".join(text.replace("│", "").split())
        assert "".join(error.split()) in on_screen
        # Resuming would fail the same way: no resume is offered, and nothing claims a checkpoint.
        assert "checkpoint" not in text and "r resume" not in text.lower()
        assert "r" not in {key.key for key in training.query("FooterKey").results(FooterKey)}
        assert "n start a new run with the problem fixed" in text


def _crashed_before_a_checkpoint(max_steps: int = 40):
    """A real run (folder, config.yaml) whose worker died at step 12, before its first save."""
    config = (
        ConfigBuilder()
        .demo()
        .method("lora")
        .data(max_samples=16, validation_split=0)
        .training(max_steps=max_steps, batch_size=4, logging_steps=1, save_steps=1000)
        .build()
    )
    run = launcher.create_run(config)
    store = open_store()
    store.set_status(run.id, "running")
    store.update_run(run.id, steps_done=12, steps_total=max_steps, host="another-host", pid=None)
    store.set_status(run.id, "crashed", error="The worker process exited without reporting; see its log.")
    return store.get_run(run.id)


async def test_resume_says_where_it_starts_from_a_checkpoint_or_from_step_0():
    run = _crashed_before_a_checkpoint()
    app = create_app(mode="training", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        app.show_training(run.id)
        await wait_until(pilot, lambda: "Crashed after 12 steps" in screen_text(app), what="the summary")
        text = screen_text(app)
        assert "r resume: no checkpoint yet, it starts from step 0" in text
        assert "last checkpoint" not in text
        await pilot.press("r")
        modal = await wait_until(
            pilot, lambda: isinstance(app.screen, ResumeModal) and app.screen, what="the resume dialog"
        )
        assert "No checkpoint yet: resume starts from step 0" in " ".join(screen_text(app).split())
        await pilot.press("escape")
        # A checkpoint appears (saved by an earlier session): both now say it resumes from there.
        checkpoint = Path(run.output_dir) / "checkpoints" / "checkpoint-10"
        checkpoint.mkdir(parents=True)
        (checkpoint / "trainer_state.json").write_text('{"global_step": 10, "epoch": 2.5}')
        await wait_until(
            pilot, lambda: "from the checkpoint at step 10" in screen_text(app), timeout=10, what="the new summary"
        )
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ResumeModal), what="the resume dialog")
        assert "It continues from its checkpoint at step 10" in " ".join(screen_text(app).split())
        assert modal is not app.screen


@pytest.mark.slow
async def test_resuming_without_a_checkpoint_says_so_and_starts_from_step_0(demo_model_path):
    run = _crashed_before_a_checkpoint(max_steps=3)
    app = create_app(mode="training", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        training = current(app, TrainingScreen)
        app.show_training(run.id)
        await wait_until(pilot, lambda: "Crashed after 12 steps" in screen_text(app), what="the summary")
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ResumeModal), what="the resume dialog")
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: any("Resuming" in text for text in notifications(app)), timeout=30, what="the toast"
        )
        assert f"Resuming {run.name} from step 0 (no checkpoint yet)." in notifications(app)
        await wait_until(pilot, lambda: run_of(training).status == "completed", timeout=240, what="the resumed run")
        losses = [p.loss for p in open_store().metric_points(run.id) if p.loss is not None]
        # The screen followed the resume through the run feed: the dropped points left its chart,
        # and each new one is drawn once.
        await wait_until(
            pilot,
            lambda: training.query_one("#loss", MetricPanel).values == losses,
            what="the chart of the resumed run",
        )
    finished = open_store().get_run(run.id)
    # What it said is what happened: the run trained from step 0, its old points were dropped.
    assert finished.steps_done == 3
    assert [p.step for p in open_store().metric_points(run.id)] == [1, 2, 3]
