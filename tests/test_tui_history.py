"""The history: sort, filter, mark, compare, open, delete, and actions that fail say why."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import cast

import pytest
from textual.widgets import Checkbox, Input, OptionList, TabbedContent
from textual.widgets._footer import FooterKey  # what the footer shows a key as (Textual has no public name)

from tests.tui_steps import compare_runs, row, run_of, shown
from tuitune._dev.pilot import notifications, screen_text, settle, wait_until
from tuitune._dev.sample_runs import many_runs, populate
from tuitune.errors import RunNotFoundError
from tuitune.store import open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.compare import CompareScreen
from tuitune.tui.screens.detail import RunDetailScreen
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.screens.messages import MessagesScreen
from tuitune.tui.screens.training import TrainingScreen
from tuitune.tui.widgets.charts import LineChart
from tuitune.tui.widgets.confirm import ConfirmModal
from tuitune.tui.widgets.prompts import (
    DeleteModal,
    ResumeModal,
    UploadModal,
    UploadRequest,
)
from tuitune.tui.widgets.sort_menu import SortMenu


@pytest.fixture
def runs(tuitune_home: Path):
    return populate(open_store(), output_root=str(tuitune_home / "runs"))


async def _history(pilot) -> HistoryScreen:
    screen = pilot.app.screen
    assert isinstance(screen, HistoryScreen)
    await wait_until(pilot, lambda: screen.table.total_count > 0, what="the runs to load")
    return screen


def _by_name(runs, name):
    return next(run for run in runs if run.name == name)


async def _sort_with_the_menu(pilot, label: str) -> None:
    """`s`, then the column by its label (down the list), then enter."""
    await pilot.press("s")
    menu = pilot.app.screen
    assert isinstance(menu, SortMenu)
    options = menu.query_one("#sort-columns", OptionList)
    while str(options.get_option_at_index(options.highlighted or 0).prompt).split("  ")[0] != label:
        await pilot.press("down")
    await pilot.press("enter")


async def test_sorting_by_any_column_from_the_menu_and_back(runs):
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = await _history(pilot)
        table = history.table
        assert table.shown_keys == sorted((cast(int, key) for key in table.shown_keys), reverse=True)  # newest first
        await _sort_with_the_menu(pilot, "name")
        names = [row(table, key).cells[2] for key in table.shown_keys]
        assert table.sort_column == "name" and names == sorted(names, key=str.lower)
        await pilot.press("S")  # shift+s: the same column, the other way
        assert table.sort_column == "name" and table.sort_reverse
        await _sort_with_the_menu(pilot, "best eval")  # one press of s and a pick, not 12 presses
        best = [_by_name(runs, row(table, k).cells[2]).best_eval_loss for k in table.shown_keys]
        present = [b for b in best if b is not None]
        assert present == sorted(present) and best[len(present) :] == [None] * (len(best) - len(present))
        await pilot.press("s", "enter")  # the current column again: descending
        assert table.sort_column == "best_eval" and table.sort_reverse
        await pilot.press("s", "escape")  # changed my mind: the order stays
        assert table.sort_column == "best_eval" and table.sort_reverse and isinstance(app.screen, HistoryScreen)


async def test_clicking_a_column_header_sorts_by_it(runs):
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(160, 36)) as pilot:
        history = await _history(pilot)
        table = history.table
        status_x = sum(w + 1 for w in table._widths[:3]) + 1
        await pilot.click(table, offset=(status_x, 0))
        assert table.sort_column == "status"
        await pilot.click(table, offset=(status_x, 0))
        assert table.sort_column == "status" and table.sort_reverse


async def test_typing_filters_the_runs_and_escape_clears_the_filter(runs):
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        history = await _history(pilot)
        await pilot.press("slash")
        assert app.focused is not None and app.focused.id == "filter"
        await pilot.press(*"qlora")
        names = {row(history.table, key).cells[2] for key in history.table.shown_keys}
        assert names == {"llama3-8b-qlora", "mistral-7b-qlora"}
        assert "2 of 8 runs" in screen_text(app)
        await pilot.press("enter")  # back to the table, filter kept
        assert app.focused is history.table and history.table.row_count == 2
        await pilot.press("escape")
        assert history.table.row_count == 8


async def test_several_words_narrow_the_filter(runs):
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        history = await _history(pilot)
        history.query_one("#filter", Input).value = "support completed"
        await pilot.pause()
        names = {row(history.table, key).cells[2] for key in history.table.shown_keys}
        assert names == {"qwen-support-lora", "qwen-support-r32"}


async def test_marked_runs_compare_side_by_side(runs):
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        history = await _history(pilot)
        await pilot.press("v")  # nothing marked yet
        assert any("Mark two or more runs" in text for text in notifications(app, "warning"))
        first, second = _by_name(runs, "qwen-support-lora"), _by_name(runs, "qwen-support-r32")
        for run in (first, second):
            history.table.move_to(run.id)
            await pilot.press("space")
        assert history.table.marked == [first.id, second.id]
        assert "2 marked" in screen_text(app)
        await pilot.press("v")
        screen = await shown(pilot, CompareScreen, lambda screen: screen.comparison, what="the comparison")
        assert screen.comparison is not None
        # Only the differing settings, one column per run.
        assert set(screen.comparison.differences) == {"lora.r", "lora.alpha", "training.learning_rate"}
        screen.query_one("#compare-tabs", TabbedContent).active = "diff"
        await pilot.pause()
        text = screen_text(app)
        assert "lora.r" in text and "training.learning_rate" in text and "model.name_or_path" not in text
        screen.query_one("#compare-tabs", TabbedContent).active = "metrics-pane"
        await pilot.pause()
        assert "rougeL" in screen_text(app)
        # Curves overlaid: one series per run, against steps, then epochs.
        screen.query_one("#compare-tabs", TabbedContent).active = "curves"
        await pilot.pause()
        chart = screen.query_one("#train-chart", LineChart)
        assert [s.label for s in chart.series] == [f"#{first.id} qwen-support-lora", f"#{second.id} qwen-support-r32"]
        assert max(chart.series[0].x) == 900
        await pilot.press("x")
        assert screen.x_axis == "epoch" and max(
            screen.query_one("#train-chart", LineChart).series[0].x
        ) == pytest.approx(3.0)
        await pilot.press("escape")
        assert isinstance(app.screen, HistoryScreen)


async def test_enter_opens_the_run_detail_with_evaluations_and_artifacts(runs):
    run = _by_name(runs, "qwen-support-lora")
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        history = await _history(pilot)
        history.table.move_to(run.id)
        await pilot.press("enter")
        detail = await shown(pilot, RunDetailScreen, lambda screen: screen.run, what="the detail")
        assert "qwen-support-lora" in screen_text(app) and "completed" in screen_text(app)
        detail.query_one("#detail-tabs", TabbedContent).active = "evaluations"
        await pilot.pause()
        text = screen_text(app)
        assert "rougeL" in text and "reference" in text and "fine-tuned" in text
        assert "How do I reset my password?" in text
        detail.query_one("#detail-tabs", TabbedContent).active = "artifacts"
        await pilot.pause()
        assert "adapter" in screen_text(app)
        detail.query_one("#detail-tabs", TabbedContent).active = "charts"
        await pilot.pause()
        labels = [s.label for s in detail.query_one("#loss-chart", LineChart).series]
        assert labels == ["train", "eval"]
        await pilot.press("escape")
        assert isinstance(app.screen, HistoryScreen)


async def test_delete_asks_first_and_can_remove_the_files(runs, tuitune_home: Path):
    run = _by_name(runs, "smollm-full")
    folder = Path(run.output_dir)
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("name: smollm-full\n")
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        history = await _history(pilot)
        history.table.move_to(run.id)
        await pilot.press("d")
        assert isinstance(app.screen, DeleteModal)
        await pilot.press("escape")  # changed my mind
        assert open_store().get_run(run.id)
        await pilot.press("d")
        app.screen.query_one("#files", Checkbox).value = True
        await pilot.click("#submit")
        await wait_until(pilot, lambda: run.id not in history.table.shown_keys, what="the row to go")
    with pytest.raises(RunNotFoundError):
        open_store().get_run(run.id)
    assert not folder.exists()


async def test_space_in_the_delete_dialog_as_it_opens_ticks_the_folder_as_its_label_says(runs, tuitune_home: Path):
    run = _by_name(runs, "smollm-full")
    folder = Path(run.output_dir)
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("name: smollm-full\n")
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = await _history(pilot)
        history.table.move_to(run.id)
        await pilot.press("d")
        assert isinstance(app.screen, DeleteModal) and "Also delete its folder (space)" in screen_text(app)
        await pilot.press("space")  # the focus is on "Keep it", where it opened
        assert app.screen.query_one("#files", Checkbox).value is True
        await pilot.press("space", "space")  # and back, and ticked again
        assert app.screen.query_one("#files", Checkbox).value is True
        await pilot.press("y")
        await wait_until(pilot, lambda: run.id not in history.table.shown_keys, what="the row to go")
        await wait_until(pilot, lambda: not folder.exists(), timeout=10, what="the folder to go")


async def test_at_120_columns_every_column_is_in_view_and_a_cut_dataset_keeps_its_end(runs):
    many_runs(open_store(), 40)  # more runs than rows on screen: a scrollbar takes its share too
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        history = await _history(pilot)
        table = history.table
        table.move_to(_by_name(runs, "qwen-support-r32").id)  # the afternoon's runs, below the newer ones
        await pilot.pause()
        assert table.max_scroll_x == 0  # nothing falls off the right edge
        text = screen_text(app)
        header = next(line for line in text.splitlines() if " id " in line and "name" in line)
        assert "dataset" in header and "started" in header and "duration" in header
        rows = [line for line in text.splitlines() if re.match(r"\s+\d+ qwen-supp", line)]
        assert rows and all(".jsonl " in row for row in rows)  # the end of the file name, not `.json`


async def test_artifacts_say_which_are_gone_and_long_paths_keep_their_end_at_80x24(runs, tuitune_home: Path):
    from tests.cli_inprocess import run_inprocess

    run = _by_name(runs, "qwen-support-lora")
    store = open_store()
    folder = Path(run.output_dir)
    for artifact in store.artifacts(run.id):
        Path(artifact.path).mkdir(parents=True)  # what the finished run left: its adapter and last checkpoint
    # Cancelled at step 450 and resumed: that checkpoint was recorded, then the Trainer deleted
    # it (save_total_limit). Merged twice, into folders whose names differ only at their end.
    store.add_artifact(run.id, kind="checkpoint", path=str(folder / "checkpoints" / "checkpoint-450"))
    exports = tuitune_home / "exports" / "merged-models-of-the-support-tickets-experiments-2025"
    for name in ("qwen-support-lora-first", "qwen-support-lora-second"):
        (exports / name).mkdir(parents=True)
        store.add_artifact(run.id, kind="merged", path=str(exports / name))
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = await _history(pilot)
        history.table.move_to(run.id)
        await pilot.press("enter")
        detail = await shown(pilot, RunDetailScreen, lambda screen: screen.run, what="the detail")
        detail.query_one("#detail-tabs", TabbedContent).active = "artifacts"
        await pilot.pause()
        lines = screen_text(app).splitlines()
        rows = {kind: [line for line in lines if f"│ {kind} " in line] for kind in ("checkpoint", "merged")}
        assert [("checkpoint-900" in row, "gone" in row) for row in rows["checkpoint"]] == [
            (True, False),
            (False, True),
        ]
        assert "checkpoint-450" in rows["checkpoint"][1]
        first, second = rows["merged"]
        assert "qwen-support-lora-first" in first and "qwen-support-lora-second" in second and first != second
    # The command line says the same.
    document = json.loads(run_inprocess("show", str(run.id), "--json").stdout)
    gone = {Path(artifact["path"]).name: artifact["gone"] for artifact in document["artifacts"]}
    assert gone == {
        "adapter": False,
        "checkpoint-900": False,
        "checkpoint-450": True,
        "qwen-support-lora-first": False,
        "qwen-support-lora-second": False,
    }


async def test_evaluation_samples_show_the_prompt_as_the_user_wrote_it_under_its_own_header(runs):
    run = _by_name(runs, "qwen-support-lora")
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 40)) as pilot:
        history = await _history(pilot)
        history.table.move_to(run.id)
        await pilot.press("enter")
        detail = await shown(pilot, RunDetailScreen, lambda screen: screen.run, what="the detail")
        detail.query_one("#detail-tabs", TabbedContent).active = "evaluations"
        await pilot.pause()
        text = screen_text(app)
        assert "<|im_start|>" not in text and "<|im_end|>" not in text  # the template's markup stays out
        lines = [line.strip(" │┃") for line in text.splitlines()]
        heading = lines.index("1. prompt")
        assert lines[heading + 1] == "My invoice shows two charges for March. What should I do?"
        headers = next(line for line in lines[heading:] if "reference" in line)
        assert headers.split() == ["reference", "┃", "base", "┃", "fine-tuned"]


async def test_actions_that_do_not_apply_say_why(runs):
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        history = await _history(pilot)
        history.table.move_to(_by_name(runs, "mistral-7b-qlora").id)  # failed
        for key in ("e", "m", "u"):
            await pilot.press(key)
        warnings = notifications(app, "warning")
        assert sum("is failed" in text for text in warnings) == 3
        history.table.move_to(_by_name(runs, "qwen-support-dora").id)  # running
        await pilot.press("d")
        assert any("cancel it" in text for text in notifications(app, "warning"))


@pytest.mark.integration
async def test_a_failed_upload_shows_its_error_and_never_the_token(runs):
    run = _by_name(runs, "qwen-support-lora")  # completed, but its adapter folder does not exist here
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        history = await _history(pilot)
        history.table.move_to(run.id)
        await pilot.press("u")
        assert isinstance(app.screen, UploadModal)
        app.screen.query_one("#repo", Input).value = "someone/qwen-support"
        app.screen.query_one("#token").focus()
        await pilot.press(*"hf_notarealtoken")
        assert "hf_notarealtoken" not in screen_text(app)  # masked
        await pilot.press("enter")
        await wait_until(pilot, lambda: notifications(app, "error"), timeout=120, what="the upload to fail")
        error = notifications(app, "error")[0]
        assert error.startswith("Upload qwen-support-lora failed:")
        assert all("hf_notarealtoken" not in text for text in notifications(app))
        assert not app.run_actions.tasks  # the task bar is empty again


def test_an_upload_request_never_shows_its_token():
    assert "hf_secret" not in repr(UploadRequest("me/model", True, "hf_secret"))


async def test_a_thousand_runs_filter_and_sort(tuitune_home: Path):
    many_runs(open_store(), 1000)
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = await _history(pilot)
        assert history.table.total_count == 1000
        history.query_one("#filter", Input).value = "sweep-00042"
        await pilot.pause()
        assert [row(history.table, k).cells[2] for k in history.table.shown_keys] == ["sweep-00042"]
        history.query_one("#filter", Input).value = ""
        await pilot.pause()
        history.table.sort_by("loss")
        losses = [row(history.table, k).sort_values[5] for k in history.table.shown_keys]
        assert losses == sorted(losses)
        await pilot.press("end")
        assert history.table.cursor == 999
        assert "sweep-" in screen_text(app)
        await settle(pilot)


@pytest.mark.slow
async def test_a_finished_run_is_evaluated_then_merged_from_the_history(demo_model_path):
    from tuitune.config import ConfigBuilder
    from tuitune.engine import launcher

    config = (
        ConfigBuilder()
        .demo()
        .method("lora")
        .training(max_steps=4, logging_steps=2)
        .evaluation(samples=4, max_new_tokens=16)
        .build()
    )
    run = launcher.wait(launcher.launch(config).id, timeout=240)
    assert run.status == "completed"
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        history = await _history(pilot)
        history.table.move_to(run.id)
        await pilot.press("e")
        await wait_until(pilot, lambda: app.run_actions.tasks, what="the task bar")
        assert f"Evaluate {run.name}" in screen_text(app)  # progress above the footer
        await wait_until(
            pilot,
            lambda: any(t.startswith(f"Evaluate {run.name}: Evaluated") for t in notifications(app)),
            timeout=240,
            what="the evaluation",
        )
        assert not notifications(app, "error")
        await wait_until(pilot, lambda: row(history.table, run.id).cells[7] != "–", timeout=10, what="the ROUGE-L cell")
        await pilot.press("m")
        await pilot.press("y")
        await wait_until(
            pilot,
            lambda: any(t.startswith(f"Merge {run.name}: Merged") for t in notifications(app)),
            timeout=240,
            what="the merge",
        )
        assert not notifications(app, "error")
        await pilot.press("enter")
        detail = await shown(pilot, RunDetailScreen, lambda screen: screen.run, what="the detail")
        detail.query_one("#detail-tabs", TabbedContent).active = "evaluations"
        await pilot.pause()
        assert "fine-tuned" in screen_text(app) and "rougeL" in screen_text(app)
    store = open_store()
    assert {e.label for e in store.evaluations(run.id)} == {"base", "finetuned"}
    merged = [a for a in store.artifacts(run.id) if a.kind == "merged"]
    assert merged and (Path(merged[0].path) / "config.json").is_file()


def _lines_of(app, widget) -> list[str]:
    """What a widget shows on screen, line by line."""
    region = widget.region
    return [line[region.x : region.right] for line in screen_text(app).splitlines()[region.y : region.bottom]]


async def test_chart_legends_sit_on_a_line_above_the_plot_never_over_the_curves(runs):
    first, second = _by_name(runs, "qwen-support-lora"), _by_name(runs, "qwen-support-r32")
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = await _history(pilot)
        compare = await compare_runs(pilot, (first, second))
        chart = compare.query_one("#train-chart")
        legend, *plot = _lines_of(app, chart)
        assert f"#{first.id} qwen-support-lora" in legend and f"#{second.id} qwen-support-r32" in legend
        assert not any("qwen-support" in line for line in plot)  # the plot area shows curves only

        await pilot.press("escape")
        history.table.move_to(first.id)
        await pilot.press("enter")
        detail = await shown(pilot, RunDetailScreen, lambda screen: screen.run, what="the detail")
        detail.query_one("#detail-tabs", TabbedContent).active = "charts"
        await pilot.pause(0.3)
        legend, *plot = _lines_of(app, detail.query_one("#loss-chart", LineChart))
        assert "train" in legend and "eval" in legend
        assert not any("train" in line or "eval" in line for line in plot)


async def test_every_confirm_dialog_takes_y_n_and_escape_says_what_happens_and_fits_80x24(runs, tuitune_home: Path):
    doomed, running = _by_name(runs, "smollm-full"), _by_name(runs, "qwen-support-dora")
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = await _history(pilot)
        history.table.move_to(doomed.id)
        await pilot.press("d")
        assert isinstance(app.screen, DeleteModal)
        text = screen_text(app)
        assert "Delete the run (y)" in text and "Keep it (n)" in text
        assert "Also delete its folder" in text
        unwrapped = "".join(line.strip(" │") for line in text.splitlines())
        assert doomed.output_dir in unwrapped  # the whole folder, wrapped, never cut
        await pilot.press("n")
        assert isinstance(app.screen, HistoryScreen) and open_store().get_run(doomed.id)
        await pilot.press("d", "escape")
        assert isinstance(app.screen, HistoryScreen) and open_store().get_run(doomed.id)

        history.table.move_to(running.id)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmModal)
        text = screen_text(app)
        assert "Stop the run (y)" in text and "Keep running (n)" in text and "Cancel" not in text
        await pilot.press("n")
        assert isinstance(app.screen, HistoryScreen) and not open_store().get_run(running.id).cancel_requested

        history.table.move_to(doomed.id)
        await pilot.press("d", "y")  # y deletes, as the README says
        await wait_until(pilot, lambda: doomed.id not in history.table.shown_keys, what="the row to go")
    with pytest.raises(RunNotFoundError):
        open_store().get_run(doomed.id)


@pytest.mark.integration
async def test_a_background_failure_stays_in_the_messages_and_the_runs_events_in_the_apps_words(runs):
    run = _by_name(runs, "qwen-support-lora")
    adapter = Path(run.output_dir) / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = await _history(pilot)
        history.table.move_to(run.id)
        await pilot.press("u")
        app.screen.query_one("#repo", Input).value = "someone/qwen-support"
        await pilot.press("enter")  # no token typed, none saved
        await wait_until(pilot, lambda: notifications(app, "error"), timeout=120, what="the upload to fail")
        error = notifications(app, "error")[-1]
        assert error.startswith("Upload qwen-support-lora failed: No Hugging Face token")
        assert "--token" not in error and "type a token in the upload dialog (u)" in error  # the app's words
        # Long after the toast has gone: `!` lists every message of the session, newest first.
        await pilot.press("exclamation_mark")
        assert isinstance(app.screen, MessagesScreen)
        text = " ".join(screen_text(app).split())
        assert "Upload qwen-support-lora failed" in text and "No Hugging Face token" in text
        await pilot.press("escape")
        assert isinstance(app.screen, HistoryScreen)
        # And in the run's own story, where its events show.
        await wait_until(
            pilot, lambda: [e for e in open_store().events(run.id) if e.level == "error"], what="the event"
        )
    event = [e for e in open_store().events(run.id) if e.level == "error"][-1]
    assert event.message.startswith("Upload qwen-support-lora failed: No Hugging Face token")


@pytest.mark.integration
async def test_the_messages_are_a_palette_command_too():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        app.notify("Something to read again", severity="warning")
        await pilot.press("ctrl+p", *"messages")
        await wait_until(pilot, lambda: "Every message the app showed" in screen_text(app), what="the command")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MessagesScreen), what="the messages")
        assert "Something to read again" in screen_text(app)


# --- the small things a user reads (issue 8, item 11) -----------------------------------------
def _plain_run(name: str, *, method: str = "lora", status: str = "completed", config: dict | None = None, **fields):
    from tuitune.config import ConfigBuilder

    store = open_store()
    config = config or ConfigBuilder().demo().method(method).build().to_dict()
    run = store.create_run(
        name=name, config=config, model="tuitune/demo", method=method, dataset="tuitune/sample", status="running"
    )
    store.update_run(run.id, host="another-host", **fields)
    if status != "running":
        store.set_status(run.id, status)
    return store.get_run(run.id)


async def test_one_run_is_one_run_and_a_fully_fine_tuned_run_offers_no_merge():
    run = _plain_run("full-demo", method="full_finetuning")
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(140, 36)) as pilot:
        history = await _history(pilot)
        text = screen_text(app)
        assert "1 run ·" in text and "1 runs" not in text
        assert "m" not in {key.key for key in history.query("FooterKey").results(FooterKey)}  # no adapter to merge
        await pilot.press("enter")
        detail = await shown(pilot, RunDetailScreen, lambda screen: screen.run, what="the detail")
        assert "e" in {key.key for key in detail.query("FooterKey").results(FooterKey)} and "m" not in {
            key.key for key in detail.query("FooterKey").results(FooterKey)
        }
        app.show_training(run.id)
        training = await shown(pilot, TrainingScreen, lambda screen: screen.run, what="the training screen")
        await wait_until(pilot, lambda: "Completed after" in screen_text(app), what="the summary")
        assert "m merge" not in screen_text(app) and "m" not in {
            key.key for key in training.query("FooterKey").results(FooterKey)
        }
        assert run_of(training).id == run.id


async def test_the_detail_shows_the_live_train_loss_and_says_which_way_a_score_moved():
    # Resumed: the saved final loss is from the earlier session, the live one is newer.
    run = _plain_run("resumed-run", status="running", train_loss=7.4989, last_loss=7.51, steps_done=30, steps_total=60)
    open_store().add_evaluation(
        run.id, label="base", metrics={"perplexity": 400.0, "rougeL": 0.2}, sample_count=4, settings={}, samples=[]
    )
    open_store().add_evaluation(
        run.id, label="finetuned", metrics={"perplexity": 7.44, "rougeL": 0.25}, sample_count=4, settings={}, samples=[]
    )
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        app.open_run(run.id)
        detail = await shown(pilot, RunDetailScreen, lambda screen: screen.run, what="the detail")
        text = screen_text(app)
        assert "train 7.5100" in text and "7.4989" not in text
        detail.query_one("#detail-tabs", TabbedContent).active = "evaluations"
        await pilot.pause()
        text = screen_text(app)
        assert "▼ 392.5600 better" in text  # perplexity fell: an improvement, said as one
        assert "▲ 0.0500 better" in text
        assert "-392" not in text


async def test_compare_at_80_columns_keeps_the_end_of_paths_the_start_of_keys_and_writes_values_as_written():
    from tuitune.config import ConfigBuilder

    folder = "/data/projects/customer-support/2024/exports"
    configs = [
        ConfigBuilder()
        .demo()
        .data(f"{folder}/tickets-cleaned-{version}.jsonl")
        .training(learning_rate=rate, epochs=epochs)
        .build()
        .to_dict()
        for version, rate, epochs in (("v2", 2e-4, 2.0), ("v3", 2e-3, 3.0))
    ]
    first = _plain_run("support-v2", config=configs[0])
    second = _plain_run("support-v3", config=configs[1])
    for run, config in ((first, configs[0]), (second, configs[1])):
        open_store().update_run(run.id, dataset=config["data"]["source"])
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await _history(pilot)
        compare = await compare_runs(pilot, (first, second))
        compare.query_one("#compare-tabs", TabbedContent).active = "metrics-pane"
        await pilot.pause()
        text = screen_text(app)
        assert (
            "cleaned-v2.jsonl" in text and "cleaned-v3.jsonl" in text and "/data/projects" not in text
        )  # the path's end
        compare.query_one("#compare-tabs", TabbedContent).active = "diff"
        await pilot.pause()
        text = screen_text(app)
        assert "training.learning_rate" in text and "training.epochs" in text  # keys whole
        assert "0.0002" in text and "0.002 " in text and "2.00e-04" not in text and "0.0020" not in text
        assert "cleaned-v3.jsonl" in text and "/data/projects" not in text


async def test_resume_asks_for_a_total_of_steps_when_steps_decide_the_length():
    from tuitune.config import ConfigBuilder

    config = ConfigBuilder().demo().training(max_steps=40).build().to_dict()
    run = _plain_run("forty-steps", config=config, steps_done=40, steps_total=40)
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = await _history(pilot)
        history.table.move_to(run.id)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ResumeModal), what="the resume dialog")
        text = screen_text(app)
        assert "Total steps (now 40)" in text and "epochs" not in text.lower()
