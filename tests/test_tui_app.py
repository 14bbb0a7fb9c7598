"""App-wide: modes and their keys, the command palette, help, themes, screenshots, crash detection."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input
from textual.widgets._footer import FooterKey  # what the footer shows a key as (Textual has no public name)

from tests.tui_steps import current, row, shown
from tuitune._dev.pilot import notifications, screen_text, wait_until
from tuitune._dev.sample_runs import SPECS, add_run, populate
from tuitune.store import open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.detail import RunDetailScreen
from tuitune.tui.screens.help import HelpScreen, binding_reference
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.screens.training import TrainingScreen
from tuitune.tui.screens.wizard import WizardScreen


@pytest.mark.integration  # the wizard reads the model in the app's helper process
async def test_n_h_and_t_switch_between_the_three_modes():
    populate(open_store())
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("n")
        assert isinstance(app.screen, WizardScreen) and app.current_mode == "new"
        await pilot.press("escape")  # first step: nowhere to go back to
        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("t")
        assert isinstance(app.screen, TrainingScreen)
        await wait_until(pilot, lambda: app.screen.run is not None, what="the running run")
        assert app.screen.run.name == "qwen-support-dora"


@pytest.mark.integration  # the wizard reads the model in the app's helper process
async def test_typing_in_a_field_never_triggers_a_global_key():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#model-input").focus()
        await pilot.press("end", *"/qhtn")
        assert isinstance(app.screen, WizardScreen)
        assert app.screen.query_one("#model-input", Input).value.endswith("/qhtn")


@pytest.mark.integration  # the wizard reads the model in the app's helper process
async def test_the_command_palette_runs_actions_and_opens_runs_by_name():
    runs = populate(open_store())
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"new run")
        await wait_until(pilot, lambda: "New run" in screen_text(app), what="the hit")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, WizardScreen), what="the wizard")
        await pilot.press("ctrl+p")
        await pilot.press(*"llama3")
        await wait_until(pilot, lambda: "Open run 3 llama3-8b-qlora" in screen_text(app), what="the run hit")
        await pilot.press("enter")
        detail = await shown(pilot, RunDetailScreen, what="the detail")
        assert detail.run_id == next(run.id for run in runs if run.name == "llama3-8b-qlora")


@pytest.mark.integration  # the wizard reads the model in the app's helper process
async def test_help_lists_every_key_of_every_screen():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("escape")  # out of the model field, where ? would be typed
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "New run" in text and "Screenshot" in text
        await pilot.press("escape")
        assert isinstance(app.screen, WizardScreen)
    sections = {section for section, *_ in binding_reference()}
    assert sections == {"Everywhere", "New run (wizard)", "Training", "History", "Run detail", "Compare", "Chat"}


@pytest.mark.integration  # the wizard reads the model in the app's helper process
async def test_ctrl_t_switches_the_theme_and_ctrl_s_saves_an_svg(tmp_path: Path):
    app = create_app(mode="new", screenshot_dir=tmp_path / "shots", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        before = app.theme
        await pilot.press("ctrl+t")
        assert app.theme != before
        await pilot.press("ctrl+s")
        await pilot.pause()
    svgs = list((tmp_path / "shots").glob("*.svg"))
    assert len(svgs) == 1 and svgs[0].read_text().startswith("<svg")
    assert any("Screenshot saved" in text for text in notifications(app))


async def test_ctrl_s_saves_a_screenshot_of_every_dialog_too(tmp_path: Path):
    runs = populate(open_store(), output_root=str(tmp_path / "runs"))
    finished = next(run for run in runs if run.status == "completed")
    shots = tmp_path / "shots"
    app = create_app(screenshot_dir=shots, reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = current(app, HistoryScreen)
        await wait_until(pilot, lambda: history.table.total_count == len(runs), what="the runs")
        history.table.move_to(finished.id)
        # Delete, resume, sort, help, messages and the command palette: each is a modal screen.
        for count, key in enumerate(("d", "r", "s", "question_mark", "exclamation_mark", "ctrl+p"), start=1):
            await pilot.press(key)
            dialog = await wait_until(pilot, lambda: app.screen is not history and app.screen, what=f"the {key} dialog")
            await pilot.press("ctrl+s")

            def saved(shots_expected: int = count) -> bool:
                return len(list(shots.glob("*.svg"))) == shots_expected

            await wait_until(pilot, saved, timeout=10, what="the SVG")
            assert app.screen is dialog  # the dialog stays open: ctrl+s did nothing else
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is history, what="the history again")
    assert sum("Screenshot saved" in text for text in notifications(app)) == 6


async def test_a_run_whose_worker_vanished_is_marked_crashed():
    spec = next(spec for spec in SPECS if spec.status == "running")
    run = add_run(open_store(), spec)
    # Its worker "ran" on this machine under a pid that no longer exists.
    import socket

    open_store().update_run(run.id, host=socket.gethostname(), pid=2**22 + 12345)
    app = create_app(reconcile_seconds=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(
            pilot, lambda: open_store().get_run(run.id).status == "crashed", timeout=30, what="crash detection"
        )
        await wait_until(pilot, lambda: any("crashed" in t for t in notifications(app, "error")), what="the notice")
        history = current(app, HistoryScreen)
        await wait_until(pilot, lambda: row(history.table, run.id).cells[3] == "crashed", timeout=10, what="the row")


async def test_a_damaged_store_is_explained_instead_of_crashing(tuitune_home):
    (tuitune_home / "tuitune.db").write_bytes(b"this is not a database" * 100)
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: notifications(app, "error"), what="the error")
        assert isinstance(app.screen, HistoryScreen)
        assert any("damaged" in text for text in notifications(app, "error"))


async def test_at_80_columns_the_footer_keeps_help_and_quit_and_cuts_no_key_in_half():
    populate(open_store())
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.screen.query("FooterKey"), what="the footer")
        footer = screen_text(app).splitlines()[-1]
        assert "? Help" in footer and "q Quit" in footer and "^p palette" in footer
        assert "⏎ Open" in footer  # the screen's own keys come first
        shown = {key.key for key in app.screen.query("FooterKey").results(FooterKey)}
        assert "d" not in shown  # no room at 80 columns: left out whole, still in the help
        await pilot.resize_terminal(140, 36)
        await wait_until(pilot, lambda: "d Delete" in screen_text(app).splitlines()[-1], what="the wider footer")
