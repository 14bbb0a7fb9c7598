"""New run: model → dataset → method → review, then Launch opens the run's training screen.

The method step holds the objective too (sft, dpo, kto, orpo, simpo, grpo), suggested by the
data's format; the data is read again for the objective chosen there, so a data set the
objective cannot learn from is refused in the dataset step (and under the objective) in the data
layer's words, and Review's check is the engine's preflight for that objective.

The demo model and the sample data are preselected: the model and dataset steps open with the
focus in their field, the default selected (typing or pasting replaces it), and enter on an
unchanged field goes on; so a first-time user presses enter four times and watches a live run.

Only step 1 is built before the first frame. The other steps, their modules and the config's
pydantic models they import come after it (`Later`), so they are found by id, not by class.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Header, Input, TabbedContent, TabPane

from tuitune.bundled import DEMO_MODEL, SAMPLE_DATASET
from tuitune.errors import TuituneError
from tuitune.runs import present
from tuitune.tui.failures import ReportsWorkerErrors
from tuitune.tui.screens.wizard_steps.model_step import ModelStep
from tuitune.tui.widgets.footer import FittingFooter
from tuitune.tui.widgets.later import Later
from tuitune.tui.widgets.task_bar import TaskBar

if TYPE_CHECKING:
    from tuitune.config import RunConfig
    from tuitune.tui.screens.wizard_steps.dataset_step import DatasetStep
    from tuitune.tui.screens.wizard_steps.method_step import MethodStep
    from tuitune.tui.screens.wizard_steps.review_step import ReviewStep

STEPS = ("model", "dataset", "method", "review")
TITLES = {"model": "1 Model", "dataset": "2 Dataset", "method": "3 Method", "review": "4 Review"}
STEP_FIELDS = {"model": "#model-input", "dataset": "#data-input"}  # the step's field, focused on arrival
STEP_IDS = {step: f"#{step}-step" for step in STEPS}  # each step's widget


class WizardScreen(ReportsWorkerErrors, Screen[None]):
    """The four steps of a new run, as tabs; Next/Back move between them."""

    # The model field has the focus from the start (Textual's default is the first focusable widget,
    # the tabs): no move of the focus before the first frame, and the footer is drawn once for it.
    AUTO_FOCUS = "#model-input"

    BINDINGS = [
        Binding("ctrl+n", "next_step", "Next", tooltip="Go to the next step.", id="wizard-next", priority=True),
        Binding(
            "escape",
            "previous_step",
            "Back",
            tooltip="Go back one step; on the first, leave the field so single keys (h, t, q) work.",
            id="wizard-back",
        ),
        Binding(
            "ctrl+l",
            "launch",
            "Launch",
            tooltip="Build the configuration and start the run.",
            id="wizard-launch",
            priority=True,
        ),
        Binding(
            "ctrl+g",
            "enqueue",
            "Add to queue",
            tooltip="Build the configuration and put the run at the end of the queue: it starts when a slot is free.",
            id="wizard-enqueue",
            priority=True,
        ),
    ]

    def __init__(self, *, data_root: str | None = None, last: RunConfig | None = None) -> None:
        """`last`: the run launched from the previous wizard; its model, data and method come preselected."""
        super().__init__()
        self._data_root = data_root
        self._last = last
        self.launched: RunConfig | None = None  # set once this wizard has launched its run
        # Checks of configurations, by `config_key`: (what the run would train on, or why it would fail).
        self._checks: dict[str, tuple[dict | None, str | None]] = {}
        self._checking: set[str] = set()
        # Launch (False) or add to the queue (True) as soon as this config's check passes.
        self._launch_when_checked: tuple[RunConfig, bool] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="steps"):
            with TabPane(TITLES["model"], id="model"):
                yield ModelStep(model=self._last.model.name_or_path if self._last else DEMO_MODEL, id="model-step")
            # The hidden steps are built, and their modules imported, just after the first paint.
            with TabPane(TITLES["dataset"], id="dataset"):
                yield Later(self._dataset_step)
            with TabPane(TITLES["method"], id="method"):
                yield Later(self._method_step)
            with TabPane(TITLES["review"], id="review"):
                yield Later(self._review_step)
        with Horizontal(id="wizard-nav"):
            yield Button("‹ Back", id="back")
            yield Button("Next ›", variant="primary", id="next")
        yield TaskBar()
        yield FittingFooter()

    def _dataset_step(self) -> Widget:
        from tuitune.tui.screens.wizard_steps.dataset_step import DatasetStep

        source = self._last.data.source if self._last else SAMPLE_DATASET
        return DatasetStep(source=source, root=self._data_root, id="dataset-step")

    def _method_step(self) -> Widget:
        from tuitune.tui.screens.wizard_steps.method_step import MethodStep

        last = self._last
        return MethodStep(
            method=last.method if last else None, objective=last.objective if last else None, id="method-step"
        )

    def _review_step(self) -> Widget:
        from tuitune.tui.screens.wizard_steps.review_step import ReviewStep

        return ReviewStep(id="review-step")

    def on_mount(self) -> None:
        self.sub_title = "new run"
        self._activated("model")

    # The steps built after the first paint (raise NoMatches until they are mounted).
    @property
    def dataset_step(self) -> DatasetStep:
        return cast("DatasetStep", self.query_one(STEP_IDS["dataset"]))

    @property
    def method_step(self) -> MethodStep:
        return cast("MethodStep", self.query_one(STEP_IDS["method"]))

    @property
    def review_step(self) -> ReviewStep:
        return cast("ReviewStep", self.query_one(STEP_IDS["review"]))

    # --- steps ------------------------------------------------------------------------------------
    @property
    def step(self) -> str:
        return self.query_one(TabbedContent).active or "model"

    def go_to(self, step: str) -> None:
        self.query_one(TabbedContent).active = step
        self._activated(step)

    @on(TabbedContent.TabActivated)
    def _tab_clicked(self, event: TabbedContent.TabActivated) -> None:
        self._activated(event.pane.id or "model")

    def _activated(self, step: str, waited: bool = False) -> None:
        nav_next = self.query_one("#next", Button)
        if waited and self.step != step:
            return  # the user went on to another step meanwhile
        if not self.query(STEP_IDS[step]):  # still to be mounted (just after the first paint)
            # Meanwhile the focus waits on Next: left in the pane just hidden, it would fall on a
            # widget there, and bring that pane back.
            nav_next.focus()
            self.call_after_refresh(self._activated, step, True)
            return
        nav_next.display = step != "review"
        self.query_one("#back", Button).disabled = step == "model"
        model = self.query_one(ModelStep)
        if step == "dataset":
            data = self.dataset_step
            # Preview with the chosen model's tokenizer once the model is known to load.
            data.model = model.probed if model.document is not None else None
            data.max_length = self._max_length()
            self._read_data_for_objective()
        elif step == "review":
            self._build_review()
        if waited and self.focused is not nav_next:
            pass  # put elsewhere (a click) while the step was mounting: it stays there
        elif step == "review":
            self.query_one("#launch", Button).focus()
        elif step in STEP_FIELDS:
            # The field, its text selected: typing or a paste replaces it, enter goes on.
            self.query_one(STEP_FIELDS[step], Input).focus()
        else:
            nav_next.focus()

    def _read_data_for_objective(self) -> None:
        """Read the data (again) for the method step's objective, unless it has been read for it."""
        data = self.dataset_step
        if self.query(STEP_IDS["method"]):
            method = self.method_step
            data.objective = method.objective if method.objective_chosen else None
            data.chosen_only = method.chosen_only
        data.probe()

    def on_method_step_objective_changed(self) -> None:  # MethodStep.ObjectiveChanged
        # Only data already read is read again: the first read waits for the dataset step.
        if self.query(STEP_IDS["dataset"]) and self.dataset_step.probed is not None:
            self._read_data_for_objective()

    def on_dataset_step_probed(self, message: DatasetStep.Probed) -> None:
        """The data's suggested objective for the method step, or its refusal of the chosen one."""
        if not self.query(STEP_IDS["method"]):
            self.call_after_refresh(self.on_dataset_step_probed, message)  # still mounting
            return
        if message.key != self.dataset_step.probed:
            return  # overtaken by a newer read
        named = message.key[3]
        # A refusal is the objective's to show only when the data was read for a chosen objective.
        self.method_step.apply_data(message.document, message.error if named is not None else None)

    def _max_length(self) -> int:
        try:
            return int(cast(Any, self.query_one("#field-data-max-length")).value)
        except (ValueError, AttributeError, NoMatches):
            return 512

    def action_next_step(self) -> None:
        step = self.step
        if not self.query(STEP_IDS[step]):
            # The step mounts just after the first paint: a key pressed before then waits for it.
            self.call_after_refresh(self.action_next_step)
            return
        problem = self._blocking_problem(step)
        if problem:
            self.notify(problem, title="Cannot go on yet", severity="error")
            return
        if step != "review":
            self.go_to(STEPS[STEPS.index(step) + 1])

    def action_previous_step(self) -> None:
        step = self.step
        if step != "model":
            self.go_to(STEPS[STEPS.index(step) - 1])
        elif isinstance(self.focused, Input):
            # Nowhere to go back to: leave the field, so single keys (h, t, ?, q) are keys again.
            self.query_one("#next", Button).focus()

    def _blocking_problem(self, step: str) -> str | None:
        """Why the user cannot leave `step` (None: they can); a probe still running never blocks."""
        if step == "model":
            model = self.query_one(ModelStep)
            if not model.model:
                return "Type a model id or a local folder first."
            if model.error and model.probed == model.model:
                return model.error
        elif step == "dataset":
            data = self.dataset_step
            if not data.source:
                return "Type a dataset file, folder or id first."
            if data.error and data.probed and data.probed[0] == data.source:
                return data.error
        elif step == "method":
            problem = self.method_step.first_error()
            if problem:
                return problem
            data = self.dataset_step
            # The data refused for the chosen objective (read when it was chosen; a read still
            # under way does not block: Review's check catches it).
            if data.error and data.probed and data.probed[0] == data.source and data.probed[3] is not None:
                return data.error
        return None

    @on(Button.Pressed, "#next")
    def _next_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_next_step()

    @on(Button.Pressed, "#back")
    def _back_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_previous_step()

    @on(ModelStep.Confirmed)
    def _confirmed(self) -> None:
        self.action_next_step()

    def on_dataset_step_confirmed(self) -> None:  # DatasetStep.Confirmed
        self.action_next_step()

    @on(ModelStep.Probed)
    def _model_probed(self, message: ModelStep.Probed) -> None:
        if not self.query(STEP_IDS["method"]):
            self.call_after_refresh(self._model_probed, message)  # still mounting (after the first paint)
            return
        document = message.document or {}
        self.method_step.apply_recommendation(
            document.get("recommendation"),
            document.get("recommendation_error") or message.error,
            gpus=document.get("gpus"),
        )

    # --- the config -------------------------------------------------------------------------------
    def build_config(self) -> RunConfig:
        """The run configuration from every step (raises TuituneError or ValueError with a reason)."""
        from tuitune.config import parse_config
        from tuitune.tui.screens.wizard_steps.fields import collect

        model = self.query_one(ModelStep).model
        source = self.dataset_step.source
        method_step = self.method_step
        base = {
            "method": method_step.method,
            "objective": method_step.objective,
            "model": {"name_or_path": model},
            "data": {"source": source},
            "backend": self.tuitune.service.backend(),  # said in Review: this machine or a SLURM job
        }
        return parse_config(collect(method_step.values(), base), "the new-run form")

    def _build_review(self) -> None:
        review = self.review_step
        try:
            config = self.build_config()
        except (TuituneError, ValueError) as error:
            review.show(None, str(error))
            return
        review.show(config)
        self._check(config)

    # --- the check: what the engine would refuse at step 0, refused here ---------------------------
    def _check(self, config: RunConfig) -> None:
        # Asked again on every visit: the helper answers at once unless the data file changed.
        key = config_key(config)
        if key not in self._checking:
            self._checking.add(key)
            self._run_check(key, config.to_dict())

    @work(thread=True, group="config-check", exit_on_error=False)
    def _run_check(self, key: str, config: dict) -> None:
        try:
            result, error = self.tuitune.probe.request("check", {"config": config}), None
        except TuituneError as failure:
            result, error = None, str(failure)
        self.tuitune.call_from_thread(self._checked, key, result, error)

    def _checked(self, key: str, result: dict | None, error: str | None) -> None:
        self._checking.discard(key)
        self._checks[key] = (result, error)
        review = self.review_step
        if review.config is not None and config_key(review.config) == key:
            review.show_check(result, error)
        if self._launch_when_checked is not None and config_key(self._launch_when_checked[0]) == key:
            (config, queued), self._launch_when_checked = self._launch_when_checked, None
            if error is None:
                self._start(config, queued)
            else:
                self.notify(
                    error,
                    title="Cannot launch: a run with these settings would fail at once",
                    severity="error",
                    timeout=15,
                )

    # --- launch -----------------------------------------------------------------------------------
    def action_enqueue(self) -> None:
        self.action_launch(queued=True)

    def action_launch(self, queued: bool = False) -> None:
        if not all(self.query(STEP_IDS[step]) for step in STEPS):
            self.call_after_refresh(self.action_launch, queued)  # as for Next: the steps mount first
            return
        for step in STEPS[:-1]:
            problem = self._blocking_problem(step)
            if problem:
                self.go_to(step)
                self.notify(problem, title="Cannot launch yet", severity="error")
                return
        try:
            config = self.build_config()
        except (TuituneError, ValueError) as error:
            self.go_to("review")
            self.notify(str(error), title="Cannot launch", severity="error")
            return
        checked = self._checks.get(config_key(config))
        if checked is None:
            # Launch as soon as the check passes (it takes a second once the helper is warm).
            self._launch_when_checked = (config, queued)
            if self.step != "review":
                self.go_to("review")
            else:
                self._check(config)
            self.notify(
                "Checking the data and settings first; the run "
                + ("is queued" if queued else "starts")
                + " when they pass.",
                title="Add to queue" if queued else "Launch",
            )
            return
        if checked[1] is not None:
            self.go_to("review")
            self.notify(
                checked[1],
                title="Cannot launch: a run with these settings would fail at once",
                severity="error",
                timeout=15,
            )
            return
        self._start(config, queued)

    def _start(self, config: RunConfig, queued: bool = False) -> None:
        self._buttons(disabled=True)
        self._launch(config, queued)

    def _buttons(self, *, disabled: bool) -> None:
        for button in self.query("#launch, #enqueue").results(Button):
            button.disabled = disabled

    def on_review_step_launch_requested(self, message: ReviewStep.LaunchRequested) -> None:
        self.action_launch(queued=message.queued)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def _launch(self, config: RunConfig, queued: bool = False) -> None:
        service = self.tuitune.service
        try:
            run = service.enqueue(config) if queued else service.launch(config)
            place = service.queue_places().get(run.id) if queued else None
        except TuituneError as error:
            self.tuitune.call_from_thread(self._launch_failed, str(error), queued)
            return
        self.tuitune.call_from_thread(self._launched, run.id, run.name, config, place, queued)

    def _launch_failed(self, error: str, queued: bool = False) -> None:
        self._buttons(disabled=False)
        self.notify(
            error, title="Could not add it to the queue" if queued else "Could not launch", severity="error", timeout=15
        )

    def _launched(
        self, run_id: int, name: str, config: RunConfig, place: tuple[int, int] | None = None, queued: bool = False
    ) -> None:
        self._buttons(disabled=False)
        self.launched = config  # `n` now opens a fresh wizard (with these choices preselected)
        if place is not None:
            self.notify(
                f"Run {run_id} ({name}) is {present.queue_place(place)}; it starts on its own, with or without the app.",
                title="Queued",
            )
        else:
            # Not "started": the run shows as `starting` until its worker has loaded and trains.
            free = "A slot was free: " if queued else ""
            self.notify(
                f"{free}Run {run_id} ({name}) is starting: its worker is loading the model and data, then it "
                "trains. It keeps going if you leave the app.",
                title="Queued" if queued else "Launched",
            )
        self.tuitune.run_actions.run_changed.publish(run_id)
        self.tuitune.show_training(run_id)


def config_key(config: RunConfig) -> str:
    """A configuration as one string, so a check's answer is matched to exactly what it checked."""
    return json.dumps(config.to_dict(), sort_keys=True, default=str)
