"""The new-run wizard: from the demo defaults to a real run, and every way it can say no."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuitune.config import load_config
from tuitune.store import open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.training import TrainingScreen
from tuitune.tui.screens.wizard import WizardScreen
from tuitune.tui.screens.wizard_steps.dataset_step import DatasetStep
from tuitune.tui.screens.wizard_steps.model_step import ModelStep
from tuitune.tui.screens.wizard_steps.review_step import ReviewStep
from tuitune.tui.testing import notifications, screen_text, settle, wait_until
from tuitune.tui.widgets.data_tree import shows


async def _type(pilot, selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector)
    field.focus()
    field.value = ""
    await pilot.press(*text)


@pytest.mark.slow
async def test_pressing_through_the_wizard_launches_a_real_demo_run_that_completes(demo_model_path):
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        # 1 Model: the demo, described from its config alone.
        await settle(pilot, names=["_probe"])
        info = screen_text(app)
        assert "LlamaForCausalLM" in info and "LoRA targets: q_proj" in info and "parameters" in info
        await pilot.press("enter")
        # 2 Dataset: the sample, detected and previewed with the demo's template.
        assert wizard.step == "dataset"
        await settle(pilot, names=["_probe"])
        preview = screen_text(app)
        assert "alpaca" in preview and "417 rows" in preview and "sample 1" in preview
        segments = wizard.query_one(DatasetStep).document["previews"][0]["segments"]
        assert {segment["trained"] for segment in segments} == {True, False}
        await pilot.press("enter")
        # 3 Method: prefilled from the recommendation; keep the run short for the test.
        assert wizard.step == "method"
        assert "Recommended:" in screen_text(app)
        wizard.query_one("#advanced").collapsed = False
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
        training = await wait_until(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.screen.run and app.screen, timeout=60, what="the training screen")
        run_id = training.run.id
        await wait_until(pilot, lambda: training.run.status == "completed", timeout=240, what="the run to complete")
        await wait_until(pilot, lambda: "Completed" in screen_text(app), timeout=10, what="the summary")
        text = screen_text(app)
        assert "step 6/6" in text and "e evaluate" in text
        assert training.query_one("#loss").values  # the loss sparkline has points
    run = open_store().get_run(run_id)
    assert run.status == "completed" and run.steps_done == 6
    assert (Path(run.output_dir) / "config.yaml").is_file()


async def test_a_model_that_cannot_be_read_is_explained_and_blocks_the_next_step():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        await _type(pilot, "#model-input", "no-such-org/no-such-model")
        await pilot.press("enter")
        model = wizard.query_one(ModelStep)
        await wait_until(pilot, lambda: model.error and model.probed == "no-such-org/no-such-model", timeout=120, what="the probe")
        assert "✗" in screen_text(app)
        await pilot.press("ctrl+n")
        assert wizard.step == "model"
        assert notifications(app, "error")[-1].startswith("Cannot go on yet:")


async def test_typing_straight_away_goes_into_the_field_not_to_global_keys():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        await pilot.pause()
        assert isinstance(app.focused, type(wizard.query_one("#next")))  # enter, enter, enter still works
        # "h" (history), "t" (training) and "q" (quit) are global keys; here they are letters.
        await pilot.press(*"microsoft/phi-tq")
        await pilot.pause()
        assert app.screen is wizard and wizard.step == "model"
        field = wizard.query_one("#model-input")
        assert field.value == "microsoft/phi-tq" and app.focused is field


async def test_a_dataset_that_does_not_exist_is_explained(tmp_path: Path):
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        wizard.go_to("dataset")
        await pilot.pause()
        missing = str(tmp_path / "missing.jsonl")
        await _type(pilot, "#data-input", missing)
        await pilot.press("enter")
        data = wizard.query_one(DatasetStep)
        await wait_until(pilot, lambda: data.error and data.probed[0] == missing, timeout=120, what="the preview")
        assert "missing.jsonl" in data.error
        assert "✗" in screen_text(app)
        await pilot.press("ctrl+n")
        assert wizard.step == "dataset"


async def test_fields_are_checked_as_you_type_and_the_config_saves_to_a_file(tmp_path: Path):
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = app.screen
        wizard.go_to("method")
        await pilot.pause()
        await _type(pilot, "#field-training-epochs", "abc")
        assert "Epochs must be a number > 0." in screen_text(app)
        await pilot.press("ctrl+n")
        assert wizard.step == "method"
        assert notifications(app, "error")[-1] == "Cannot go on yet: Epochs must be a number > 0."
        await _type(pilot, "#field-training-epochs", "2")
        await _type(pilot, "#field-lora-r", "0")
        assert "LoRA rank must be a whole number ≥ 1." in screen_text(app)
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
