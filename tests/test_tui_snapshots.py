"""What the main screens draw at 80x24, compared with the accepted SVG snapshots (pytest-textual-snapshot).

A visual change fails here until it is looked at and accepted with `pytest tests/test_tui_snapshots.py
--snapshot-update` (then review the SVGs under tests/__snapshots__/ in the diff). Everything a
screen shows is made the same on every machine: the store's clock is frozen, the time zone is
UTC, run folders are under /home/you/runs, the runs come from `tuitune._dev.sample_runs` (no
training, so no machine-dependent losses), and no cursor blinks.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from textual.widgets import Input, TabbedContent

from tests.tui_steps import shown
from tuitune._dev.pilot import wait_until
from tuitune._dev.sample_runs import SPECS, add_run
from tuitune.store import clock, open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.compare import CompareScreen
from tuitune.tui.screens.detail import RunDetailScreen

SIZE = (80, 24)
FROZEN = datetime(2025, 3, 14, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def frozen_clock():
    """The store's clock stands still and times are shown in UTC."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "now", lambda: FROZEN.timestamp())
        patch.setenv("TZ", "UTC")
        time.tzset()
        yield
    time.tzset()


@pytest.fixture
def afternoon(frozen_clock):
    """The sample afternoon of runs, all of them finished (a live run's elapsed time would tick)."""
    store = open_store()
    runs = [
        add_run(store, spec, now=FROZEN, output_root="/home/you/runs") for spec in SPECS if spec.status != "running"
    ]
    return {run.name: run for run in runs}


def _app():
    return create_app(reconcile_seconds=None)


async def _still(pilot) -> None:
    """No cursor and no toast in a snapshot: both come and go with time."""
    for field in pilot.app.query(Input):
        field.cursor_blink = False
    if isinstance(pilot.app.focused, Input):
        pilot.app.set_focus(None)  # a focused field draws its cursor, visible or not by the clock
    pilot.app.clear_notifications()
    await pilot.pause()


async def _history_loaded(pilot):
    history = pilot.app.screen
    await wait_until(pilot, lambda: history.table.total_count, what="the runs")
    await _still(pilot)
    return history


def test_history(snap_compare, afternoon):
    assert snap_compare(_app(), terminal_size=SIZE, run_before=_history_loaded)


def test_history_sort_menu(snap_compare, afternoon):
    assert snap_compare(_app(), terminal_size=SIZE, run_before=_history_loaded, press=["s"])


def test_delete_dialog(snap_compare, afternoon):
    async def run_before(pilot):
        history = await _history_loaded(pilot)
        history.table.move_to(afternoon["smollm-full"].id)

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before, press=["d"])


def _detail(run_name: str, tab: str):
    async def run_before(pilot):
        await _history_loaded(pilot)
        app = pilot.app
        app.open_run(pilot.app.service.store.find_run(run_name).id)
        detail = await shown(pilot, RunDetailScreen, lambda screen: screen.run, what="the detail")
        detail.query_one("#detail-tabs", TabbedContent).active = tab
        await pilot.pause(0.2)

    return run_before


def test_detail_overview(snap_compare, afternoon):
    assert snap_compare(_app(), terminal_size=SIZE, run_before=_detail("mistral-7b-qlora", "overview"))


def test_detail_charts(snap_compare, afternoon):
    assert snap_compare(_app(), terminal_size=SIZE, run_before=_detail("qwen-support-lora", "charts"))


def test_detail_evaluations(snap_compare, afternoon):
    assert snap_compare(_app(), terminal_size=SIZE, run_before=_detail("qwen-support-lora", "evaluations"))


def _compare(tab: str):
    async def run_before(pilot):
        history = await _history_loaded(pilot)
        for name in ("qwen-support-lora", "qwen-support-r32"):
            history.table.move_to(pilot.app.service.store.find_run(name).id)
            await pilot.press("space")
        await pilot.press("v")
        compare = await shown(pilot, CompareScreen, lambda screen: screen.comparison, what="the comparison")
        compare.query_one("#compare-tabs", TabbedContent).active = tab
        await pilot.pause(0.2)

    return run_before


def test_compare_curves(snap_compare, afternoon):
    assert snap_compare(_app(), terminal_size=SIZE, run_before=_compare("curves"))


def test_compare_config_diff(snap_compare, afternoon):
    assert snap_compare(_app(), terminal_size=SIZE, run_before=_compare("diff"))


def _training(run_name: str):
    async def run_before(pilot):
        await _history_loaded(pilot)
        app = pilot.app
        app.show_training(app.service.store.find_run(run_name).id)

        def summarised() -> bool:
            return any("after" in str(widget.render()) for widget in app.screen.query("#summary"))

        await wait_until(pilot, summarised, what="the summary")
        await pilot.pause(0.2)

    return run_before


def test_training_completed(snap_compare, afternoon):
    assert snap_compare(_app(), terminal_size=SIZE, run_before=_training("qwen-support-lora"))


def test_training_failed(snap_compare, afternoon):
    assert snap_compare(_app(), terminal_size=SIZE, run_before=_training("mistral-7b-qlora"))


# --- the wizard, with the demo model read by the probe process --------------------------------
def _wizard(step: str):
    async def run_before(pilot):
        app = pilot.app
        wizard = app.screen
        model = wizard.query_one("#model-step")
        await wait_until(pilot, lambda: model.document, timeout=120, what="the demo model's description")
        choices = wizard.query_one("#model-choices")
        await wait_until(pilot, lambda: choices.highlighted is not None, what="the model list")
        if step == "method":
            wizard.go_to("method")
            await pilot.pause()
            wizard.query_one("#advanced").collapsed = False
            await pilot.pause()
            for field, text in (("#field-training-epochs", "0"), ("#field-lora-dropout", "1.5")):
                wizard.query_one(field).value = text
            wizard.query_one("#next").focus()
            await pilot.press("enter")  # refused: both fields say why, the first has the focus
        elif step == "review":
            wizard.go_to("review")
            await wait_until(
                pilot,
                lambda: "Checked" in str(wizard.query_one("#review-check").render()),
                timeout=120,
                what="the check",
            )
            wizard.query_one("#review-yaml").scroll_home(animate=False)
        await _still(pilot)
        await pilot.pause(0.2)

    return run_before


@pytest.mark.integration  # the wizard reads the model in the app's helper process
def test_wizard_model_step(snap_compare, frozen_clock, demo_model_path):
    assert snap_compare(create_app(mode="new", reconcile_seconds=None), terminal_size=SIZE, run_before=_wizard("model"))


@pytest.mark.integration  # the wizard reads the model in the app's helper process
def test_wizard_method_step_with_two_invalid_fields(snap_compare, frozen_clock, demo_model_path):
    assert snap_compare(
        create_app(mode="new", reconcile_seconds=None), terminal_size=SIZE, run_before=_wizard("method")
    )


@pytest.mark.integration  # the wizard reads the model in the app's helper process
def test_wizard_review_step(snap_compare, frozen_clock, demo_model_path):
    assert snap_compare(
        create_app(mode="new", reconcile_seconds=None), terminal_size=SIZE, run_before=_wizard("review")
    )


# --- the queue: places in line, and a queued run's training screen ------------------------------
@pytest.fixture
def night_queue(afternoon):
    """Three runs waiting in a paused queue, behind the afternoon's finished runs."""
    from tuitune.config import ConfigBuilder
    from tuitune.engine import queue

    queue.set_slots(1)
    queue.pause()
    config = ConfigBuilder().demo().method("lora").training(max_steps=100)
    return [queue.enqueue(config.name(f"night-{index}").build()) for index in (1, 2, 3)]


def test_history_with_a_queue(snap_compare, night_queue):
    async def run_before(pilot):
        history = await _history_loaded(pilot)
        history.table.move_to(night_queue[1].id)
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)


def test_training_queued(snap_compare, night_queue):
    async def run_before(pilot):
        await _history_loaded(pilot)
        app = pilot.app
        app.show_training(night_queue[1].id)

        def place() -> bool:
            return any("position 2 of 3" in str(label.render()) for label in app.screen.query("#progress-text"))

        await wait_until(pilot, place, what="its place")
        await pilot.pause(0.2)

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)
