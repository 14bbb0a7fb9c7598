"""The dashboard's chat in a real browser: a user opens a trained run's chat, sends a prompt, and
the fine-tuned model and its base answer side by side, streamed, each with its stats; the turn is
kept and shown again after a reload. A refused setting shows the server's words beside it; prompts
and answers are text, never HTML; the page fits a phone's width, its panes one above the other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.helpers import running_server
from tests.trained_runs import home_env, new_home
from tuitune.client import Client
from tuitune.store import COMPLETED, open_store

# A server, Chromium and the chat's model processes: serial.
pytestmark = [pytest.mark.slow, pytest.mark.serial]

HOSTILE = '<img src=x onerror="window.__pwned = 1">'
expect.set_options(timeout=60_000)  # a busy CI machine loads two models on two cores

# Counts, per pane, the pieces of text added to an answer while it is still being written (before
# its `done` replaces it with the whole answer): the page's own streaming, seen from outside.
OBSERVE = """
window.__pieces = {};
new MutationObserver((mutations) => {
  for (const mutation of mutations) {
    const pane = mutation.target.closest?.('.chat-pane');
    const turn = mutation.target.closest?.('.chat-turn');
    if (!pane || !turn || !mutation.target.classList?.contains('chat-answer')) continue;
    const model = pane.dataset.model;
    if (turn.dataset.state === 'writing') {
      window.__pieces[model] = (window.__pieces[model] || 0) + mutation.addedNodes.length;
    }
  }
}).observe(document.getElementById('page'), { childList: true, subtree: true, characterData: true });
"""


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path
) -> Iterator[tuple[str, int, Path]]:
    """One server and one demo run trained a few steps through it."""
    home = new_home(tmp_path_factory, shared_models_dir, "dashboard-chat")
    with home_env(home), running_server(home=home) as url, Client(url) as client:
        config = {
            "name": "chat in a browser",
            "method": "lora",
            "data": {"max_length": 64},
            "training": {"max_steps": 2, "save_steps": 1000, "logging_steps": 1},
        }
        created = client.create_run(config, queue=False)
        assert client.wait(created["id"], timeout=600)["status"] == COMPLETED
        yield url, created["id"], home
    from tests.conftest import stop_leftover_processes

    stop_leftover_processes(home)


class Watched:
    """A page plus its script errors and the dialogs it opened."""

    def __init__(self, browser: Any, width: int = 1280) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def fits(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    def close(self) -> None:
        self.context.close()


def last_turn(page: Any, model: str) -> Any:
    return page.locator(f"#turns-{model} .chat-turn").last


def test_a_prompt_streams_into_both_panes_with_stats_and_the_turn_is_kept(
    browser: Any, served: tuple[str, int, Path]
) -> None:
    url, run_id, _ = served
    watched = Watched(browser)
    page = watched.page
    page.goto(f"{url}/#/runs/{run_id}/chat")
    expect(page.locator("#pane-finetuned h2")).to_have_text("fine-tuned")
    expect(page.locator("#pane-base h2")).to_have_text("base")

    # The settings come from the server's schema, with its limits; greedy, short answers.
    page.click("#chat-settings summary")
    assert page.get_attribute("#sampling-temperature", "max") == "5"
    page.fill("#sampling-temperature", "0")
    page.fill("#sampling-max_new_tokens", "12")
    expect(page.locator("#chat-settings-summary")).to_have_text("Settings · greedy · max 12 tokens · seed 0")
    page.evaluate(OBSERVE)

    page.fill("#chat-prompt", "Say something.")
    page.press("#chat-prompt", "Enter")  # Enter sends
    expect(page.locator("#chat-stop")).to_be_enabled()
    for model in ("finetuned", "base"):
        turn = last_turn(page, model)
        expect(turn.locator(".chat-prompt")).to_have_text("Say something.")
        expect(turn).to_have_attribute("data-state", "done", timeout=240_000)
        expect(turn.locator(".chat-stats")).to_contain_text("tokens")
        assert turn.locator(".chat-answer").inner_text().strip()
    # What each side loaded, exactly; the text arrived before each answer was done.
    expect(page.locator("#model-finetuned")).to_contain_text("adapter")
    expect(page.locator("#model-base")).to_contain_text("no adapter")
    pieces = page.evaluate("window.__pieces")
    assert pieces.get("finetuned", 0) >= 1 and pieces.get("base", 0) >= 1, pieces
    expect(page.locator("#chat-status")).to_have_text("Kept with the run.")
    expect(page.locator("#chat-stop")).to_be_disabled()
    answers = {model: last_turn(page, model).locator(".chat-answer").inner_text() for model in ("finetuned", "base")}
    stats = last_turn(page, "base").locator(".chat-stats").inner_text()
    assert "tokens/s" in stats or "0 tokens" in stats

    # Shift+Enter is a new line in the box, not a send.
    page.press("#chat-prompt", "Shift+Enter")
    assert page.input_value("#chat-prompt") == "\n"
    page.fill("#chat-prompt", "")

    # After a reload the kept conversation is shown, with its settings, to go on with.
    page.reload()
    for model in ("finetuned", "base"):
        turn = last_turn(page, model)
        expect(turn.locator(".chat-prompt")).to_have_text("Say something.")
        expect(turn.locator(".chat-answer")).to_have_text(answers[model])
    assert page.input_value("#sampling-max_new_tokens") == "12"

    # New chat empties the panes; the next message starts another conversation.
    page.click("#chat-new")
    expect(page.locator(".chat-turn")).to_have_count(0)

    # At a phone's width: no sideways scroll, the base below the fine-tuned model.
    page.set_viewport_size({"width": 390, "height": 800})
    assert watched.fits()
    top = page.locator("#pane-base").bounding_box()
    above = page.locator("#pane-finetuned").bounding_box()
    assert top is not None and above is not None and top["y"] >= above["y"] + above["height"]
    assert watched.errors == []
    watched.close()


def test_prompts_and_answers_are_text_and_a_refused_setting_says_why_beside_it(
    browser: Any, served: tuple[str, int, Path]
) -> None:
    url, run_id, home = served
    # A kept turn whose answers are markup: shown as the characters they are.
    answer = {"text": HOSTILE, "tokens": 9, "seconds": 0.1, "tokens_per_second": 90.0, "stopped": "eos"}
    with home_env(home):
        open_store().save_conversation(
            run_id, turns=[{"prompt": HOSTILE, "answers": {"finetuned": answer, "base": answer}}], settings={}
        )
    watched = Watched(browser)
    page = watched.page
    page.goto(f"{url}/#/runs/{run_id}/chat")
    for model in ("finetuned", "base"):
        expect(last_turn(page, model).locator(".chat-answer")).to_have_text(HOSTILE)
        expect(last_turn(page, model).locator(".chat-prompt")).to_have_text(HOSTILE)
    assert page.locator("#page img").count() == 0

    # A setting the server refuses: its words beside that setting, the prompt back in the box.
    page.click("#chat-settings summary")
    page.fill("#sampling-temperature", "9")
    page.fill("#chat-prompt", HOSTILE)
    page.click("#chat-send")
    expect(page.locator("#error-sampling\\.temperature")).to_contain_text("less than or equal to 5")
    assert page.input_value("#chat-prompt") == HOSTILE
    expect(page.locator(".chat-turn")).to_have_count(2)  # the kept turn only, in each pane

    # Asked for real, a prompt of markup is text in both panes too.
    page.fill("#sampling-temperature", "0")
    page.fill("#sampling-max_new_tokens", "4")
    page.click("#chat-send")
    for model in ("finetuned", "base"):
        expect(last_turn(page, model)).to_have_attribute("data-state", "done", timeout=240_000)
        expect(last_turn(page, model).locator(".chat-prompt")).to_have_text(HOSTILE)
    assert page.locator("#page img").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert watched.errors == [] and watched.dialogs == []
    watched.close()
