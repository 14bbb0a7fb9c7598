"""The wizard's objective: suggested by the data, its settings shown for it alone, its data read
for it (a pair side by side), refused where the data layer or the preflight refuses it, and a
real dpo run launched from it, at 80x24."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Checkbox, Collapsible, Input, Select

from tests.test_config_agreement import model_accepts_text, wizard_accepts
from tests.tui_steps import run_of, shown
from tuitune._dev.pilot import notifications, screen_text, wait_until
from tuitune.bundled import SAMPLE_PREFERENCE, SAMPLE_PROMPTS
from tuitune.config import key_choices
from tuitune.store import open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.training import TrainingScreen
from tuitune.tui.screens.wizard import WizardScreen
from tuitune.tui.screens.wizard_steps.fields import OBJECTIVE_FIELDS, Field, field_for
from tuitune.tui.screens.wizard_steps.model_step import ModelStep
from tuitune.tui.screens.wizard_steps.pairs import PairView, pair_title

SIZE = (80, 24)


def _flat(text: str) -> str:
    return " ".join(text.split())


async def _type(pilot: Pilot, selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = text
    await pilot.pause()


async def _read_data(pilot: Pilot, wizard: WizardScreen, source: str) -> None:
    """In the dataset step: type the source, enter, and wait for its preview (or its refusal)."""
    wizard.go_to("dataset")
    await pilot.pause()
    await _type(pilot, "#data-input", source)
    await pilot.press("enter")
    data = wizard.dataset_step
    await wait_until(
        pilot,
        lambda: data.probed and data.probed[0] == source and (data.document or data.error),
        timeout=120,
        what=f"the preview of {source}",
    )


def _shown_labels(wizard: WizardScreen) -> set[str]:
    """The labels of the method step's fields on screen (displayed, with their grid shown)."""
    step = wizard.method_step
    return {
        str(label.render()) for label in step.query("Label") if label.display and label.parent and label.parent.display
    }


async def _review(pilot: Pilot, wizard: WizardScreen) -> str:
    """Go to Review and wait until its check (or the config's refusal) is shown; the screen's words."""
    await pilot.press("ctrl+n")
    assert wizard.step == "review", notifications(wizard.app)
    await wait_until(
        pilot,
        lambda: "⟳" not in str(wizard.query_one("#review-check").render()),
        timeout=120,
        what="the check",
    )
    return _flat(screen_text(wizard.app))


# --- the pair, drawn to fit --------------------------------------------------------------------
def _drawn(view: PairView, width: int) -> str:
    """The view as printed on a terminal `width` columns wide, as plain text."""
    console = Console(width=width, file=io.StringIO(), record=True, force_terminal=True, color_system="truecolor")
    console.print(view)
    return console.export_text()


def test_a_pair_is_side_by_side_when_it_fits_and_stacked_when_not_and_its_text_is_never_markup():
    pair = {"prompt": "Say [bold]hi[/bold]", "chosen": "Hello there.", "rejected": "No. \x1b[31m", "prompt_tokens": 9}
    view = PairView(pair, pair_title(1, pair))
    wide = _drawn(view, 100).splitlines()
    assert any("Hello there." in line and "No." in line for line in wide)  # one line holds both answers
    narrow = _drawn(view, 45).splitlines()
    assert not any("Hello there." in line and "No." in line for line in narrow)
    assert narrow.index("✓ chosen") < narrow.index("Hello there.") < narrow.index("✗ rejected")
    # The data's text as written: markup shown, an escape character as \x1b, not sent to the terminal.
    text = _drawn(view, 100)
    assert "Say [bold]hi[/bold]" in text and "\\x1b[31m" in text and "\x1b" not in text
    # Chosen green, rejected red.
    segments = list(Console(width=100).render(view))
    colors = {
        segment.text.split()[0]: segment.style.color.name if segment.style and segment.style.color else None
        for segment in segments
        if segment.text.strip()
    }
    assert colors["Hello"] == "green" and colors["No."] == "red"


def test_a_labelled_row_shows_its_label_and_a_prompts_row_its_columns():
    good = _drawn(PairView({"prompt": "p", "completion": "Fine.", "label": True}, pair_title(1, {})), 80)
    assert "✓ desirable (label true)" in good
    bad = _drawn(PairView({"prompt": "p", "completion": "Go away.", "label": False}, pair_title(2, {})), 80)
    assert "✗ undesirable (label false)" in bad
    prompt = _drawn(PairView({"prompt": "Say 4", "columns": {"answer": "4", "[x]": "y"}}, pair_title(3, {})), 80)
    assert "answer: 4" in prompt and "[x]: y" in prompt


# --- the objective's settings agree with the config --------------------------------------------
@pytest.mark.parametrize("field", [f for f in OBJECTIVE_FIELDS if f.kind in ("int", "float", "choice")], ids=str)
def test_each_objective_setting_of_the_wizard_refuses_what_the_model_refuses(field: Field) -> None:
    from tests.test_config_agreement import candidates

    texts = (*field.choices, "bogus") if field.kind == "choice" else candidates(field.key, field.kind, None, None)
    for text in texts:
        assert wizard_accepts(field, text) == model_accepts_text(field, text), (field.key, text)
    assert set(key_choices(field.key)) <= set(field.choices)


# --- the wizard ----------------------------------------------------------------------------------
@pytest.mark.integration  # the wizard reads the data in the app's helper process, and the run trains
@pytest.mark.slow
async def test_dpo_on_the_bundled_preference_set_shows_its_pairs_and_settings_and_launches_a_real_dpo_run(
    demo_model_path,
):
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=SIZE) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        model = wizard.query_one("#model-step", ModelStep)
        await wait_until(pilot, lambda: model.document, timeout=120, what="the model")
        await pilot.press("enter")
        await _read_data(pilot, wizard, SAMPLE_PREFERENCE)
        data = wizard.dataset_step
        assert data.document is not None and data.document["objective"] == "dpo"
        assert "for dpo" in _flat(screen_text(app))  # read for the objective its format suggests
        last = data.document["previews"][-1]["pair"]
        wizard.query_one("#data-preview").scroll_end(animate=False)
        await pilot.pause()
        text = screen_text(app)
        # At 80 columns the pair is stacked: the prompt, the chosen answer, then the rejected one.
        assert "pair 3 (prompt" in text
        lines = text.splitlines()
        chosen = next(n for n, line in enumerate(lines) if "✓ chosen" in line)
        rejected = next(n for n, line in enumerate(lines) if "✗ rejected" in line)
        assert chosen < rejected
        assert last["chosen"].split()[0] in "".join(lines[chosen:rejected])
        assert last["rejected"].split()[0] in "".join(lines[rejected:])

        await pilot.press("enter")  # on to the method step, the objective suggested by the data
        assert wizard.step == "method"
        step = wizard.method_step
        await wait_until(pilot, lambda: step.objective == "dpo", what="the data's suggestion")
        assert "The data (pairs) suggests dpo." in _flat(screen_text(app))
        labels = _shown_labels(wizard)
        assert {"Beta", "DPO loss", "Reference"} <= labels
        assert not labels & {"SimPO gamma", "Good weight", "Generations", "KL beta"}
        await _type(pilot, "#field-preference-beta", "0.2")
        wizard.query_one("#advanced", Collapsible).collapsed = False
        await pilot.pause()
        await _type(pilot, "#field-training-max-steps", "4")
        await _type(pilot, "#field-training-logging-steps", "2")
        await _type(pilot, "#field-data-max-samples", "40")

        text = await _review(pilot, wizard)
        assert "Objective dpo" in text and "Beta 0.2" in text and "DPO loss sigmoid" in text
        assert "✓ Checked: preference data" in text
        await pilot.press("enter")  # Launch has the focus
        training = await shown(pilot, TrainingScreen, lambda screen: screen.run, timeout=60, what="the training")
        run_id = run_of(training).id
        await wait_until(pilot, lambda: run_of(training).status == "completed", timeout=300, what="the dpo run")
    run = open_store().get_run(run_id)
    assert run.status == "completed" and run.steps_done == 4
    assert run.config["objective"] == "dpo" and run.config["preference"]["beta"] == 0.2
    assert run.output_dir and (Path(run.output_dir) / "config.yaml").is_file()


@pytest.mark.integration  # the wizard reads the data in the app's helper process
async def test_sft_data_with_objective_dpo_is_refused_in_the_dataset_step_in_the_data_layers_words(demo_model_path):
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=SIZE) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await _read_data(pilot, wizard, "tuitune/sample")
        wizard.go_to("method")
        await pilot.pause()
        step = wizard.method_step
        assert step.objective == "sft"  # what alpaca data suggests
        wizard.query_one("#objective", Select).value = "dpo"
        data = wizard.dataset_step
        await wait_until(
            pilot, lambda: data.error and data.probed and data.probed[3] == "dpo", timeout=120, what="the refusal"
        )
        refusal = data.error
        assert refusal is not None
        assert refusal.startswith("dpo learns from pairs: the data needs") and "is alpaca data" in refusal
        assert "\n" not in refusal
        # Under the objective, and Next refused with the same words.
        assert "✗ dpo learns from pairs" in screen_text(app)
        await pilot.press("ctrl+n")
        assert wizard.step == "method"
        assert notifications(app, "error")[-1].startswith("Cannot go on yet: dpo learns from pairs")
        # The dataset step says it too, as its preview.
        wizard.go_to("dataset")
        await pilot.pause()
        assert "✗ dpo learns from pairs" in screen_text(app)
        # Back to sft: the data reads again as it is.
        wizard.go_to("method")
        await pilot.pause()
        wizard.query_one("#objective", Select).value = "sft"
        await wait_until(pilot, lambda: data.document and not data.error, timeout=120, what="the preview")
        assert not wizard.query_one("#objective-data").display


@pytest.mark.integration  # the wizard reads the data in the app's helper process
async def test_sft_on_a_preference_set_trains_its_chosen_answers_once_the_switch_says_so(demo_model_path):
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=SIZE) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await _read_data(pilot, wizard, SAMPLE_PREFERENCE)
        wizard.go_to("method")
        step = wizard.method_step
        await wait_until(pilot, lambda: step.objective == "dpo", what="the data's suggestion")
        switch = wizard.query_one("#field-preference-chosen-only", Checkbox)
        assert not switch.display  # dpo learns from both answers: nothing to leave out
        wizard.query_one("#objective", Select).value = "sft"
        data = wizard.dataset_step
        await wait_until(
            pilot, lambda: data.error and data.probed and data.probed[3] == "sft", timeout=120, what="the refusal"
        )
        # The data layer's refusal, in the app's words: the switch, not a config key.
        said = _flat(str(wizard.query_one("#objective-data").render()))
        assert "tick Chosen answers only (method step) to train sft on its chosen answers" in said, said
        assert switch.display and wizard.query_one("#objective-form").display
        # From the objective, tab reaches the switch the refusal names next, not six fields on.
        wizard.query_one("#objective", Select).focus()
        await pilot.press("tab")
        assert app.focused is switch, app.focused
        await pilot.press("space")  # the keyboard alone
        await wait_until(
            pilot, lambda: data.document and data.probed and data.probed[4], timeout=120, what="the chosen answers"
        )
        assert not data.error and not wizard.query_one("#objective-data").display
        assert data.document is not None and data.document["format"] == "preference"
        assert wizard.build_config().preference.chosen_only is True

        text = await _review(pilot, wizard)
        assert "Objective sft: imitate the answers (prompts with one answer each) · Chosen answers only" in text, text
        assert "✓ Checked" in text and not wizard.query_one("#launch").disabled
        # Back to dpo: the switch is not dpo's, and the run would not carry it.
        wizard.go_to("method")
        await pilot.pause()
        wizard.query_one("#objective", Select).value = "dpo"
        await pilot.pause()
        assert not switch.display and wizard.build_config().preference.chosen_only is False


def _labelled_all_good(path: Path) -> Path:
    rows = [{"prompt": f"Say {n}.", "completion": f"{n}.", "label": True} for n in range(12)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.integration  # the wizard reads the data in the app's helper process
async def test_review_refuses_in_one_line_what_the_engine_would_refuse(tmp_path: Path, demo_model_path):
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=SIZE) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        # dpo with fp16: NaN-prone, refused by the configuration itself.
        await _read_data(pilot, wizard, SAMPLE_PREFERENCE)
        wizard.go_to("method")
        await wait_until(pilot, lambda: wizard.method_step.objective == "dpo", what="the suggestion")
        wizard.query_one("#advanced", Collapsible).collapsed = False
        await pilot.pause()
        wizard.query_one("#field-training-fp16", Checkbox).value = True
        text = await _review(pilot, wizard)
        assert "✗ training.fp16 with objective dpo is prone to NaN losses" in text
        assert wizard.query_one("#launch").disabled
        wizard.query_one("#field-training-fp16", Checkbox).value = False

        # grpo with 3 generations per prompt and a batch of 4: the preflight names what would divide it.
        await _read_data(pilot, wizard, SAMPLE_PROMPTS)
        wizard.go_to("method")
        await wait_until(pilot, lambda: wizard.method_step.objective == "grpo", what="the suggestion")
        assert {"Rewards", "Generations", "Completion len", "Temperature", "KL beta"} <= _shown_labels(wizard)
        assert "Beta" not in _shown_labels(wizard)
        await _type(pilot, "#field-training-batch-size", "4")
        await _type(pilot, "#field-grpo-num-generations", "3")
        text = await _review(pilot, wizard)
        assert "would fail at once" in text and "num_generations" in text
        assert wizard.query_one("#launch").disabled
        await pilot.press("ctrl+l")
        assert "would fail at once" in notifications(app, "error")[-1]

        # kto on answers that are all labelled good: the data layer's words, in the check.
        labelled = _labelled_all_good(tmp_path / "all-good.jsonl")
        await _read_data(pilot, wizard, str(labelled))
        assert wizard.dataset_step.error and "every label is true" in wizard.dataset_step.error
        wizard.go_to("review")
        await wait_until(
            pilot, lambda: "every label is true" in _flat(screen_text(app)), timeout=120, what="the refusal"
        )
        assert wizard.query_one("#launch").disabled
    assert open_store().list_runs() == []  # nothing was launched


@pytest.mark.integration  # the wizard reads the model in the app's helper process
async def test_a_method_change_in_the_moment_advanced_unfolds_shows_and_fills_its_fields():
    # The advanced fields' boxes compose a moment after Advanced unfolds; a method change (or a
    # recommendation) in that moment once hid LoRA alpha for good, or ended the app in NoMatches.
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=SIZE) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        wizard.go_to("method")
        await pilot.pause()
        step = wizard.method_step
        method = step.query_one("#method", Select)
        method.value = "full_finetuning"
        await pilot.pause()
        step.query_one("#advanced", Collapsible).collapsed = False
        alpha = field_for("lora.alpha")
        step.set_text(alpha, "32")  # in the same moment: nothing has composed yet
        method.value = "lora"
        assert step.text_of(alpha) == "32"
        await pilot.pause()
        assert {"LoRA rank", "LoRA alpha", "LoRA dropout"} <= _shown_labels(wizard)
        assert step.query_one("#field-lora-alpha", Input).value == "32"
        assert wizard.build_config().lora.alpha == 32


@pytest.mark.integration  # the wizard reads the model in the app's helper process
async def test_full_fine_tuning_hides_the_lora_fields_and_each_objective_shows_its_own():
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=SIZE) as pilot:
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        wizard.go_to("method")
        await pilot.pause()
        wizard.query_one("#advanced", Collapsible).collapsed = False
        await pilot.pause()
        method = wizard.query_one("#method-step #method", Select)
        method.value = "lora"
        await pilot.pause()
        assert {"LoRA rank", "LoRA alpha", "LoRA dropout"} <= _shown_labels(wizard)
        await _type(pilot, "#field-lora-r", "0")  # invalid, then hidden: it blocks nothing
        method.value = "full_finetuning"
        await pilot.pause()
        assert not {"LoRA rank", "LoRA alpha", "LoRA dropout"} & _shown_labels(wizard)
        assert "LoRA rank" not in screen_text(app)
        assert wizard.method_step.first_error() is None
        assert wizard.build_config().lora.r == 8  # the default: full fine-tuning trains no adapter
        # sft shows no objective settings; each other objective its own.
        objective = wizard.query_one("#objective", Select)
        assert not wizard.query_one("#objective-form").display
        expected = {
            "kto": {"Beta", "Good weight", "Bad weight", "Reference"},
            "simpo": {"Beta", "SimPO gamma"},
            "orpo": {"Beta"},
        }
        every = {spec.label for spec in OBJECTIVE_FIELDS}
        for name, labels in expected.items():
            objective.value = name
            await pilot.pause()
            shown_labels = _shown_labels(wizard)
            assert shown_labels & every == labels, name
        objective.value = "sft"
        await pilot.pause()
        assert not _shown_labels(wizard) & every
