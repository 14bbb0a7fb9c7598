"""The queue and sweeps in the app: a night of experiments waits in line in the history, moves
with [ and ], pauses and takes more slots from the palette; a queued run's training screen says
where it stands and follows it when it starts; the wizard adds a run to the queue; a sweep is a
filter, and compares as a whole."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from tests.tui_steps import current, row, run_of, shown
from tuitune._dev.pilot import notifications, screen_text, wait_until
from tuitune._dev.sample_runs import populate
from tuitune.config import ConfigBuilder, RunConfig
from tuitune.engine import launcher, queue
from tuitune.store import CANCELLED, COMPLETED, RUNNING, open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.compare import CompareScreen
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.screens.training import TrainingScreen
from tuitune.tui.screens.wizard import WizardScreen
from tuitune.tui.screens.wizard_steps.model_step import ModelStep
from tuitune.tui.widgets.prompts import AskModal


def tiny(name: str, steps: int = 2) -> RunConfig:
    return (
        ConfigBuilder()
        .demo()
        .name(name)
        .method("full_finetuning")
        .data(max_length=64)
        .training(max_steps=steps, logging_steps=1, save_steps=1000)
        .build()
    )


def _status_cell(history: HistoryScreen, run_id: int) -> str:
    return row(history.table, run_id).cells[3]


def _places() -> list[str]:
    return [run.name for run in open_store().queued_runs()]


async def _palette(pilot, command: str) -> None:
    await pilot.press("ctrl+p", *command)
    await wait_until(pilot, lambda: command in screen_text(pilot.app), what=f"the palette's {command!r}")
    await pilot.press("enter")


async def test_queued_runs_show_their_place_move_with_brackets_and_the_queue_takes_more_slots(tuitune_home: Path):
    queue.set_slots(1)
    queue.pause()  # fill the line first: nothing starts while it is paused
    runs = [queue.enqueue(tiny(f"night-{index}")) for index in (1, 2, 3)]
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = current(app, HistoryScreen)
        assert isinstance(history, HistoryScreen)
        await wait_until(pilot, lambda: history.table.total_count == 3, what="the runs")
        assert [_status_cell(history, run.id) for run in runs] == ["queued 1/3", "queued 2/3", "queued 3/3"]
        text = screen_text(app)
        assert "queued 3/3" in text and "queue: 3 waiting for 1 slot, paused" in text

        # The last one in line goes up twice, then down once.
        history.table.move_to(runs[2].id)
        await pilot.pause()
        assert "[ Earlier" in screen_text(app) and "] Later" in screen_text(app)  # offered for a waiting run
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: _status_cell(history, runs[2].id) == "queued 2/3", what="one place up")
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: _status_cell(history, runs[2].id) == "queued 1/3", what="the front of the line")
        assert _places() == ["night-3", "night-1", "night-2"]
        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: _status_cell(history, runs[2].id) == "queued 2/3", what="one place down")
        assert _places() == ["night-1", "night-3", "night-2"]
        assert _status_cell(history, runs[0].id) == "queued 1/3" and _status_cell(history, runs[1].id) == "queued 3/3"

        # Two runs at once from now on (still paused, so still nothing starts).
        await _palette(pilot, "Queue slots (now 1)")
        modal = await wait_until(
            pilot, lambda: isinstance(app.screen, AskModal) and app.screen, what="the slots dialog"
        )
        await pilot.press("ctrl+u", "9", "9", "enter")
        assert "Slots must be a whole number from 1 to 64." in screen_text(app)
        await pilot.press("ctrl+u", "2", "enter")
        await wait_until(pilot, lambda: queue.slots() == 2, what="two slots")
        assert modal is not app.screen
        await wait_until(
            pilot, lambda: "queue: 3 waiting for 2 slots, paused" in screen_text(app), what="the queue line"
        )
        assert all(run.in_queue for run in open_store().queued_runs())
    assert not notifications(app, "error")


async def test_t_on_a_finished_run_opens_the_running_run_not_a_newer_one_waiting_in_line(tuitune_home: Path):
    # An afternoon of runs, one of them training; then a run waits in the (paused) queue.
    runs = populate(open_store(), output_root=str(tuitune_home / "runs"))
    training_run = next(run for run in runs if run.status == RUNNING)
    finished = next(run for run in runs if run.status == COMPLETED)
    queue.pause()
    waiting = queue.enqueue(tiny("waiting-in-line"))
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = current(app, HistoryScreen)
        await wait_until(pilot, lambda: history.table.total_count == len(runs) + 1, what="the runs")
        history.table.move_to(finished.id)
        await pilot.press("t")  # on a completed run: the newest running run, as the README says
        training = current(app, TrainingScreen)
        await wait_until(pilot, lambda: training.run is not None, what="the run it follows")
        assert run_of(training).id == training_run.id and training_run.name in screen_text(app)

        # The waiting run's screen, opened from its row; then t on a finished run again.
        await pilot.press("h")
        history.table.move_to(waiting.id)
        await pilot.press("t")
        await wait_until(
            pilot, lambda: training.run is not None and training.run.id == waiting.id, what="the queued run"
        )
        await pilot.press("h")
        history.table.move_to(finished.id)
        await pilot.press("t")
        await wait_until(
            pilot, lambda: training.run is not None and training.run.id == training_run.id, what="the running run"
        )
    assert not notifications(app, "error")


@pytest.mark.slow
async def test_a_queued_runs_training_screen_says_where_it_stands_and_follows_it_when_it_starts(demo_model_path):
    queue.set_slots(1)
    queue.pause()
    first, second = queue.enqueue(tiny("first")), queue.enqueue(tiny("second"))
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        app.show_training(second.id)
        training = current(app, TrainingScreen)
        await wait_until(
            pilot, lambda: "queued, position 2 of 2 (waiting for a free slot)" in screen_text(app), what="its place"
        )
        assert "the queue is paused" in screen_text(app)
        assert not training.query_one("#progress").display  # no empty bar: where it stands instead

        # To the front of the line from the history, back to its screen, and the queue moves.
        await pilot.press("h")
        history = current(app, HistoryScreen)
        history.table.move_to(second.id)
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: _places() == ["second", "first"], what="second first in line")
        await pilot.press("t")
        await wait_until(pilot, lambda: "queued, position 1 of 2" in screen_text(app), what="its new place")
        launcher.cancel(first)  # changed our mind about the other one: the line is this run alone
        await wait_until(pilot, lambda: "queued, position 1 of 1" in screen_text(app), what="the shorter line")
        await _palette(pilot, "Unpause the queue")
        await wait_until(
            pilot,
            lambda: training.run is not None and training.run.status in (RUNNING, COMPLETED),
            timeout=120,
            what="the run to start",
        )
        await wait_until(pilot, lambda: run_of(training).status == COMPLETED, timeout=180, what="the run to finish")
        await wait_until(pilot, lambda: "Completed after 2 steps" in screen_text(app), what="the summary")
        assert run_of(training).id == second.id and training.query_one("#progress").display
        assert open_store().get_run(first.id).status == CANCELLED
    assert not notifications(app, "error")


@pytest.mark.integration  # the wizard reads the model in the app's helper process
async def test_the_wizard_adds_a_run_to_the_queue_and_shows_its_place(demo_model_path):
    queue.pause()
    waiting = queue.enqueue(tiny("already-waiting"))
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = current(app, WizardScreen)
        await wait_until(
            pilot, lambda: wizard.query_one("#model-step", ModelStep).document, timeout=120, what="the demo model"
        )
        wizard.go_to("review")
        await wait_until(
            pilot, lambda: "Checked" in str(wizard.query_one("#review-check").render()), timeout=120, what="the check"
        )
        assert "Add to queue" in screen_text(app)
        await pilot.press("ctrl+g")
        training = await shown(pilot, TrainingScreen, what="the training screen")
        await wait_until(
            pilot, lambda: "queued, position 2 of 2 (waiting for a free slot)" in screen_text(app), what="its place"
        )
        queued = open_store().queued_runs()
        assert [run.id for run in queued] == [waiting.id, run_of(training).id]
        assert any("is queued, position 2 of 2" in message for message in notifications(app))
    assert not notifications(app, "error")


def _sweep_runs(store, sweep_id: int, names: list[str]) -> list[int]:
    ids = []
    for name in names:
        run = store.create_run(
            name=name,
            config=tiny(name).to_dict(),
            model="tuitune/demo",
            method="lora",
            dataset="tuitune/sample",
            status=COMPLETED,
            sweep_id=sweep_id,
        )
        store.update_run(run.id, steps_done=2, steps_total=2, last_loss=1.0)
        ids.append(run.id)
    return ids


async def test_a_sweep_is_a_filter_and_compares_as_a_whole(tuitune_home: Path):
    store = open_store()
    for _ in range(2):
        store.create_sweep(name="placeholder", base_config={}, grid={})
    sweep = store.create_sweep(
        name="lr-grid", base_config=tiny("base").to_dict(), grid={"training.learning_rate": [1e-4, 2e-4, 5e-4]}
    )
    members = _sweep_runs(store, sweep.id, ["lr-1e-4", "lr-2e-4", "lr-5e-4"])
    # Sweep 31 must not match sweep:3.
    while store.create_sweep(name="later", base_config={}, grid={}).id < 31:
        pass
    outsider = _sweep_runs(store, 31, ["other-sweep"])[0]
    store.create_run(
        name="alone", config=tiny("alone").to_dict(), model="tuitune/demo", method="lora", dataset="d", status=COMPLETED
    )
    assert sweep.id == 3

    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = current(app, HistoryScreen)
        await wait_until(pilot, lambda: history.table.total_count == 5, what="the runs")
        await pilot.press("slash", *"sweep:3", "enter")
        assert sorted(cast(int, key) for key in history.table.shown_keys) == members
        assert outsider not in history.table.shown_keys
        assert "sweep 3 lr-grid (v compares them all)" in screen_text(app)
        await pilot.press("v")
        compare = await shown(pilot, CompareScreen, what="the comparison")
        assert compare.run_ids == members
        await pilot.press("escape")

        # From anywhere, by name, in the palette.
        await pilot.press("escape")  # the filter is cleared
        assert history.table.row_count == 5
        await _palette(pilot, "Compare sweep 3 lr-grid")
        compare = await shown(pilot, CompareScreen, what="the comparison")
        assert compare.run_ids == members
    assert not notifications(app, "error")
