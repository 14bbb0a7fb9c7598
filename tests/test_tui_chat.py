"""After training, a user talks to the model in the app: the fine-tuned model and its base answer
the same prompt side by side, tokens stream in, ctrl+c stops an answer, two runs chat side by
side, every answered turn is kept with its run, listed in the run detail and exported as training
data; a model that does not fit the free memory is refused in plain words. The models run in the
chat child process; the app's own process never loads them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from textual.widgets import Input, Select, Static, TabbedContent

import tuitune
from tests.helpers import completed_run_of_a_huge_model
from tests.trained_runs import Trained, greeting_config, home_env, write_greetings
from tests.tui_steps import shown
from tuitune._dev.pilot import notifications, screen_text, wait_until
from tuitune.chats.side_by_side import ChatSession
from tuitune.store import COMPLETED, open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.chat import ChatScreen
from tuitune.tui.screens.detail import RunDetailScreen
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.widgets.chat_pane import ChatPane
from tuitune.tui.widgets.chat_settings import ChatSettingsModal
from tuitune.tui.widgets.prompts import AskModal

pytestmark = pytest.mark.integration  # the models live in the chat child process

PROMPT = "Greet Ada and mention music."


@pytest.fixture(scope="module")
def trained_home(greeter_home: Trained) -> tuple[Path, int, int]:
    """The greeter, a LoRA run that learned the greetings (its greedy answer starts "Hello "), and
    a short one trained here beside it."""
    home = greeter_home.home
    with home_env(home):
        data = write_greetings(home / "greetings.jsonl")
        short = tuitune.train(greeting_config(data, max_steps=2).name("greeter-short").build())
    assert short.status == COMPLETED
    return home, greeter_home.run_id, short.run_id


@pytest.fixture
def runs(trained_home: tuple[Path, int, int], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, int]]:
    home, greeter, short = trained_home
    monkeypatch.setenv("TUITUNE_HOME", str(home))
    yield greeter, short
    from tests.conftest import stop_leftover_processes

    stop_leftover_processes(home)  # a chat child a failed test left behind


async def _chat_with(pilot, *run_ids: int) -> ChatScreen:
    """From the history: mark the runs (two) or put the cursor on one, press a, wait for the models."""
    app = pilot.app
    history = app.screen
    assert isinstance(history, HistoryScreen)
    await wait_until(pilot, lambda: history.table.total_count >= len(run_ids), what="the runs")
    for run_id in run_ids:
        history.table.move_to(run_id)
        if len(run_ids) > 1:
            await pilot.press("space")
    await pilot.press("a")
    chat = await shown(pilot, ChatScreen, what="the chat")
    await wait_until(
        pilot,
        lambda: chat.session is not None and len(chat.session.loaded) == len(chat.session.panes),
        timeout=180,
        what="the models to load",
    )
    await pilot.pause()
    return chat


async def _greedy(pilot, max_new_tokens: str = "24") -> None:
    """The settings panel: temperature 0 (greedy), a short answer."""
    await pilot.press("ctrl+o")
    assert isinstance(pilot.app.screen, ChatSettingsModal)
    await pilot.press("ctrl+u", "0")  # the temperature field has the focus
    pilot.app.screen.query_one("#max_new_tokens", Input).value = max_new_tokens
    await pilot.press("ctrl+s")
    assert isinstance(pilot.app.screen, ChatScreen)


async def _answered(pilot, chat: ChatScreen, turns: int) -> None:
    """Every pane answered: the turn is kept (a demo model's answer can take less than a poll)."""
    await wait_until(
        pilot,
        lambda: not chat.generating and len(session_of(chat).turns) == turns,
        timeout=120,
        what=f"turn {turns}",
    )


def session_of(chat: ChatScreen) -> ChatSession:
    """The chat's session, open while the screen shows."""
    assert chat.session is not None, "the chat has no session"
    return chat.session


def _panes(chat: ChatScreen) -> list[ChatPane]:
    return list(chat.query(ChatPane))


@pytest.mark.slow
async def test_the_fine_tuned_model_and_its_base_answer_side_by_side_as_they_write_and_the_chat_is_kept(
    runs, tmp_path: Path, monkeypatch
):
    greeter, _ = runs
    kept_before = len(open_store().conversations(greeter))
    pieces: list[tuple[str, int]] = []
    original_add = ChatPane.add

    def add(pane: ChatPane, text: str) -> None:  # what a pane is given, piece by piece
        pieces.append((pane.id or "", len(text)))
        original_add(pane, text)

    monkeypatch.setattr(ChatPane, "add", add)
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        chat = await _chat_with(pilot, greeter)
        finetuned, base = _panes(chat)
        text = screen_text(app)
        # Each header says exactly what it loaded.
        assert f"#{greeter} greeter · fine-tuned" in text and f"#{greeter} greeter · base" in text
        run = open_store().get_run(greeter)
        headers = [str(pane.query_one(".pane-header").render()) for pane in (finetuned, base)]
        assert headers[0] == f"tuitune/demo + adapter {run.output_dir}/adapter\ntemplate chatml · cpu"
        assert headers[1] == "base tuitune/demo, no adapter\ntemplate chatml · cpu"
        assert "base tuitune/demo, no adapter" in text and "template chatml · cpu" in text
        chat_child = session_of(chat)._child
        assert chat_child is not None and chat_child.pid is not None
        child = psutil.Process(chat_child.pid)  # the models live in the chat child
        assert "tuitune.chats.server" in " ".join(child.cmdline())

        await _greedy(pilot)
        assert "greedy · max 24 tokens · seed 0" in screen_text(app)
        await pilot.press(*PROMPT, "enter")
        await _answered(pilot, chat, 1)
        # Streamed: the fine-tuned answer arrived in several pieces, then the base one.
        mine = [piece for piece in pieces if piece[0] == "pane-a"]
        assert len(mine) > 3 and [piece[0] for piece in pieces].index("pane-b") > len(mine) - 1
        assert finetuned.answer_text.strip().startswith("Hello ") and "good to see you" in finetuned.answer_text
        assert base.answer_text and base.answer_text != finetuned.answer_text
        text = screen_text(app)
        assert PROMPT in text and "tokens/s" in text and "saved with run" in text

        kept = open_store().conversations(greeter)
        assert len(kept) == kept_before + 1
        turn = kept[0].turns[0]
        assert turn["prompt"] == PROMPT and set(turn["answers"]) == {"finetuned", "base"}
        assert turn["answers"]["finetuned"]["text"] == finetuned.answer_text.strip()
        assert kept[0].settings["temperature"] == 0 and kept[0].settings["max_new_tokens"] == 24

        # A second turn carries the first as history, into the same saved conversation.
        await pilot.press(*"And Grace?", "enter")
        await _answered(pilot, chat, 2)
        kept = open_store().conversations(greeter)
        assert len(kept) == kept_before + 1 and [turn["prompt"] for turn in kept[0].turns] == [PROMPT, "And Grace?"]

        # Back in the history, the run detail lists the chat and exports it as training data.
        await pilot.press("escape")
        assert isinstance(app.screen, HistoryScreen)
        await wait_until(pilot, lambda: chat.session is None, what="the chat to close")
        await wait_until(
            pilot,
            lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE,
            timeout=30,
            what="the chat child to stop",
        )
        await pilot.press("enter")
        detail = await shown(pilot, RunDetailScreen, lambda screen: screen.run, what="the detail")
        detail.query_one("#detail-tabs", TabbedContent).active = "chats"
        await wait_until(pilot, lambda: detail.conversations, what="the chats")
        await pilot.pause()
        text = screen_text(app)
        assert f"you: {PROMPT}" in text and "fine-tuned: Hello " in text and "x exports them as training data" in text
        await pilot.press("x")
        assert isinstance(app.screen, AskModal)
        target = tmp_path / "exported" / "chats.jsonl"
        await pilot.press("ctrl+u", *str(target), "enter")
        await wait_until(
            pilot, lambda: target.exists() and any("Wrote" in m for m in notifications(app)), what="the export"
        )
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == kept_before + 1
    assert rows[-1]["messages"][:2] == [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": turn["answers"]["finetuned"]["text"]},
    ]
    assert [message["role"] for message in rows[-1]["messages"]] == ["user", "assistant", "user", "assistant"]
    assert not notifications(app, "error")


def pane_text(pane) -> str:
    """Every line a chat pane holds, as plain text (each Static's own words, unwrapped)."""
    return " ".join(str(static.render()) for static in pane.query(Static))


def end_in_view(conversation) -> bool:
    """The conversation's last line is on screen: scrolled to the end, or short enough to fit (then
    Textual's anchor keeps it at the bottom with an offset below 0, which is no scroll position)."""
    return conversation.virtual_size.height <= conversation.size.height or (
        conversation.scroll_y == conversation.max_scroll_y
    )


@pytest.mark.slow
async def test_ctrl_c_stops_an_answer_which_is_not_kept_and_the_chat_goes_on(runs):
    greeter, _ = runs
    kept_before = len(open_store().conversations(greeter))
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await _chat_with(pilot, greeter)
        # Sampled and long: the base model rambles until it is stopped.
        await pilot.press("ctrl+o")
        pilot.app.screen.query_one("#max_new_tokens", Input).value = "1000"  # the demo model reads 1,024 tokens
        pilot.app.screen.query_one("#layout", Select).value = "base"  # the base model alone
        await pilot.press("ctrl+s")
        await wait_until(
            pilot, lambda: len(_panes(chat)) == 1 and session_of(chat).loaded, timeout=120, what="the base alone"
        )
        assert "base tuitune/demo, no adapter" in screen_text(app)
        assert "^c Stop" not in screen_text(app)  # the key is shown only while an answer is written
        # Stopped at once, in the same breath as the prompt, before the answer can end (1,000 tokens
        # of the tiny model can take under a second): a stop pressed before the answer's thread
        # starts still stops the turn. The child stopped halfway through an answer: tests/test_chat.py.
        await pilot.press(*"Tell me a long story.", "enter", "ctrl+c")
        pane = _panes(chat)[0]
        conversation = pane.conversation
        await wait_until(pilot, lambda: not chat.generating, timeout=60, what="the stop")
        # Read from the pane's lines, not the screen: at 80 columns a stats line can wrap inside
        # "stopped: not kept".
        await wait_until(
            pilot,
            lambda: "stopped: not kept" in pane_text(pane) or "the turn was stopped" in pane_text(pane),
            timeout=30,
            what="the stop said in the pane",
        )
        assert len(open_store().conversations(greeter)) == kept_before  # a cut answer is no training data
        assert end_in_view(conversation)  # it followed the answer as it was written
        await pilot.press("pageup")  # to read something above, then back to the end
        for _ in range(40):
            await pilot.press("pagedown")
        assert end_in_view(conversation)
        # The child serves on: the next prompt is answered and kept.
        await _greedy(pilot, "8")
        await pilot.press(*"Hi", "enter")
        await _answered(pilot, chat, 1)
        await wait_until(
            pilot,
            lambda: conversation.scroll_y == conversation.max_scroll_y,
            timeout=10,
            what="the pane to follow again",
        )
        kept = open_store().conversations(greeter)
        assert (
            len(kept) == kept_before + 1
            and kept[0].turns[0]["prompt"] == "Hi"
            and set(kept[0].turns[0]["answers"]) == {"base"}
        )
    assert not notifications(app, "error")


@pytest.mark.slow
async def test_two_marked_runs_chat_side_by_side_and_each_keeps_its_own_answers(runs):
    greeter, short = runs
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await _chat_with(pilot, greeter, short)
        text = screen_text(app)
        assert f"#{greeter} greeter · fine-tuned" in text and f"#{short} greeter-short · fine-tuned" in text
        await _greedy(pilot, "12")
        await pilot.press(*PROMPT, "enter")
        await _answered(pilot, chat, 1)
        left, right = _panes(chat)
        assert left.answer_text.strip().startswith("Hello ")
        for run_id, pane in ((greeter, left), (short, right)):
            saved = open_store().conversations(run_id)[0]
            assert saved.turns[-1]["prompt"] == PROMPT
            assert saved.turns[-1]["answers"]["finetuned"]["text"] == pane.answer_text.strip()
    assert not notifications(app, "error")


async def test_a_model_bigger_than_the_free_memory_is_refused_in_plain_words(tuitune_home: Path, tmp_path: Path):
    run = completed_run_of_a_huge_model(tmp_path)
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await _chat_with(pilot, run.id)
        finetuned, base = (str(pane.query_one(".pane-header").render()) for pane in _panes(chat))
        assert base.startswith("Could not load: The base model") and "needs about" in base and "of RAM free" in base
        assert "has no saved adapter yet" in finetuned  # the fine-tuned side: never trained to the end
        assert "Could not load" in screen_text(app)
        await pilot.press(*"hello", "enter")
        assert not chat.generating
        assert any("No model could be loaded" in message for message in notifications(app, "warning"))
        assert any("needs about" in message for message in notifications(app, "error"))  # also kept in the messages (!)
