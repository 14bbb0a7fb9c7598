"""Wizard step 3: method, objective and hyperparameters, prefilled from the recommendations.

The method (which weights train) is prefilled from the model's recommendation, the objective (what
they learn from) from the data: a preference set suggests dpo, labelled answers kto, prompts
grpo, anything else sft. Only the settings the chosen method and objective read are shown (no
LoRA rank for full fine-tuning, beta for dpo but not for sft), as the config says which settings
each ignores. Common fields are validated as you type; the rest fold away under "Advanced". Every invalid
field says why just below itself, and a refused Next puts the focus (and the view) on the first
one. A value the user changed is never overwritten when a (new) recommendation arrives. On a
machine with more than one GPU, the number of processes and the strategy of the group appear,
prefilled from the recommendation for that many GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Collapsible, Input, Label, Select, Static

from tuitune.config import METHODS, OBJECTIVES
from tuitune.runs import present
from tuitune.tui.screens.wizard_steps.fields import (
    DISTRIBUTED_FIELDS,
    FIELDS,
    OBJECTIVE_FIELDS,
    RECOMMENDED,
    Field,
    default_text,
    field_for,
    uses,
)
from tuitune.tui.screens.wizard_steps.objectives import OBJECTIVE_HELP, objective_help
from tuitune.tui.typed import OfTuitune
from tuitune.tui.wording import for_the_app

METHOD_HELP = {
    "lora": "LoRA: train small adapter matrices; the base model stays frozen.",
    "qlora": "QLoRA: LoRA on a 4-bit quantized base; the least memory (needs bitsandbytes).",
    "full_finetuning": "Full fine-tuning: every weight trains; the most memory, no adapter.",
    "instruction_tuning": "Instruction tuning: LoRA on alpaca-style instruction/response data.",
}


class MethodStep(OfTuitune, VerticalScroll, can_focus=False):
    """The method, the recommendation it came from, and the hyperparameter form.

    The advanced fields are mounted when Advanced first unfolds (they are most of the form's
    widgets, and most users never open it); until then their values live in `_folded`. The step
    itself takes no focus: tab goes from the tab bar straight to the Method field (a focused
    field scrolls itself into view), never to an invisible stop that swallows what is typed.
    """

    class ObjectiveChanged(Message):
        """The objective changed: the data is read again for it (and may be refused)."""

    def __init__(self, *, method: str | None = None, objective: str | None = None, id: str | None = None) -> None:
        """`method`, `objective`: the last run's, kept whatever the recommendations say (None:
        lora and sft until the recommendations for the model and the data arrive)."""
        super().__init__(id=id)
        self._default_method = method or "lora"
        self._chosen_method = method is not None
        self._default_objective = objective or "sft"
        self._chosen_objective = objective is not None
        self._data: tuple[str | None, str | None] = (None, None)  # the data's (suggested objective, format)
        self._recommended: dict[str, str] = {}  # field key -> text the recommendation put there
        self._folded: dict[str, str] = {spec.key: _default(spec) for spec in FIELDS if spec.advanced}
        self._gpus: list[str] = []  # the GPUs runs may be given; the group's fields show for two or more
        # Each built field's widgets by key, held rather than queried: a field mounted a moment ago
        # (Advanced just unfolded) is not in the DOM until its container has composed, and a
        # recommendation or a method change that arrives in that moment still shows or fills it.
        self._placed: dict[str, Placed] = {}
        self._on_slurm = False  # where runs train (the store's backend), read when the step mounts

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields of the form as it is now: those the method and objective read (the group's
        only on a machine with several GPUs)."""
        every = FIELDS + (DISTRIBUTED_FIELDS if len(self._gpus) > 1 else ()) + OBJECTIVE_FIELDS
        return tuple(spec for spec in every if self._uses(spec))

    def _uses(self, spec: Field) -> bool:
        if spec.key.startswith("slurm.") and not self._on_slurm:
            return False  # runs train on this machine: no job to ask SLURM for
        if spec.key == "preference.chosen_only" and self._data[1] != "preference":
            return False  # sft on anything but a preference set has no rejected answers to leave out
        return uses(spec.key, method=self.method, objective=self.objective)

    @property
    def chosen_only(self) -> bool:
        """Whether sft is to train on a preference set's chosen answers (the data is read so)."""
        spec = field_for("preference.chosen_only")
        return self._uses(spec) and self.text_of(spec) == "True"

    def compose(self) -> ComposeResult:
        yield Static("Recommendation: waiting for the model's description…", id="recommendation")
        # The method and the objective side by side: which weights train, and what they learn from.
        with Horizontal(id="method-row"):
            yield Label("Method")
            yield Select(
                [(m, m) for m in METHODS],
                value=self._default_method,
                allow_blank=False,
                id="method",
                compact=True,
                tooltip="Which weights train: adapters (lora, qlora), all weights, or instruction tuning.",
            )
            yield Label("Objective", id="objective-label")
            yield Select(
                [(o, o) for o in OBJECTIVES],
                value=self._default_objective,
                allow_blank=False,
                id="objective",
                compact=True,
                tooltip="What the weights learn from: "
                + "; ".join(f"{name}: {words}" for name, words in OBJECTIVE_HELP.items())
                + ".",
            )
        yield Static("", id="method-help")
        # The objective's line, its settings and the data's refusal of it right under the choice,
        # so tab goes from the objective to what it reads (the chosen-answers switch the refusal
        # names is the next stop, not six fields away).
        yield Static("", id="objective-help")
        # Every objective's settings, each shown only while the chosen objective reads it.
        with Grid(classes="form", id="objective-form"):
            for spec in OBJECTIVE_FIELDS:
                yield from self._place(spec, _default(spec))
        yield Static("", id="objective-data")  # the data's refusal of this objective, in its own words
        with Grid(classes="form"):
            for spec in FIELDS:
                if not spec.advanced:
                    yield from self._place(spec, _default(spec))
        yield Grid(classes="form", id="gpu-form")
        yield Static("", id="gpu-help")
        with Collapsible(title="Advanced", collapsed=True, id="advanced"):
            yield Grid(classes="form", id="advanced-form")

    def on_mount(self) -> None:
        self._on_slurm = self.tuitune.service.backend() == "slurm"
        self._show_method_help(self._default_method)
        self._show_objective_help()
        self._show_used_fields()
        self.query_one("#objective-data").display = False
        self.watch(self.query_one("#advanced", Collapsible), "collapsed", self._unfolded, init=False)

    def _unfolded(self, collapsed: bool) -> None:
        # Synchronously, so the fields can be queried as soon as Advanced is open.
        if collapsed or not self._folded:
            return
        widgets = []
        for spec in FIELDS:
            if spec.advanced:
                built = self._place(spec, self._folded[spec.key])
                for widget in built:
                    widget.display = self._uses(spec)  # no LoRA alpha for full fine-tuning
                widgets += built
        self._folded.clear()
        self.query_one("#advanced-form", Grid).mount_all(widgets)

    def _place(self, spec: Field, text: str) -> list[Widget]:
        """Build a field's widgets (kept by key) and return those that go in the form's grid."""
        placed = self._placed[spec.key] = field_widgets(spec, text)
        return placed.cells

    # --- values ---------------------------------------------------------------------------------
    @property
    def method(self) -> str:
        return str(self.query_one("#method", Select).value)

    @property
    def objective(self) -> str:
        return str(self.query_one("#objective", Select).value)

    @property
    def objective_chosen(self) -> bool:
        """Whether the objective is the user's (or the last run's) rather than the data's suggestion."""
        return not self._untouched("objective", self.objective)

    def text_of(self, spec: Field) -> str:
        """A field's value as text (`True`/`False` for a checkbox), mounted or still folded away."""
        if spec.key in self._folded:
            return self._folded[spec.key]
        # An Input, a Select or a Checkbox: each holds its value in `.value`.
        widget: Any = self._placed[spec.key].field
        return str(widget.value)

    def set_text(self, spec: Field, text: str) -> None:
        if spec.key in self._folded:
            self._folded[spec.key] = text
        else:
            field: Any = self._placed[spec.key].field
            field.value = text == "True" if spec.kind == "bool" else text

    def values(self) -> dict[str, Any]:
        """Every field's value by dotted key (raises ValueError naming the first bad field)."""
        problems = self.problems()
        if problems:
            raise ValueError(problems[0][1])
        values: dict[str, Any] = {}
        for spec in self.fields:
            text = self.text_of(spec)
            if spec.kind == "bool":
                # An optional switch (fp16) off is "not set": automatic, not "never".
                values[spec.key] = True if text == "True" else (None if spec.optional else False)
            elif spec.kind == "choice":
                values[spec.key] = text
            else:
                value = spec.parse(text)
                if value is not None or spec.optional:
                    values[spec.key] = value
        if values.get("name") is None:
            values.pop("name", None)
        return values

    def problems(self) -> list[tuple[Field, str]]:
        """Every invalid field with its message, in form order; each message shows under its field."""
        found = []
        for spec in self.fields:
            if spec.kind in ("bool", "choice"):
                continue
            message = self._problem(spec, self.text_of(spec))
            self._show_problem(spec, message)
            if message:
                found.append((spec, message))
        return found

    def first_error(self) -> str | None:
        """The first invalid field's message (and how many more), after moving the focus to it."""
        problems = self.problems()
        if not problems:
            return None
        spec, message = problems[0]
        self.reveal(spec)
        more = len(problems) - 1
        return message + (f" (and {more} more field{'s' if more > 1 else ''} to fix)" if more else "")

    def reveal(self, spec: Field) -> None:
        """Focus the field, unfolding Advanced if it is there, and scroll it into view."""
        if spec.advanced:
            self.query_one("#advanced", Collapsible).collapsed = False
        self.call_after_refresh(self._focus_and_show, spec)  # once mounted and laid out

    def _focus_and_show(self, spec: Field) -> None:
        field = self.query_one(f"#{spec.widget_id}")
        field.focus(scroll_visible=False)
        # The field with its message below it, not just the field. Textual's scroll_to_widget
        # gets it roughly into view (it sums virtual regions through the Collapsible and the grid,
        # and was a line or two short here); the screen regions then settle the last lines.
        box = field.parent if isinstance(field.parent, Widget) else field
        self.scroll_to_widget(box, animate=False, immediate=True)
        self.call_after_refresh(self._scroll_into_view, box)

    def _scroll_into_view(self, box: Widget, tries: int = 5) -> None:
        """Scroll until the whole box is on screen. Each correction is measured on the last layout;
        while the box is not laid out yet, or its message is still being laid out under the field,
        the first look falls short, so it looks again a moment later (a few times at most)."""
        region, visible = box.region, self.scrollable_content_region
        if region and visible.contains_region(region):
            return
        if region and region.bottom > visible.bottom:
            self.scroll_to(
                y=self.scroll_y + min(region.bottom - visible.bottom, region.y - visible.y),
                animate=False,
                immediate=True,
            )
        elif region and region.y < visible.y:
            self.scroll_to(y=self.scroll_y - (visible.y - region.y), animate=False, immediate=True)
        if tries > 1:
            # A timer, not the next refresh: with nothing left to repaint that could be never.
            self.set_timer(0.05, lambda: self._scroll_into_view(box, tries - 1))

    @staticmethod
    def _problem(spec: Field, text: str) -> str | None:
        """Why `text` is refused for `spec` (None: it is fine); the field's own validators decide."""
        if not text.strip():
            return None if spec.optional else f"{spec.label} is needed."
        for validator in spec.validators():
            result = validator.validate(text)
            if not result.is_valid:
                return result.failure_descriptions[0]
        return None

    def _show_problem(self, spec: Field, message: str | None) -> None:
        if spec.key in self._folded:
            return  # not on screen (and a folded value is a default or a recommendation)
        placed = self._placed[spec.key]
        box = placed.cells[-1] if placed.label is not None else None
        if box is not None and not box.is_mounted:
            return  # mounted a moment ago: its value is checked again on the next change or Next
        errors = box.query(".field-error") if box is not None else None
        if message and not errors and box is not None:
            # Mounted on the first problem only: most fields never need one.
            box.mount(Static(Text(message), id=f"{spec.widget_id}-error", classes="field-error"))
        elif errors is not None and errors:
            errors.first(Static).update(Text(message or ""))
            errors.first().display = bool(message)
        if placed.label is not None:
            placed.label.set_class(bool(message), "-invalid")

    # --- recommendation ---------------------------------------------------------------------------
    def apply_recommendation(
        self, recommendation: dict[str, Any] | None, error: str | None = None, gpus: list[str] | None = None
    ) -> None:
        """Prefill method, rank, batch and checkpointing (and the group's processes and strategy
        when `gpus` has two or more), unless the user changed them."""
        self._show_gpus(gpus or [], recommendation or {})
        panel = self.query_one("#recommendation", Static)
        if not recommendation:
            panel.update(
                Text(f"No recommendation: {error}" if error else "No recommendation for this model.", style="yellow")
            )
            return
        panel.update(recommendation_text(recommendation))
        method = recommendation.get("method")
        select = self.query_one("#method", Select)
        if method in METHODS and self._untouched("method", str(select.value)):
            select.value = method
            self._recommended["method"] = method
        suggested = {key: recommendation.get(attribute) for attribute, key in RECOMMENDED.items()}
        suggested["data.max_length"] = recommendation.get("max_length")
        for key, value in suggested.items():
            if value is None or (key == "data.max_length" and not isinstance(value, int)):
                continue
            spec = field_for(key)
            text = str(bool(value)) if spec.kind == "bool" else str(value)
            if self._untouched(key, self.text_of(spec)):
                self.set_text(spec, text)
                self._recommended[key] = text

    def _show_gpus(self, gpus: list[str], recommendation: dict[str, Any]) -> None:
        """The group's fields, mounted once when the machine has two or more GPUs."""
        if len(gpus) < 2:
            return
        first = len(self._gpus) < 2
        self._gpus = list(gpus)
        if first:
            widgets = [widget for spec in DISTRIBUTED_FIELDS for widget in self._place(spec, _default(spec))]
            form = self.query_one("#gpu-form", Grid)
            form.mount_all(widgets)
            form.display = self.query_one("#gpu-help").display = True
            self.call_after_refresh(self._prefill_gpus, recommendation)
        else:
            self._prefill_gpus(recommendation)

    def _prefill_gpus(self, recommendation: dict[str, Any]) -> None:
        suggested = {
            "distributed.nproc": str(len(self._gpus)),
            "distributed.strategy": recommendation.get("strategy") or "auto",
        }
        for key, text in suggested.items():
            spec = field_for(key)
            if self._untouched(key, self.text_of(spec)):
                self.set_text(spec, text)
                self._recommended[key] = text
        help_text = Text(f"{len(self._gpus)} GPUs visible ({', '.join(self._gpus)}): ", style="dim")
        per_gpu = recommendation.get("per_gpu_gb")
        if recommendation.get("strategy"):
            help_text.append(f"recommended {recommendation['strategy']}", style="bold green")
            if isinstance(per_gpu, (int, float)):
                help_text.append(f", about {per_gpu:.1f} GB per GPU", style="green")
            help_text.append(".")
        else:
            help_text.append("no GPU memory reading, so no strategy recommended; ddp copies the model to every GPU.")
        self.query_one("#gpu-help", Static).update(help_text)

    def _untouched(self, key: str, current: str) -> bool:
        """True while the field holds its default or what a recommendation put there."""
        if key == "method":
            # The method of the last run is a choice, not a default to recommend over, whichever it
            # is (lora too: a recommendation of full fine-tuning must not replace it).
            return not self._chosen_method and current == self._recommended.get("method", "lora")
        if key == "objective":  # the same for the objective and the data's suggestion
            return not self._chosen_objective and current == self._recommended.get("objective", "sft")
        return current == self._recommended.get(key, _default(field_for(key)))

    # --- the objective, from the data ----------------------------------------------------------
    def apply_data(self, document: dict[str, Any] | None, refusal: str | None = None) -> None:
        """What the data suggests (its format's objective), prefilled unless the user chose one; and
        `refusal`, the data layer's words when the data cannot train the chosen objective."""
        if document is not None and document.get("suggested_objective") in OBJECTIVES:
            suggested = str(document["suggested_objective"])
            self._data = (suggested, document.get("format"))
            select = self.query_one("#objective", Select)
            if self._untouched("objective", str(select.value)):
                self._recommended["objective"] = suggested
                select.value = suggested  # its Changed shows the objective's fields and line
            self._show_objective_help()
            self._show_used_fields()  # the chosen-answers switch is for a preference set only
        line = self.query_one("#objective-data", Static)
        line.display = refusal is not None
        if refusal is not None:
            line.update(present.literal_text(f"✗ {for_the_app(refusal)}", style="bold red"))

    # --- feedback as you type -----------------------------------------------------------------
    @on(Select.Changed, "#method")
    def _method_changed(self, event: Select.Changed) -> None:
        self._show_method_help(str(event.value))
        self._show_used_fields()

    @on(Select.Changed, "#objective")
    def _objective_changed(self, event: Select.Changed) -> None:
        self._show_objective_help()
        self._show_used_fields()
        self.post_message(self.ObjectiveChanged())

    def _show_method_help(self, method: str) -> None:
        self.query_one("#method-help", Static).update(Text(METHOD_HELP.get(method, ""), style="dim"))

    def _show_objective_help(self) -> None:
        suggested, format = self._data
        self.query_one("#objective-help", Static).update(objective_help(self.objective, suggested, format))

    def _show_used_fields(self) -> None:
        """Show the fields the method and objective read, hide the others (their values stay)."""
        for spec in (*FIELDS, *OBJECTIVE_FIELDS):
            if spec.key in self._folded:
                continue  # not mounted yet: shown or hidden as Advanced unfolds
            shown = self._uses(spec)
            for widget in self._placed[spec.key].cells:
                widget.display = shown
        self.query_one("#objective-form").display = any(self._uses(spec) for spec in OBJECTIVE_FIELDS)

    @on(Checkbox.Changed, "#field-preference-chosen-only")
    def _chosen_only_changed(self, event: Checkbox.Changed) -> None:
        self.post_message(self.ObjectiveChanged())  # the data is read again: its chosen answers only, or not

    @on(Input.Changed)
    def _validated(self, event: Input.Changed) -> None:
        spec = next((f for f in self.fields if f.widget_id == event.input.id), None)
        if spec is not None:
            self._show_problem(spec, self._problem(spec, event.value))


def _default(spec: Field) -> str:
    """A field's default as its text (`True`/`False` for a checkbox)."""
    text = default_text(spec)
    return str(text == "True") if spec.kind == "bool" else text


@dataclass(frozen=True)
class Placed:
    """A field's widgets: what holds its value (an Input, a Select or a Checkbox), its label (none
    for a checkbox) and the cells it takes in the form's grid (the label and the field's box, or
    the checkbox across both columns)."""

    field: Widget
    label: Label | None
    cells: list[Widget]


def field_widgets(spec: Field, text: str) -> Placed:
    """A field's widgets: a checkbox across both columns, or a label and a select or an input."""
    if spec.kind == "bool":
        box = Checkbox(
            spec.label, value=text == "True", id=spec.widget_id, tooltip=spec.help, compact=True, classes="wide"
        )
        return Placed(box, None, [box])
    label = Label(spec.label, id=f"{spec.widget_id}-label")
    if spec.kind == "choice":
        select = Select(
            [(c, c) for c in spec.choices],
            value=text,
            allow_blank=False,
            id=spec.widget_id,
            compact=True,
            tooltip=spec.help,
        )
        return Placed(select, label, [label, select])
    field = Input(
        value=text,
        id=spec.widget_id,
        compact=True,
        tooltip=spec.help,
        placeholder="(not set)" if spec.optional else "",
        validators=spec.validators(),
        valid_empty=spec.optional,
    )
    # The field and, once it has one, why its value is refused, below it.
    return Placed(field, label, [label, Vertical(field, classes="form-field")])


def recommendation_text(recommendation: dict[str, Any]) -> Text:
    """The recommendation and the estimated memory of each method against the device's."""
    text = Text()
    r = recommendation.get("lora_r")
    text.append("Recommended: ", style="bold")
    text.append(f"{recommendation.get('method')}", style="bold green")
    if r:
        text.append(f" r={r}")
    text.append(f" · batch {recommendation.get('batch_size')}")
    text.append(" · gradient checkpointing" if recommendation.get("gradient_checkpointing") else " · no checkpointing")
    vram = recommendation.get("vram_gb")
    device = (
        f"{vram:.1f} GB GPU ({recommendation.get('vram_source', 'given')})"
        if isinstance(vram, (int, float))
        else "no GPU detected: CPU"
    )
    text.append(f"\nDevice: {device}")
    estimates = recommendation.get("estimated_memory_gb") or {}
    if estimates:
        text.append("\nEstimated memory: ")
        for index, (method, gb) in enumerate(estimates.items()):
            if index:
                text.append(" · ")
            fits = not isinstance(vram, (int, float)) or gb <= vram
            text.append(f"{method} {gb:.1f} GB", style="green" if fits else "red")
            if isinstance(vram, (int, float)):
                text.append(" ✓" if fits else " ✗", style="green" if fits else "red")
    if recommendation.get("reason"):
        text.append(f"\n{recommendation['reason']}", style="dim")
    return text
