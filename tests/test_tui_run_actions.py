"""The run actions' one table: the same key does the same thing on every screen, what does not
apply is not offered, the user's keymap rebinds an action everywhere, a bad keymap is explained
and the app goes on, and the help and the palette list the table."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from textual.app import App
from textual.screen import Screen
from textual.widgets import Static

from tests.tui_steps import current, run_of, shown
from tuitune._dev.pilot import notifications, screen_text, wait_until
from tuitune._dev.sample_runs import populate
from tuitune.config import ConfigBuilder
from tuitune.engine import launcher
from tuitune.errors import KeymapError
from tuitune.store import Run, open_store
from tuitune.tui.app import create_app
from tuitune.tui.keymap import is_keys, read_keymap
from tuitune.tui.run_actions import RUN_ACTIONS
from tuitune.tui.screens.detail import RunDetailScreen
from tuitune.tui.screens.help import HelpScreen, binding_reference
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.screens.training import TrainingScreen
from tuitune.tui.widgets.confirm import ConfirmModal
from tuitune.tui.widgets.prompts import ResumeModal, UploadModal
from tuitune.tui.wording import for_the_app


@pytest.fixture
def runs(tuitune_home: Path) -> dict[str, Run]:
    return {run.name: run for run in populate(open_store(), output_root=str(tuitune_home / "runs"))}


def _keymap(home: Path, text: str) -> Path:
    path = home / "keymap.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def _history(pilot) -> HistoryScreen:
    history = pilot.app.screen
    assert isinstance(history, HistoryScreen)
    await wait_until(pilot, lambda: history.table.total_count > 0, what="the runs to load")
    return history


def _showing(app: App, screen: Screen) -> Callable[[], bool]:
    return lambda: app.screen is screen


def _on_screen(app: App, text: str) -> Callable[[], bool]:
    return lambda: text in screen_text(app)


async def _on(pilot, screen: str, run: Run) -> HistoryScreen | RunDetailScreen | TrainingScreen:
    """The history with `run` under the cursor, its detail, or its training screen."""
    app = pilot.app
    app.action_history()
    history = await _history(pilot)
    if screen == "history":
        app.action_history()
        await wait_until(pilot, lambda: app.screen is history, what="the history")
        history.table.move_to(run.id)
        await wait_until(pilot, lambda: (selected := history.selected_run()) and selected.id == run.id, what="the row")
        return history
    kind: type[RunDetailScreen | TrainingScreen]
    if screen == "detail":
        app.open_run(run.id)
        kind = RunDetailScreen
    else:
        app.show_training(run.id)
        kind = TrainingScreen
    return await shown(
        pilot, kind, lambda shown: shown.run is not None and shown.run.id == run.id, what=f"the {screen} of {run.name}"
    )


def _help_text(app) -> str:
    """The whole help, scrolled or not."""
    console = Console(width=120, file=io.StringIO(), record=True)
    console.print(app.screen.query_one(Static).content)
    return console.export_text()


def _footer_keys(app) -> set[str]:
    return {key.key for key in app.screen.query("FooterKey")}


SCREENS = ("history", "detail", "training")


async def test_the_same_key_does_the_same_action_on_the_history_the_detail_and_the_training_screen(runs):
    running, completed = runs["qwen-support-dora"], runs["qwen-support-lora"]
    # key, the run it applies to, the dialog it opens, words in that dialog.
    cases = (
        ("c", running, ConfirmModal, f"Stop {running.name}?"),
        ("m", completed, ConfirmModal, f"Merge {completed.name}?"),
        ("u", completed, UploadModal, "Upload"),
        ("r", completed, ResumeModal, completed.name),
    )
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        for screen_name in SCREENS:
            for key, run, dialog, words in cases:
                screen = await _on(pilot, screen_name, run)
                await pilot.press(key)
                opened = await shown(pilot, dialog, what=f"{key} on the {screen_name}")
                assert words in screen_text(app), (screen_name, key)
                await pilot.press("escape")
                await wait_until(pilot, _showing(app, screen), what="the screen again")
                assert opened is not screen
    # Nothing was done: every dialog was closed without a yes.
    assert not open_store().get_run(running.id).cancel_requested


async def test_an_action_that_does_not_apply_is_hidden_on_a_runs_screen_and_refused_with_words_in_the_history(runs):
    completed, failed = runs["qwen-support-lora"], runs["mistral-7b-qlora"]
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(140, 36)) as pilot:
        # A completed run has nothing to cancel: its screens do not offer it, and c does nothing there.
        for screen_name in ("detail", "training"):
            screen = await _on(pilot, screen_name, completed)
            assert "c" not in _footer_keys(app) and {"e", "u", "r"} <= _footer_keys(app), screen_name
            await pilot.press("c")
            assert app.screen is screen
        # A failed run is not evaluated, merged, uploaded or chatted with: not offered.
        await _on(pilot, "detail", failed)
        assert not {"e", "m", "u", "a"} & _footer_keys(app)
        # The history offers every action for every row, and says why one does not apply.
        history = await _on(pilot, "history", completed)
        assert {"c", "e", "m", "u", "d"} <= _footer_keys(app)
        await pilot.press("c")
        assert app.screen is history
        assert any(f"Run {completed.id} is completed: nothing to cancel." in t for t in notifications(app, "warning"))
        await pilot.press("v")  # compare, with nothing marked
        assert any("Mark two or more runs with space, then press v" in t for t in notifications(app, "warning"))


async def test_a_keymap_file_rebinds_an_action_on_every_screen(runs, tuitune_home: Path):
    _keymap(tuitune_home, '[keys]\ncancel = "ctrl+x"\ncompare = "C"\n')
    running, completed = runs["qwen-support-dora"], runs["qwen-support-lora"]
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        assert app.keymap == {"cancel": "ctrl+x", "compare": "C"}
        assert not notifications(app, "warning") and not notifications(app, "error")
        for screen_name in SCREENS:
            screen = await _on(pilot, screen_name, running)
            await pilot.press("c")  # the old key does nothing now
            assert app.screen is screen, screen_name
            bound = app.screen.active_bindings
            assert "c" not in bound and bound["ctrl+x"].binding.id == "cancel", screen_name
            if screen_name != "history":  # its footer gives way at 120 columns before the last key
                assert "^x Cancel run" in screen_text(app).splitlines()[-1], screen_name
            await pilot.press("ctrl+x")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), what=f"ctrl+x on the {screen_name}")
            await pilot.press("n")
        history = await _on(pilot, "history", completed)
        assert isinstance(history, HistoryScreen)
        # Words that name a key name the user's.
        history.table.move_to(running.id)
        await pilot.press("d")
        assert any("cancel it (ctrl+x) before deleting it" in t for t in notifications(app, "warning"))
        await pilot.press("C")
        assert any("then press C to compare them" in t for t in notifications(app, "warning"))
        # The help says so too.
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = [line for line in _help_text(app).splitlines() if "Cancel run" in line]
        assert len(rows) == 3 and all(line.split()[0] == "ctrl+x" for line in rows)
    assert not open_store().get_run(running.id).cancel_requested


async def test_advice_from_the_layers_below_names_the_users_keys(runs, tuitune_home: Path):
    """The engine says `tuitune resume 4` and `pass --token`; the app says which key does it, the
    user's when their keymap moved it."""
    _keymap(tuitune_home, '[keys]\nresume = "ctrl+r"\nupload = "U"\n')
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)):
        app.notify("Worker crashed; see its log, then `tuitune resume 4`.", severity="warning")
        app.notify("No Hugging Face token: run `hf auth login`, set HF_TOKEN, or pass --token.", severity="error")
        said = " ".join(notifications(app))
    assert "resume it with ctrl+r" in said and "upload dialog (U)" in said
    assert "tuitune resume" not in said and "--token" not in said
    assert for_the_app("then `tuitune resume 4`") == "resume it with r"  # no keymap: the app's own keys


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[keys]\ncancel = ctrl+x\n", "is not valid TOML"),
        ("cancel = 'ctrl+x'\n", "has 'cancel': it holds one [keys] table"),
    ],
)
async def test_a_keymap_file_that_cannot_be_used_is_explained_and_the_app_runs_with_its_own_keys(
    runs, tuitune_home: Path, text: str, said: str
):
    path = _keymap(tuitune_home, text)
    running = runs["qwen-support-dora"]
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(pilot, lambda: notifications(app, "error"), what="the error")
        error = notifications(app, "error")[0]
        assert error.startswith("Your keymap was not used:") and said in error and str(path) in error
        assert app.keymap == {}
        await _on(pilot, "history", running)
        await pilot.press("c")  # the default key works
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the stop dialog")
        await pilot.press("n")


async def test_unknown_action_ids_and_unreadable_keys_are_named_and_the_rest_is_used(runs, tuitune_home: Path):
    _keymap(
        tuitune_home,
        '[keys]\ncancle = "x"\nresume = "ctrl+"\nevaluate = "E"\nhistory-filter = "f"\n',
    )
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(pilot, lambda: notifications(app, "warning"), what="the warning")
        warning = notifications(app, "warning")[0]
        assert warning.startswith("Part of your keymap was not used:")
        assert "'cancle'" in warning and "resume = 'ctrl+' is not a key" in warning
        # What could be used was: a run action, and a key of the history's own.
        assert app.keymap == {"evaluate": "E", "history-filter": "f"}
        history = await _on(pilot, "history", runs["mistral-7b-qlora"])
        await pilot.press("E")
        assert any("evaluate a completed run" in t for t in notifications(app, "warning"))
        await pilot.press("f")
        assert history.query_one("#filter").has_focus


async def test_the_help_and_the_palette_list_the_tables_actions(runs):
    reference = list(binding_reference())
    for action in RUN_ACTIONS:
        rows = [row for row in reference if row[2] == action.label]
        assert rows, action.id
        assert all(row[1] == action.key and action.tooltip in row[3] and action.when in row[3] for row in rows)
    # Every screen that acts on a run offers its actions under one key each.
    for section in ("History", "Run detail", "Training"):
        labels = {row[2]: row[1] for row in reference if row[0] == section}
        assert {"Resume", "Eval", "Merge", "Upload", "Chat", "Cancel run"} <= labels.keys(), section
        assert labels["Cancel run"] == "c"

    completed = runs["qwen-support-lora"]
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await _on(pilot, "history", completed)
        await pilot.press("question_mark")
        text = " ".join(_help_text(app).split())
        for action in RUN_ACTIONS:
            assert f"{action.key} {action.label} {action.tooltip}" in text, action.id
        await pilot.press("escape")
        for action in RUN_ACTIONS:
            if action.id in ("export-chats", "details"):
                continue  # the detail's and the training screen's
            await pilot.press("ctrl+p", *action.label.lower())
            command = f"{action.label}  ({action.key})"
            await wait_until(pilot, _on_screen(app, command), what=f"the {action.id} command")
            if action.id != "compare":
                assert f"(run #{completed.id} {completed.name})" in " ".join(screen_text(app).split())
            await pilot.press("escape")
        # Run from the palette, an action does what its key does.
        await pilot.press("ctrl+p", *"upload")
        await wait_until(pilot, lambda: "Upload  (u)" in screen_text(app), what="the upload command")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, UploadModal), what="the upload dialog")


async def test_a_keymap_key_that_another_action_of_the_screen_had_is_the_keymaps_and_the_app_says_so(
    runs, tuitune_home: Path
):
    _keymap(tuitune_home, '[keys]\ncancel = "d"\n')
    running = runs["qwen-support-dora"]
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await _on(pilot, "history", running)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the stop dialog")
        assert f"Stop {running.name}?" in screen_text(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: notifications(app, "warning"), what="the warning")
        said = notifications(app, "warning")[0]
        assert said.startswith("Your keymap: Your keymap gives a key to two actions of one screen:")
        assert "d is Delete (delete) and Cancel run (cancel) in History" in said
        assert "in Run detail" in said and "in Training" not in said  # the training screen has no d


def test_keys_are_read_as_textual_writes_them(tmp_path: Path):
    assert all(is_keys(keys) for keys in ("x", "C", "ctrl+x", "f5", "?", "question_mark", "x, ctrl+shift+up"))
    assert not any(is_keys(keys) for keys in ("", "ctrl+", "cntrl+x", "xx", "x,,y", "foo bar"))
    assert read_keymap(tmp_path / "absent.toml").keys == {}
    keymap = read_keymap(_keymap(tmp_path, '[keys]\nhelp = "?"\ncancel = 3\n'))
    assert keymap.keys == {"help": "question_mark"} and keymap.unreadable == {"cancel": "3"}
    (tmp_path / "keymap.toml").write_bytes(b"\xff\xfe[keys]")
    with pytest.raises(KeymapError, match="Could not read your keymap"):
        read_keymap(tmp_path / "keymap.toml")


@pytest.mark.slow
async def test_a_rebound_key_cancels_a_real_run_from_the_training_screen(demo_model_path, tuitune_home: Path):
    _keymap(tuitune_home, '[keys]\ncancel = "ctrl+x"\n')
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
        await pilot.press("ctrl+x")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await wait_until(pilot, lambda: run_of(training).status == "cancelled", timeout=120, what="the cancel")
        await wait_until(pilot, lambda: "Cancelled after" in screen_text(app), timeout=10, what="the summary")
        assert "r resume" in screen_text(app)


@pytest.mark.integration  # a script, in a child process
def test_the_key_tables_of_the_readme_and_the_docs_are_current():
    """README.md and docs/tui.md list every key from the app itself: regenerate them when a key changes."""
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, str(root / "scripts" / "key_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
