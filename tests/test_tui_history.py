"""The history: sort, filter, mark, compare, open, delete, and actions that fail say why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuitune.errors import RunNotFoundError
from tuitune.store import open_store
from tuitune.tui.app import create_app
from tuitune.tui.sample_runs import many_runs, populate
from tuitune.tui.screens.compare import CompareScreen
from tuitune.tui.screens.detail import RunDetailScreen
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.testing import notifications, screen_text, settle, wait_until
from tuitune.tui.widgets.prompts import DeleteModal, UploadModal, UploadRequest


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


async def test_sorting_by_any_column_and_back(runs):
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(200, 36)) as pilot:
        history = await _history(pilot)
        table = history.table
        assert table.shown_keys == sorted(table.shown_keys, reverse=True)  # newest first
        await pilot.press("s")  # id, ascending
        assert table.sort_column == "id" and table.shown_keys == sorted(table.shown_keys)
        await pilot.press("s")  # id, descending
        assert table.sort_reverse and table.shown_keys == sorted(table.shown_keys, reverse=True)
        await pilot.press("s")  # the next column: name
        names = [table.get_row(key).cells[2] for key in table.shown_keys]
        assert table.sort_column == "name" and names == sorted(names, key=str.lower)
        # Clicking a header sorts by it: best eval loss, missing values last.
        history.table.sort_by("best_eval")
        best = [_by_name(runs, table.get_row(k).cells[2]).best_eval_loss for k in table.shown_keys]
        present = [b for b in best if b is not None]
        assert present == sorted(present) and best[len(present):] == [None] * (len(best) - len(present))
        assert "best eval▲" in screen_text(app)


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
        names = {history.table.get_row(key).cells[2] for key in history.table.shown_keys}
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
        history.query_one("#filter").value = "support completed"
        await pilot.pause()
        names = {history.table.get_row(key).cells[2] for key in history.table.shown_keys}
        assert names == {"qwen-support-lora", "qwen-support-r32"}


async def test_marked_runs_compare_side_by_side(runs):
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        history = await _history(pilot)
        await pilot.press("c")  # nothing marked yet
        assert any("Mark two or more runs" in text for text in notifications(app, "warning"))
        first, second = _by_name(runs, "qwen-support-lora"), _by_name(runs, "qwen-support-r32")
        for run in (first, second):
            history.table.move_to(run.id)
            await pilot.press("space")
        assert history.table.marked == [first.id, second.id]
        assert "2 marked" in screen_text(app)
        await pilot.press("c")
        compare = await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison, what="the comparison")
        screen = app.screen
        assert isinstance(screen, CompareScreen) and compare
        # Only the differing settings, one column per run.
        assert set(screen.comparison.differences) == {"lora.r", "lora.alpha", "training.learning_rate"}
        screen.query_one("#compare-tabs").active = "diff"
        await pilot.pause()
        text = screen_text(app)
        assert "lora.r" in text and "training.learning_rate" in text and "model.name_or_path" not in text
        screen.query_one("#compare-tabs").active = "metrics-pane"
        await pilot.pause()
        assert "rougeL" in screen_text(app)
        # Curves overlaid: one series per run, against steps, then epochs.
        screen.query_one("#compare-tabs").active = "curves"
        await pilot.pause()
        chart = screen.query_one("#train-chart")
        assert [s.label for s in chart._series] == [f"#{first.id} qwen-support-lora", f"#{second.id} qwen-support-r32"]
        assert max(chart._series[0].x) == 900
        await pilot.press("x")
        assert screen.x_axis == "epoch" and max(screen.query_one("#train-chart")._series[0].x) == pytest.approx(3.0)
        await pilot.press("escape")
        assert isinstance(app.screen, HistoryScreen)


async def test_enter_opens_the_run_detail_with_evaluations_and_artifacts(runs):
    run = _by_name(runs, "qwen-support-lora")
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        history = await _history(pilot)
        history.table.move_to(run.id)
        await pilot.press("enter")
        detail = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run and app.screen, what="the detail")
        assert "qwen-support-lora" in screen_text(app) and "completed" in screen_text(app)
        detail.query_one("#detail-tabs").active = "evaluations"
        await pilot.pause()
        text = screen_text(app)
        assert "rougeL" in text and "reference" in text and "fine-tuned" in text
        assert "How do I reset my password?" in text
        detail.query_one("#detail-tabs").active = "artifacts"
        await pilot.pause()
        assert "adapter" in screen_text(app)
        detail.query_one("#detail-tabs").active = "charts"
        await pilot.pause()
        labels = [s.label for s in detail.query_one("#loss-chart")._series]
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
        app.screen.query_one("#files").value = True
        await pilot.click("#submit")
        await wait_until(pilot, lambda: run.id not in history.table.shown_keys, what="the row to go")
    with pytest.raises(RunNotFoundError):
        open_store().get_run(run.id)
    assert not folder.exists()


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


async def test_a_failed_upload_shows_its_error_and_never_the_token(runs):
    run = _by_name(runs, "qwen-support-lora")  # completed, but its adapter folder does not exist here
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        history = await _history(pilot)
        history.table.move_to(run.id)
        await pilot.press("u")
        assert isinstance(app.screen, UploadModal)
        app.screen.query_one("#repo").value = "someone/qwen-support"
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
        history.query_one("#filter").value = "sweep-00042"
        await pilot.pause()
        assert [history.table.get_row(k).cells[2] for k in history.table.shown_keys] == ["sweep-00042"]
        history.query_one("#filter").value = ""
        await pilot.pause()
        history.table.sort_by("loss")
        losses = [history.table.get_row(k).sort_values[5] for k in history.table.shown_keys]
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
        ConfigBuilder().demo().method("lora")
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
        await wait_until(pilot, lambda: any(t.startswith(f"Evaluate {run.name}: Evaluated") for t in notifications(app)),
                         timeout=240, what="the evaluation")
        assert not notifications(app, "error")
        await wait_until(pilot, lambda: history.table.get_row(run.id).cells[7] != "–", timeout=10, what="the ROUGE-L cell")
        await pilot.press("m")
        await pilot.press("y")
        await wait_until(pilot, lambda: any(t.startswith(f"Merge {run.name}: Merged") for t in notifications(app)),
                         timeout=240, what="the merge")
        assert not notifications(app, "error")
        await pilot.press("enter")
        detail = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run and app.screen, what="the detail")
        detail.query_one("#detail-tabs").active = "evaluations"
        await pilot.pause()
        assert "fine-tuned" in screen_text(app) and "rougeL" in screen_text(app)
    store = open_store()
    assert {e.label for e in store.evaluations(run.id)} == {"base", "finetuned"}
    merged = [a for a in store.artifacts(run.id) if a.kind == "merged"]
    assert merged and (Path(merged[0].path) / "config.json").is_file()
