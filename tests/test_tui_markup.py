"""User text is shown as it was typed: a run called `[red]x` is not red, `exp[/]1` does not crash.

Run names, errors, paths, model and dataset ids, samples and log lines reach Textual as plain
text on every screen: history, detail, training, compare, dialogs, notifications and the palette.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import TabbedContent

from tests.tui_steps import compare_runs, current, shown
from tuitune._dev.pilot import notifications, screen_text, wait_until
from tuitune.config import ConfigBuilder
from tuitune.store import open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.detail import RunDetailScreen
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.screens.messages import MessagesScreen
from tuitune.tui.screens.training import TrainingScreen
from tuitune.tui.widgets.confirm import ConfirmModal
from tuitune.tui.widgets.prompts import DeleteModal, ResumeModal, UploadModal

CLOSING = "exp[/]1"
RED = "[red]x"
LINK = "[link=file:///etc/passwd]y"
ERROR = "CUDA error [/INST] in <s>[INST] prompt [/] at step 3 [bold]boom"
DATASET = "data/[bold]chats[/].jsonl"
MODEL = "org/[i]model[/i]"


def _unwrapped(text: str) -> str:
    return "".join(line.strip(" │┃") for line in text.splitlines())


@pytest.fixture
def hostile_runs(tuitune_home: Path):
    """Runs whose names, error, model, dataset, samples, paths and events look like markup."""
    store = open_store()
    config = ConfigBuilder().demo().build().to_dict()
    runs = {}
    for name, status in ((CLOSING, "completed"), (RED, "failed"), (LINK, "running")):
        run = store.create_run(name=name, config=config, model=MODEL, method="lora", dataset=DATASET, status="running")
        folder = tuitune_home / "runs" / f"{run.id}-[dim]folder[/]"
        store.update_run(
            run.id, output_dir=str(folder), host="another-host", steps_done=3, steps_total=10, last_loss=2.5
        )
        store.add_metric_points(run.id, [{"step": 1, "loss": 3.0}, {"step": 3, "loss": 2.5, "eval_loss": 2.7}])
        store.add_event(run.id, f"loading model {MODEL} [/] from [b]cache")
        if status == "failed":
            store.set_status(run.id, "failed", error=ERROR)
        elif status == "completed":
            store.set_status(run.id, "completed")
            store.add_artifact(run.id, kind="adapter", path=f"{folder}/adapter[/]")
            sample = {
                "prompt": "<s>[INST] hi [/INST]",
                "reference": "[/] ref",
                "base": "[red]b",
                "finetuned": "[/INST] f",
            }
            store.add_evaluation(
                run.id, label="base", metrics={"rougeL": 0.1}, sample_count=1, settings={}, samples=[sample]
            )
            store.add_evaluation(
                run.id, label="finetuned", metrics={"rougeL": 0.2}, sample_count=1, settings={}, samples=[sample]
            )
        runs[name] = store.get_run(run.id)
    return runs


async def test_names_errors_paths_and_samples_that_look_like_markup_show_literally_everywhere(hostile_runs):
    closing, red, link = hostile_runs[CLOSING], hostile_runs[RED], hostile_runs[LINK]
    app = create_app(reconcile_seconds=None)
    # Wide enough that no long path wraps; with toasts, which tests do not show by default.
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        # History: the table and the line about the run under the cursor.
        history = current(app, HistoryScreen)
        assert isinstance(history, HistoryScreen)
        await wait_until(pilot, lambda: history.table.total_count == 3, what="the runs")
        text = screen_text(app)
        assert CLOSING in text and RED in text
        history.table.move_to(red.id)
        await pilot.pause()
        assert ERROR in _unwrapped(screen_text(app))
        history.table.move_to(link.id)
        await pilot.pause()
        assert LINK in screen_text(app)

        # Detail: overview (name, model, dataset, folder, error), evaluations (samples), artifacts, log.
        for run in (red, closing):
            app.open_run(run.id)
            detail = await shown(pilot, RunDetailScreen, lambda screen: screen.run, what="the detail")
            text = _unwrapped(screen_text(app))
            assert f"#{run.id} {run.name}" in text and MODEL in text and DATASET in text and "[dim]folder[/]" in text
            if run is red:
                assert ERROR in text
            else:
                detail.query_one("#detail-tabs", TabbedContent).active = "evaluations"
                await pilot.pause()
                text = screen_text(app)
                assert "<s>[INST] hi [/INST]" in text and "[/] ref" in text and "[red]b" in text and "[/INST] f" in text
                detail.query_one("#detail-tabs", TabbedContent).active = "artifacts"
                await pilot.pause()
                assert "adapter[/]" in screen_text(app)
            await pilot.press("escape")

        # Training: title, summary with the error, the events.
        app.show_training(red.id)
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_until(pilot, lambda: "Failed after" in screen_text(app), what="the summary")
        text = _unwrapped(screen_text(app))
        assert f"#{red.id} {RED}" in text and ERROR in text
        assert f"loading model {MODEL} [/] from [b]cache" in text

        # Confirm dialogs and their notifications.
        app.show_training(link.id)
        await wait_until(pilot, lambda: training.run is not None and training.run.id == link.id, what="the running run")
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmModal) and f"Stop {LINK}?" in screen_text(app)
        await pilot.press("n")
        await pilot.press("h")
        history.table.move_to(closing.id)
        await pilot.press("m")
        assert isinstance(app.screen, ConfirmModal) and f"Merge {CLOSING}?" in screen_text(app)
        await pilot.press("n")
        await pilot.press("u")
        assert isinstance(app.screen, UploadModal) and f"Upload {CLOSING} to the Hugging Face Hub" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ResumeModal), what="the resume dialog")
        assert f"Resume {CLOSING}" in screen_text(app)
        await pilot.press("escape")
        history.table.move_to(red.id)
        await pilot.press("d")
        assert isinstance(app.screen, DeleteModal) and f"Delete {RED}?" in screen_text(app)
        await pilot.press("y")
        await wait_until(
            pilot,
            lambda: any(f"Deleted {RED}." in str(toast.render()) for toast in app.screen.query("Toast")),
            what="the notification, as a toast",
        )
        await pilot.press("exclamation_mark")
        assert isinstance(app.screen, MessagesScreen) and f"Deleted {RED}." in screen_text(app)
        await pilot.press("escape")

        # Compare: column heads, model, dataset, curves' legend.
        compare = await compare_runs(pilot, (closing, link))
        assert f"#{closing.id} {CLOSING}" in screen_text(app) and f"#{link.id} {LINK}" in screen_text(app)
        compare.query_one("#compare-tabs", TabbedContent).active = "metrics-pane"
        await pilot.pause()
        assert CLOSING in screen_text(app) and "[i]model[/i]" in screen_text(app)
        await pilot.press("escape")

        # The palette: runs by name, and their model in the help line.
        await pilot.press("ctrl+p", *"exp")
        await wait_until(pilot, lambda: f"Open run {closing.id} {CLOSING}" in screen_text(app), what="the palette hit")
        assert f"lora on {MODEL}" in screen_text(app)
        await pilot.press("escape")
    assert not notifications(app, "error")


@pytest.mark.integration  # the chat's models load in its child process
async def test_the_chat_shows_run_names_load_errors_prompts_and_answers_literally(hostile_runs):
    from tuitune.tui.screens.chat import ChatScreen
    from tuitune.tui.widgets.chat_pane import ChatPane

    closing = hostile_runs[CLOSING]
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        history = current(app, HistoryScreen)
        await wait_until(pilot, lambda: history.table.total_count == 3, what="the runs")
        history.table.move_to(closing.id)
        await pilot.press("a")
        chat = await shown(pilot, ChatScreen, what="the chat")
        await wait_until(
            pilot, lambda: chat.session is not None and len(chat.session.loaded) == 2, timeout=120, what="the loads"
        )
        await pilot.pause()
        text = screen_text(app)
        assert f"#{closing.id} {CLOSING} · fine-tuned" in text and f"#{closing.id} {CLOSING} · base" in text
        finetuned, base = chat.query(ChatPane)
        header = str(finetuned.query_one(".pane-header").render())
        assert header.startswith("Could not load: ") and "[dim]folder[/]" in header  # its folder, literally
        assert str(base.query_one(".pane-header").render()).startswith("base tuitune/demo, no adapter")
        # What a model writes (and a user types) is text, whatever brackets it holds.
        finetuned.ask(RED)
        finetuned.add("<s>[INST] [/] ")
        finetuned.add("[bold]boom")
        await pilot.pause()
        assert RED in screen_text(app) and "<s>[INST] [/] [bold]boom" in screen_text(app)
        finetuned.done({"text": LINK, "tokens": 3, "stopped": "eos"})
        await pilot.pause()
        assert LINK in screen_text(app) and "3 tokens · end of answer" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, HistoryScreen)
    assert any("[dim]folder[/]" in message for message in notifications(app, "error"))


# What the demo model once wrote in a chat answer: GROUP SEPARATOR, a control character.
SEPARATOR = "\x1d"


@pytest.mark.integration  # the chat's models load in its child process
async def test_control_characters_a_model_writes_show_escaped_and_every_screenshot_is_valid_xml(
    hostile_runs, tmp_path: Path, demo_model_path
):
    import xml.etree.ElementTree as ET

    from tuitune.tui.screens.chat import ChatScreen
    from tuitune.tui.widgets.chat_pane import ChatPane

    closing = hostile_runs[CLOSING]
    answer = f"Hello{SEPARATOR}there"
    on_screen = "Hello\\x1dthere"  # as the screen shows it
    store = open_store()
    sample = {
        "prompt": "<|im_start|>user\nSay hello<|im_end|>\n<|im_start|>assistant\n",
        "messages": [{"role": "user", "content": "Say hello"}],
        "reference": "Hello there",
        "base": answer,
        "finetuned": answer,
    }
    for label in ("base", "finetuned"):
        store.add_evaluation(
            closing.id, label=label, metrics={"rougeL": 0.3}, sample_count=1, settings={}, samples=[sample]
        )
    store.save_conversation(
        closing.id,
        turns=[{"prompt": "Say hello", "answers": {"finetuned": {"text": answer, "tokens": 3, "stopped": "eos"}}}],
        settings={},
    )
    shots = tmp_path / "shots"
    app = create_app(reconcile_seconds=None, screenshot_dir=shots)

    async def shoot(count: int) -> None:
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: len(list(shots.glob("*.svg"))) == count, timeout=10, what="the screenshot")

    async with app.run_test(size=(120, 36)) as pilot:
        history = current(app, HistoryScreen)
        await wait_until(pilot, lambda: history.table.total_count == 3, what="the runs")
        app.open_run(closing.id)
        detail = await shown(pilot, RunDetailScreen, lambda screen: screen.run, what="the detail")
        for count, tab in enumerate(("evaluations", "chats"), start=1):
            detail.query_one("#detail-tabs", TabbedContent).active = tab
            await wait_until(pilot, lambda: on_screen in screen_text(app), timeout=15, what=f"the answer in {tab}")
            assert SEPARATOR not in screen_text(app)
            await shoot(count)
        # The chat, as an answer streams in.
        await pilot.press("a")
        chat = await shown(pilot, ChatScreen, what="the chat")
        await wait_until(
            pilot, lambda: chat.session is not None and len(chat.session.loaded) == 2, timeout=120, what="the loads"
        )
        pane = chat.query(ChatPane).last()
        pane.ask("Say hello")
        pane.add(answer)
        await wait_until(pilot, lambda: on_screen in screen_text(app), timeout=15, what="the streamed answer")
        assert SEPARATOR not in screen_text(app)
        await shoot(3)
        await pilot.press("escape")
    for svg in shots.glob("*.svg"):
        ET.parse(svg)  # raises on a character XML does not allow
