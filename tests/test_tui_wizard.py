"""The new-run wizard: from the demo defaults to a real run, and every way it can say no."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Collapsible, Input, OptionList, Select

from tests.tui_steps import run_of, shown
from tuitune._dev.pilot import notifications, screen_text, settle, wait_until
from tuitune.config import load_config
from tuitune.store import open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.training import TrainingScreen
from tuitune.tui.screens.wizard import WizardScreen
from tuitune.tui.screens.wizard_steps.dataset_step import DatasetStep
from tuitune.tui.screens.wizard_steps.model_step import ModelStep
from tuitune.tui.screens.wizard_steps.review_step import ReviewStep
from tuitune.tui.widgets.data_tree import shows
from tuitune.tui.widgets.event_log import EventLog
from tuitune.tui.widgets.metric_panel import MetricPanel

pytestmark = pytest.mark.integration  # the wizard reads the model in the app's helper process


def _said(wizard: WizardScreen, field: str) -> str:
    """The message shown under a form field ("" while the field is fine or hidden)."""
    shown = [message for message in wizard.query(f"{field}-error") if message.display]
    return str(shown[0].render()) if shown else ""


def _in_view(wizard: WizardScreen, selector: str) -> bool:
    """Whether the whole widget is on screen inside the method step (not scrolled away)."""
    widget = wizard.query_one(selector)
    return widget.display and wizard.query_one("#method-step").region.contains_region(widget.region)


async def _type(pilot: Pilot, selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)


@pytest.mark.slow
async def test_pressing_through_the_wizard_launches_a_real_demo_run_that_completes(demo_model_path):
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        # 1 Model: the demo, described from its config alone (read once the first frame is painted).
        await wait_until(pilot, lambda: wizard.query_one(ModelStep).requested, what="the model's read")
        await settle(pilot, names=["_probe"])
        info = screen_text(app)
        assert "LlamaForCausalLM" in info and "LoRA targets: q_proj" in info and "parameters" in info
        await pilot.press("enter")
        # 2 Dataset: the sample, detected and previewed with the demo's template.
        assert wizard.step == "dataset"
        await settle(pilot, names=["_probe"])
        preview = screen_text(app)
        assert "alpaca" in preview and "417 rows" in preview and "sample 1" in preview
        document = wizard.query_one(DatasetStep).document
        assert document is not None
        segments = document["previews"][0]["segments"]
        assert {segment["trained"] for segment in segments} == {True, False}
        await pilot.press("enter")
        # 3 Method: prefilled from the recommendation; keep the run short for the test.
        assert wizard.step == "method"
        assert "Recommended:" in screen_text(app)
        wizard.query_one("#advanced", Collapsible).collapsed = False
        await pilot.pause()  # its fields mount as it unfolds
        await _type(pilot, "#field-training-max-steps", "6")
        await _type(pilot, "#field-training-logging-steps", "2")
        await pilot.press("ctrl+n")
        # 4 Review: the YAML that will run, then Launch.
        assert wizard.step == "review"
        assert "name_or_path: tuitune/demo" in screen_text(app)
        config = wizard.query_one(ReviewStep).config
        assert config is not None and config.training.max_steps == 6 and config.data.source == "tuitune/sample"
        assert app.focused is not None and app.focused.id == "launch"
        await pilot.press("enter")
        training = await shown(pilot, TrainingScreen, lambda screen: screen.run, timeout=60, what="the training screen")
        run_id = run_of(training).id
        await wait_until(pilot, lambda: run_of(training).status == "completed", timeout=240, what="the run to complete")
        await wait_until(pilot, lambda: "Completed" in screen_text(app), timeout=10, what="the summary")
        text = screen_text(app)
        assert "step 6/6" in text and "e evaluate" in text
        assert training.query_one("#loss", MetricPanel).values  # the loss sparkline has points
    run = open_store().get_run(run_id)
    assert run.status == "completed" and run.steps_done == 6 and run.output_dir
    assert (Path(run.output_dir) / "config.yaml").is_file()


async def test_a_model_that_cannot_be_read_is_explained_and_blocks_the_next_step():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await _type(pilot, "#model-input", "no-such-org/no-such-model")
        await pilot.press("enter")
        model = wizard.query_one(ModelStep)
        await wait_until(
            pilot, lambda: model.error and model.probed == "no-such-org/no-such-model", timeout=120, what="the probe"
        )
        assert "✗" in screen_text(app)
        await pilot.press("ctrl+n")
        assert wizard.step == "model"
        assert notifications(app, "error")[-1].startswith("Cannot go on yet:")


def _keys(text: str) -> list[events.Key]:
    names = {"/": "slash", ".": "full_stop", "-": "minus", " ": "space"}
    return [events.Key(names.get(c, c), c) for c in text]


async def test_the_model_field_has_the_focus_and_takes_a_paste_a_burst_of_keys_and_backspace():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await pilot.pause()
        field = wizard.query_one("#model-input", Input)
        assert app.focused is field and field.selected_text == "tuitune/demo"  # preselected
        # A bracketed paste replaces the preselected default.
        app.post_message(events.Paste("Qwen/Qwen2.5-0.5B"))
        await pilot.pause()
        assert field.value == "Qwen/Qwen2.5-0.5B"
        # Backspace edits.
        await pilot.press("backspace", "backspace")
        assert field.value == "Qwen/Qwen2.5-0."
        # A burst of keys, as fast typing or a terminal without bracketed paste sends them, all arrives;
        # "h" (history), "t" (training) and "q" (quit) are letters here.
        field.value = ""
        for key in _keys("microsoft/phi-tq"):
            app.post_message(key)
        await pilot.pause()
        assert wizard.step == "model" and app.screen is wizard
        assert field.value == "microsoft/phi-tq"


async def test_enter_on_the_unchanged_default_goes_on_and_on_a_typed_model_reads_it_first():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await pilot.pause()
        await pilot.press("enter")  # the preselected demo: on to the dataset
        assert wizard.step == "dataset"
        assert app.focused is wizard.query_one("#data-input")
        await pilot.press("escape")
        assert wizard.step == "model"
        await pilot.press(*"no-such-org/no-such-model", "enter")  # typed: read it, stay
        assert wizard.step == "model"
        model = wizard.query_one(ModelStep)
        assert model.requested == "no-such-org/no-such-model"


async def test_a_dataset_that_does_not_exist_is_explained(tmp_path: Path):
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        wizard.go_to("dataset")
        await pilot.pause()
        missing = str(tmp_path / "missing.jsonl")
        await _type(pilot, "#data-input", missing)
        await pilot.press("enter")
        data = wizard.query_one(DatasetStep)
        await wait_until(
            pilot, lambda: data.error and data.probed and data.probed[0] == missing, timeout=120, what="the preview"
        )
        assert data.error and "missing.jsonl" in data.error
        assert "✗" in screen_text(app)
        await pilot.press("ctrl+n")
        assert wizard.step == "dataset"


async def test_fields_are_checked_as_you_type_and_the_config_saves_to_a_file(tmp_path: Path):
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        wizard.go_to("method")
        await pilot.pause()
        await _type(pilot, "#field-training-epochs", "abc")
        assert _said(wizard, "#field-training-epochs") == "Epochs must be a number > 0 and ≤ 100,000."
        await pilot.press("ctrl+n")
        assert wizard.step == "method"
        assert notifications(app, "error")[-1] == "Cannot go on yet: Epochs must be a number > 0 and ≤ 100,000."
        await _type(pilot, "#field-training-epochs", "2")
        await _type(pilot, "#field-lora-r", "0")
        assert _said(wizard, "#field-lora-r") == "LoRA rank must be a whole number ≥ 1 and ≤ 32,768."
        await _type(pilot, "#field-lora-r", "16")
        await _type(pilot, "#field-name", "my-first-run")
        await pilot.press("ctrl+n")
        assert wizard.step == "review"
        target = tmp_path / "run.yaml"
        await _type(pilot, "#save-path", str(target))
        await pilot.click("#save")
        await pilot.pause()
    config = load_config(target)
    assert config.name == "my-first-run" and config.training.epochs == 2 and config.lora.r == 16
    assert config.model.name_or_path == "tuitune/demo" and config.data.source == "tuitune/sample"


def test_the_file_picker_shows_folders_and_data_files_only(tmp_path: Path):
    tmp_path = tmp_path / "picked"
    tmp_path.mkdir()
    for name in ("train.jsonl", "notes.txt", "table.parquet", "photo.png", ".secret.json", "model.safetensors"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "__pycache__").mkdir()
    shown = {path.name for path in tmp_path.iterdir() if shows(path)}
    assert shown == {"train.jsonl", "notes.txt", "table.parquet", "sub"}


def _sharegpt_with_tools(path: Path) -> Path:
    """Conversations in the sharegpt layout, one with a tool call, as a user brings them."""
    rows = [
        {"conversations": [{"from": "human", "value": f"What is {n} plus {n}?"}, {"from": "gpt", "value": f"{2 * n}."}]}
        for n in range(10)
    ]
    rows.append(
        {
            "conversations": [
                {"from": "human", "value": "What's the weather in Oslo?"},
                {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Oslo"}}'},
                {"from": "observation", "value": '{"temperature": 4}'},
                {"from": "gpt", "value": "It is 4 degrees in Oslo."},
            ]
        }
    )
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


async def test_instruction_tuning_on_sharegpt_data_is_refused_before_launch_with_the_engines_reason(
    tmp_path: Path, demo_model_path
):
    data = _sharegpt_with_tools(tmp_path / "chats.jsonl")
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        wizard.go_to("dataset")
        await pilot.pause()
        wizard.query_one("#data-input", Input).value = str(data)
        wizard.go_to("method")
        await pilot.pause()
        wizard.query_one("#method-step #method", Select).value = "instruction_tuning"
        await pilot.press("ctrl+n")
        assert wizard.step == "review", (notifications(app), wizard.step)
        await wait_until(pilot, lambda: "would fail at once" in screen_text(app), timeout=120, what="the check")
        text = " ".join(screen_text(app).split())
        assert "instruction_tuning trains on alpaca data" in text and "use method lora" in text
        assert wizard.query_one("#launch").disabled
        await pilot.press("ctrl+l")
        assert "would fail at once" in notifications(app, "error")[-1]
        assert open_store().list_runs() == []  # nothing was launched
        # The same data with LoRA passes the same check, and says what the run will train on.
        wizard.go_to("method")
        await pilot.pause()
        wizard.query_one("#method-step #method", Select).value = "lora"
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: "✓ Checked: sharegpt data" in screen_text(app), timeout=120, what="the check")
        assert not wizard.query_one("#launch").disabled


async def test_every_invalid_field_says_why_next_to_it_and_a_refused_next_goes_to_the_first():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        wizard.go_to("method")
        await pilot.pause()
        form = wizard.query_one("#method-step")
        wizard.query_one("#advanced", Collapsible).collapsed = False
        await pilot.pause()  # its fields mount as it unfolds
        await _type(pilot, "#field-training-save-steps", "0")
        await _type(pilot, "#field-evaluation-samples", "0")  # the last field: below the fold at 80x24
        # Both fields say why, each under itself.
        assert (
            _said(wizard, "#field-training-save-steps") == "Save steps must be a whole number ≥ 1 and ≤ 1,000,000,000."
        )
        assert _said(wizard, "#field-evaluation-samples") == "Eval samples must be a whole number ≥ 1."
        form.scroll_home(animate=False)
        wizard.query_one("#next").focus()
        await pilot.press("enter")  # Next, refused
        assert wizard.step == "method"
        # The focus goes to the first invalid field (not the button), its message in view.
        await wait_until(
            pilot, lambda: _in_view(wizard, "#field-training-save-steps-error"), timeout=15, what="the message in view"
        )
        assert app.focused is wizard.query_one("#field-training-save-steps")
        assert notifications(app, "error")[-1].endswith(
            "Save steps must be a whole number ≥ 1 and ≤ 1,000,000,000. (and 1 more field to fix)"
        )
        # A fix clears its own message only; the next refusal goes to the one left, scrolled into view.
        await _type(pilot, "#field-training-save-steps", "100")
        assert _said(wizard, "#field-training-save-steps") == ""
        form.scroll_home(animate=False)
        await pilot.pause()
        assert not _in_view(wizard, "#field-evaluation-samples-error")
        wizard.query_one("#next").focus()
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: _in_view(wizard, "#field-evaluation-samples-error"), timeout=15, what="the message in view"
        )
        assert app.focused is wizard.query_one("#field-evaluation-samples")


async def test_every_focus_stop_of_the_method_step_is_a_field_and_the_focused_one_stands_out():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        wizard.go_to("method")
        await pilot.pause()
        wizard.query_one("ContentTabs").focus()
        await pilot.press("tab")  # from the tab bar: straight to the first field
        assert app.focused is wizard.query_one("#method-step #method")
        # Every stop tab reaches on this step is on screen and takes input.
        for widget in wizard.focus_chain:
            assert widget.region.area > 0 and widget.display, widget
            assert widget.id not in ("method-step", "recommendation"), widget
        # Beside the method, the objective; then the fields. The one being typed in looks different.
        await pilot.press("tab")
        assert app.focused is wizard.query_one("#method-step #objective")
        await pilot.press("tab")
        epochs, learning_rate = (
            wizard.query_one("#field-training-epochs", Input),
            wizard.query_one("#field-training-learning-rate", Input),
        )
        assert app.focused is epochs
        assert epochs.rich_style.bgcolor != learning_rate.rich_style.bgcolor
        await pilot.press("end", "backspace", "5")  # typed into the field that shows the focus
        assert epochs.value == "5"


async def _launch_short_run(pilot: Pilot, wizard: WizardScreen, name: str) -> TrainingScreen:
    """From the method step: two steps, a name, Launch; returns the training screen once it runs."""
    wizard.query_one("#advanced", Collapsible).collapsed = False
    await pilot.pause()  # its fields mount as it unfolds
    await _type(pilot, "#field-training-max-steps", "2")
    await _type(pilot, "#field-name", name)
    await pilot.press("ctrl+l")
    return await shown(
        pilot,
        TrainingScreen,
        lambda screen: screen.run and screen.run.name == name,
        timeout=120,
        what=f"the training screen of {name}",
    )


@pytest.mark.slow
async def test_n_after_a_launch_opens_a_fresh_wizard_with_the_last_choices(demo_model_path):
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        first_wizard = app.screen
        assert isinstance(first_wizard, WizardScreen)
        await pilot.press("enter", "enter")  # the demo model, the sample data
        assert first_wizard.step == "method"
        first_wizard.query_one("#method-step #method", Select).value = "full_finetuning"  # a choice to keep
        training = await _launch_short_run(pilot, first_wizard, "first-run")
        await wait_until(pilot, lambda: run_of(training).status == "completed", timeout=240, what="the first run")

        await pilot.press("n")
        wizard = app.screen
        assert isinstance(wizard, WizardScreen) and wizard is not first_wizard
        assert wizard.step == "model" and app.focused is wizard.query_one("#model-input")
        await pilot.press("enter", "enter")
        assert wizard.step == "method"
        assert wizard.query_one("#method-step #method", Select).value == "full_finetuning"
        assert wizard.query_one("#field-name", Input).value == ""  # a new run gets a new name
        training = await _launch_short_run(pilot, wizard, "second-run")
        # The training screen follows the new run, with none of the first run's story.
        await wait_until(pilot, lambda: run_of(training).status == "completed", timeout=240, what="the second run")
        await wait_until(pilot, lambda: "Completed after 2 steps" in screen_text(app), timeout=10, what="the summary")
        assert "first-run" not in screen_text(app)
        assert not any("first-run" in line for line in training.query_one("#log", EventLog).messages)


@pytest.mark.slow
async def test_after_a_lora_run_the_next_wizard_keeps_lora_and_launch_says_the_run_is_starting(demo_model_path):
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        first_wizard = app.screen
        assert isinstance(first_wizard, WizardScreen)
        await pilot.press("enter", "enter")  # the demo model, the sample data
        method = first_wizard.query_one("#method-step #method", Select)
        # For the tiny demo model on a CPU the recommendation is full fine-tuning; this user wants LoRA.
        await wait_until(pilot, lambda: method.value == "full_finetuning", timeout=120, what="the recommendation")
        method.value = "lora"
        training = await _launch_short_run(pilot, first_wizard, "lora-first")
        launched = [text for text in notifications(app) if text.startswith("Launched")]
        assert launched and "is starting" in launched[-1] and "started" not in launched[-1]
        events = [event.message for event in open_store().events(run_of(training).id)]
        assert events[0].startswith("Created, starting its worker: lora on tuitune/demo")
        await wait_until(pilot, lambda: run_of(training).status == "completed", timeout=240, what="the run")

        await pilot.press("n")
        wizard = app.screen
        assert isinstance(wizard, WizardScreen) and wizard is not first_wizard
        await pilot.press("enter", "enter")
        assert wizard.step == "method"
        panel = wizard.query_one("#recommendation")
        await wait_until(pilot, lambda: "Recommended" in str(panel.render()), timeout=120, what="the recommendation")
        assert "full_finetuning" in str(panel.render())  # recommended, and still not chosen over the last run's
        assert wizard.query_one("#method-step #method", Select).value == "lora"


async def test_one_warm_helper_reads_the_model_and_every_preview_and_a_changed_file_is_read_again(
    tmp_path: Path, demo_model_path
):
    import psutil

    from tests.test_probe import alpaca_rows

    thousand = alpaca_rows(tmp_path / "thousand.jsonl", 1000)
    twenty = alpaca_rows(tmp_path / "twenty.jsonl", 20)
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        model = wizard.query_one(ModelStep)
        await wait_until(pilot, lambda: model.document, timeout=120, what="the model's description")
        helper = app.probe.pid
        assert helper is not None
        wizard.go_to("dataset")
        await pilot.pause()
        data = wizard.query_one(DatasetStep)

        async def preview(path: Path) -> str:
            field = wizard.query_one("#data-input", Input)
            field.value = str(path)
            field.focus()
            await pilot.press("enter")
            await wait_until(
                pilot,
                lambda: data.document and data.probed and data.probed[0] == str(path),
                timeout=120,
                what=f"the preview of {path.name}",
            )
            return screen_text(app)

        assert "1,000 rows" in await preview(thousand)
        assert "20 rows" in await preview(twenty)
        alpaca_rows(thousand, 10, start=1000)
        assert "1,010 rows" in await preview(thousand)  # changed on disk: read again, not cached
        # Every probe went to the same warm child: no process per probe, no `tuitune data` child.
        assert app.probe.pid == helper

        def command(child: psutil.Process) -> list[str]:
            try:
                return child.cmdline()
            except psutil.Error:
                return []  # ended meanwhile (a zombie not yet reaped, another test's sender): not a probe

        commands = {child.pid: command(child) for child in psutil.Process().children(recursive=True)}
        ours = {pid: line for pid, line in commands.items() if "tuitune" in " ".join(line)}
        assert [pid for pid, line in ours.items() if "tuitune.probe.server" in line or "data" in line] == [helper]


async def test_enter_in_the_model_list_picks_the_highlighted_model_at_once():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        choices = wizard.query_one("#model-choices", OptionList)
        await wait_until(pilot, lambda: choices.option_count, what="the model list")
        field = wizard.query_one("#model-input", Input)
        field.value = "something/typed-but-not-read"
        choices.focus()
        await pilot.press("enter")  # no `down` needed first
        assert field.value == "tuitune/demo"


async def test_a_model_that_is_not_found_names_the_current_hub_command():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await _type(pilot, "#model-input", "no-such-org/no-such-model")
        await pilot.press("enter")
        model = wizard.query_one(ModelStep)
        await wait_until(
            pilot, lambda: model.error and model.probed == "no-such-org/no-such-model", timeout=120, what="the probe"
        )
        text = " ".join(screen_text(app).split())
        assert "hf download no-such-org/no-such-model" in text and "huggingface-cli" not in text


async def test_escape_in_the_first_field_gives_the_single_keys_back():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await pilot.pause()
        await pilot.press("h")  # a letter in the field
        assert app.screen is wizard and wizard.query_one("#model-input", Input).value == "h"
        await pilot.press("escape", "h")  # out of the field: h is the history again
        assert type(app.screen).__name__ == "HistoryScreen"
