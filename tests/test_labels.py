"""A run's note and tags: written from the CLI, the app and the REST API, kept in the store, shown
by `show`, and found by the history filter (`tag:best`, or words of the note) on every face."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.cli_inprocess import assert_clean_error, run_inprocess
from tuitune._dev.pilot import notifications, wait_until
from tuitune._dev.sample_runs import populate
from tuitune.runs.labels import MAX_TAGS, InvalidLabelError, clean_note, clean_tags, retag
from tuitune.runs.listing import filter_runs
from tuitune.store import open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.widgets.label_modal import LabelModal


@pytest.fixture
def runs(tuitune_home: Path):
    return populate(open_store(), output_root=str(tuitune_home / "runs"))


def test_tags_are_single_words_kept_once_in_order():
    assert clean_tags([" Best", "lr/2e-4", "best", "", "sweep:3"]) == ["best", "lr/2e-4", "sweep:3"]
    assert retag(["a", "b"], add=["c", "A"], remove=["b"]) == ["a", "c"]
    with pytest.raises(InvalidLabelError, match="not one word"):
        clean_tags(["two words"])
    with pytest.raises(InvalidLabelError, match=f"at most {MAX_TAGS}"):
        clean_tags([f"t{n}" for n in range(MAX_TAGS + 1)])
    assert clean_note("   ") is None
    with pytest.raises(InvalidLabelError, match="Shorten it"):
        clean_note("x" * 5000)


def test_the_cli_tags_and_notes_a_run_and_the_listing_filter_finds_it(runs):
    first, second = runs[0], runs[1]
    done = run_inprocess("tag", str(first.id), "Baseline", "lr/2e-4", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["tags"] == ["baseline", "lr/2e-4"]
    done = run_inprocess("note", str(second.id), "tried [bold]rank 32[/]: overfits", "--json")
    assert json.loads(done.stdout)["notes"] == "tried [bold]rank 32[/]: overfits"
    # `show` prints the note as written: user text is never markup.
    shown = run_inprocess("show", str(second.id)).stdout
    assert "tried [bold]rank 32[/]: overfits" in shown

    stored = open_store().list_runs()
    assert [run.id for run in filter_runs(stored, text="tag:baseline")] == [first.id]
    assert [run.id for run in filter_runs(stored, text="overfits")] == [second.id]
    assert filter_runs(stored, text="tag:overfits") == []  # a word of the note is not a tag

    listed = json.loads(run_inprocess("runs", "--tag", "baseline", "--json").stdout)
    assert [run["id"] for run in listed] == [first.id]
    listed = json.loads(run_inprocess("runs", "--filter", "overfits", "--json").stdout)
    assert [run["id"] for run in listed] == [second.id]
    assert "No runs match." in run_inprocess("runs", "--tag", "nothing-has-this").stdout

    done = run_inprocess("tag", str(first.id), "--remove", "baseline", "--json")
    assert json.loads(done.stdout)["tags"] == ["lr/2e-4"]
    done = run_inprocess("note", str(second.id), "--clear", "--json")
    assert json.loads(done.stdout)["notes"] is None
    assert_clean_error(run_inprocess("tag", str(first.id), "has space"), "not one word", code=2)


async def test_the_app_writes_a_note_and_tags_and_its_filter_finds_them(runs):
    target = runs[2]
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await wait_until(pilot, lambda: history.table.total_count > 0, what="the runs to load")
        history.table.move_to(target.id)
        await pilot.press("l")
        modal = app.screen
        assert isinstance(modal, LabelModal)
        await pilot.press(*"keeps the tone")
        await pilot.press("tab")
        await pilot.press(*"best two words")
        await pilot.press("enter")
        await wait_until(pilot, lambda: open_store().get_run(target.id).tags, what="the tags to be kept")
        kept = open_store().get_run(target.id)
        assert kept.tags == ["best", "two", "words"] and kept.notes == "keeps the tone"
        assert any("Kept the note and tags" in text for text in notifications(app))

        await wait_until(pilot, lambda: app.screen is history, what="the history again")
        history.query_one("#filter", Input).value = "tag:best"
        await wait_until(pilot, lambda: history.table.row_count == 1, what="the filter to apply")
        assert list(history.table.shown_keys) == [target.id]


async def test_the_app_refuses_a_tag_it_cannot_keep_and_says_why(runs):
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await wait_until(pilot, lambda: history.table.total_count > 0, what="the runs to load")
        await pilot.press("l", "tab", *("x" * 45), "enter")
        modal = app.screen
        assert isinstance(modal, LabelModal)  # still open: nothing was kept
        assert "characters long" in str(modal.query_one("#error").render())
        await pilot.press("escape")
        assert all(not run.tags for run in open_store().list_runs())
