"""Wizard step 3: method and hyperparameters, prefilled from the recommendation.

Common fields are validated as you type; the rest fold away under "Advanced". A value the user
changed is never overwritten when a (new) recommendation arrives.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Vertical, VerticalScroll
from textual.widgets import Checkbox, Collapsible, Input, Label, Select, Static

from tuitune.config import METHODS
from tuitune.tui.screens.wizard_steps.fields import FIELDS, RECOMMENDED, Field, default_text, field_for

METHOD_HELP = {
    "lora": "LoRA: train small adapter matrices; the base model stays frozen.",
    "qlora": "QLoRA: LoRA on a 4-bit quantized base; the least memory (needs bitsandbytes).",
    "full_finetuning": "Full fine-tuning: every weight trains; the most memory, no adapter.",
    "instruction_tuning": "Instruction tuning: LoRA on alpaca-style instruction/response data.",
}


class MethodStep(VerticalScroll):
    """The method, the recommendation it came from, and the hyperparameter form."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._recommended: dict[str, str] = {}  # field key -> text the recommendation put there

    def compose(self) -> ComposeResult:
        yield Static("Recommendation: waiting for the model's description…", id="recommendation")
        with Grid(classes="form"):
            yield Label("Method")
            yield Select([(m, m) for m in METHODS], value="lora", allow_blank=False, id="method", compact=True,
                         classes="widest",
                         tooltip="How to fine-tune: adapters (lora, qlora), all weights, or instruction tuning.")
            for spec in FIELDS:
                if not spec.advanced:
                    yield from self._field(spec)
        yield Static("", id="method-help")
        with Collapsible(title="Advanced", collapsed=True, id="advanced"):
            with Grid(classes="form"):
                for spec in FIELDS:
                    if spec.advanced:
                        yield from self._field(spec)
        yield Static("", id="field-error", classes="field-error")

    def _field(self, spec: Field) -> ComposeResult:
        if spec.kind == "bool":
            # A checkbox carries its own label, across the label and value columns.
            yield Checkbox(spec.label, value=default_text(spec) == "True", id=spec.widget_id, tooltip=spec.help,
                           compact=True, classes="wide")
            return
        yield Label(spec.label)
        if spec.kind == "choice":
            yield Select([(c, c) for c in spec.choices], value=default_text(spec), allow_blank=False,
                         id=spec.widget_id, compact=True, tooltip=spec.help)
        else:
            yield Input(value=default_text(spec), id=spec.widget_id, compact=True, tooltip=spec.help,
                        placeholder="(not set)" if spec.optional else "",
                        validators=spec.validators(), valid_empty=spec.optional)

    def on_mount(self) -> None:
        self._show_method_help("lora")

    # --- values ---------------------------------------------------------------------------------
    @property
    def method(self) -> str:
        return str(self.query_one("#method", Select).value)

    def values(self) -> dict[str, Any]:
        """Every field's value by dotted key (raises ValueError naming the first bad field)."""
        values: dict[str, Any] = {}
        for spec in FIELDS:
            if spec.kind == "bool":
                values[spec.key] = self.query_one(f"#{spec.widget_id}", Checkbox).value
            elif spec.kind == "choice":
                values[spec.key] = str(self.query_one(f"#{spec.widget_id}", Select).value)
            else:
                field = self.query_one(f"#{spec.widget_id}", Input)
                result = field.validate(field.value)
                if result is not None and not result.is_valid:
                    raise ValueError(result.failure_descriptions[0])
                value = spec.parse(field.value)
                if value is None and not spec.optional:
                    raise ValueError(f"{spec.label} is needed.")
                if value is not None or spec.optional:
                    values[spec.key] = value
        if values.get("name") is None:
            values.pop("name", None)
        return values

    def first_error(self) -> str | None:
        try:
            self.values()
        except ValueError as error:
            return str(error)
        return None

    # --- recommendation ---------------------------------------------------------------------------
    def apply_recommendation(self, recommendation: dict[str, Any] | None, error: str | None = None) -> None:
        """Prefill method, rank, batch and checkpointing, unless the user changed them."""
        panel = self.query_one("#recommendation", Static)
        if not recommendation:
            panel.update(Text(f"No recommendation: {error}" if error else "No recommendation for this model.", style="yellow"))
            return
        panel.update(recommendation_text(recommendation))
        method = recommendation.get("method")
        select = self.query_one("#method", Select)
        if method in METHODS and self._untouched("method", str(select.value)):
            select.value = method
            self._recommended["method"] = method
        for attribute, key in RECOMMENDED.items():
            value = recommendation.get(attribute)
            if value is None:
                continue
            spec = field_for(key)
            widget_id = f"#{spec.widget_id}"
            if spec.kind == "bool":
                switch = self.query_one(widget_id, Checkbox)
                if self._untouched(key, str(switch.value)):
                    switch.value = bool(value)
                    self._recommended[key] = str(bool(value))
            else:
                field = self.query_one(widget_id, Input)
                if self._untouched(key, field.value):
                    field.value = str(value)
                    self._recommended[key] = str(value)
        max_length = recommendation.get("max_length")
        if isinstance(max_length, int):
            field = self.query_one("#field-data-max-length", Input)
            if self._untouched("data.max_length", field.value):
                field.value = str(max_length)
                self._recommended["data.max_length"] = str(max_length)

    def _untouched(self, key: str, current: str) -> bool:
        """True while the field holds its default or what a recommendation put there."""
        if key == "method":
            return current == self._recommended.get("method", "lora")
        spec = field_for(key)
        return current == self._recommended.get(key, default_text(spec) if spec.kind != "bool" else str(default_text(spec) == "True"))

    # --- feedback as you type -----------------------------------------------------------------
    @on(Select.Changed, "#method")
    def _method_changed(self, event: Select.Changed) -> None:
        self._show_method_help(str(event.value))

    def _show_method_help(self, method: str) -> None:
        self.query_one("#method-help", Static).update(Text(METHOD_HELP.get(method, ""), style="dim"))

    @on(Input.Changed)
    def _validated(self, event: Input.Changed) -> None:
        result = event.validation_result
        message = "" if result is None or result.is_valid else result.failure_descriptions[0]
        self.query_one("#field-error", Static).update(Text(message, style="bold red"))


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
    device = f"{vram:.1f} GB GPU ({recommendation.get('vram_source', 'given')})" if isinstance(vram, (int, float)) else "no GPU detected: CPU"
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
