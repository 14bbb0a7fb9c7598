"""Opening the app: light imports, the right first screen, and no training stack in its process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from textual.binding import Binding

from tuitune._dev.pilot import screen_text, wait_until
from tuitune._dev.sample_runs import populate
from tuitune.store import open_store
from tuitune.tui.app import TuituneApp, create_app
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.screens.wizard import WizardScreen

HEAVY = ("torch", "transformers", "peft", "datasets", "bitsandbytes", "accelerate", "trl")


def _heavy_modules_after(code: str) -> list[str]:
    """Run `code` in a fresh interpreter and list the heavy modules it ended up importing."""
    script = code + textwrap.dedent(
        f"""
        import json, sys
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.integration
def test_importing_the_app_never_imports_the_training_stack():
    assert _heavy_modules_after("import tuitune.tui.app") == []


@pytest.mark.integration
def test_the_chat_screen_leaves_the_models_to_its_child_process():
    # The chat screen, its session and its settings panel: the models load in `tuitune.chats.server`.
    code = "import tuitune.tui.screens.chat, tuitune.chats.side_by_side, tuitune.tui.widgets.chat_settings"
    assert _heavy_modules_after(code) == []


@pytest.mark.integration
def test_the_first_screens_paint_without_the_training_stack():
    # Both first screens, in a fresh process: the history (runs exist) and the wizard (none).
    code = textwrap.dedent(
        """
        import asyncio
        from tuitune.store import open_store
        from tuitune.tui.app import create_app
        from tuitune._dev.sample_runs import populate

        async def main():
            for mode in ("new", "history"):
                app = create_app(mode=mode, reconcile_seconds=None)
                async with app.run_test(size=(80, 24)) as pilot:
                    await pilot.pause(0.5)
                    app.screen.query_one("Footer")
            populate(open_store())
            async with create_app(reconcile_seconds=None).run_test(size=(80, 24)) as pilot:
                await pilot.pause(0.5)

        asyncio.run(main())
        """
    )
    assert _heavy_modules_after(code) == []


@pytest.mark.integration
async def test_a_first_time_user_lands_in_the_wizard_with_the_demo_preselected():
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, WizardScreen)
        assert app.current_mode == "new"
        text = screen_text(app)
        assert "tuitune/demo" in text
        assert "1 Model" in text and "4 Review" in text
        # The focus is in the model field with the demo selected: typing replaces it, enter moves on.
        assert app.focused is not None and app.focused.id == "model-input"


async def test_with_runs_in_the_store_the_app_opens_on_the_history():
    populate(open_store())
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await wait_until(pilot, lambda: history.table.total_count == 8, what="runs in the table")
        text = screen_text(app)
        # At 120 columns the table fits the screen: long names keep their start, and the
        # selected run is named whole on the line above the footer.
        assert "qwen-supp…" in text and "llama3-8b…" in text
        assert "8 runs · #8 qwen-support-dora running" in text


async def test_every_global_binding_has_a_description_tooltip_and_id():
    for binding in TuituneApp.BINDINGS:
        assert isinstance(binding, Binding), binding  # not a bare (key, action) tuple
        assert binding.description and binding.tooltip and binding.id, binding
