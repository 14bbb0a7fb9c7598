"""The chat's settings: how the models answer (system prompt, sampling, length, seed, stop strings),
which chat template formats the prompt, and which models sit side by side.

Every limit comes from `tuitune.chats.Sampling` itself (its fields' `ge`/`gt`/`le`/`lt`), and the
values are checked by building a `Sampling`, so the app never accepts what the chat child refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from pydantic import ValidationError
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from tuitune.chats.settings import Sampling
from tuitune.config import TemplateName
from tuitune.tui.screens.wizard_steps.fields import Field, from_model

# The templates a user may choose instead of the one the run trained with.
TEMPLATES: tuple[str, ...] = tuple(name for name in get_args(TemplateName) if name != "auto")
AS_TRAINED = "as-trained"

# The sampling fields of the form, in its order; labels and limits from `Sampling`.
SAMPLING_FIELDS: tuple[Field, ...] = (
    from_model(
        Sampling, "temperature", "temperature", "Temperature", "float", "0: greedy, the same answer every time."
    ),
    from_model(Sampling, "top_p", "top_p", "Top p", "float", "Keep the most likely tokens up to this probability."),
    from_model(Sampling, "top_k", "top_k", "Top k", "int", "Sample among this many most likely tokens (0: no limit)."),
    from_model(
        Sampling,
        "min_p",
        "min_p",
        "Min p",
        "float",
        "Drop tokens less likely than this fraction of the most likely one.",
    ),
    from_model(
        Sampling,
        "repetition_penalty",
        "repetition_penalty",
        "Repetition penalty",
        "float",
        "Above 1 discourages repeating.",
    ),
    from_model(Sampling, "max_new_tokens", "max_new_tokens", "Max new tokens", "int", "The longest answer, in tokens."),
    from_model(Sampling, "seed", "seed", "Seed", "int", "The same seed and settings give the same answer."),
)


@dataclass(frozen=True)
class ChatSettings:
    """What the settings panel returns."""

    sampling: Sampling
    template: str | None  # None: the template the run trained with
    models: str  # which models answer, one of those offered (see ChatScreen's LAYOUTS)


class ChatSettingsModal(ModalScreen[ChatSettings | None]):
    """The settings panel: ctrl+s or Apply applies, escape closes without changing anything."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without changing anything.", id="chat-settings-cancel"),
        Binding(
            "ctrl+s",
            "apply",
            "Apply",
            tooltip="Apply the settings (a new template or models reload the panes).",
            id="chat-settings-apply",
            priority=True,
        ),
    ]

    def __init__(self, current: ChatSettings, *, trained_template: str, layouts: list[tuple[str, str]]) -> None:
        super().__init__(classes="modal")
        self._current = current
        self._trained = trained_template
        self._layouts = layouts  # (label, value); one entry: nothing to choose

    def compose(self) -> ComposeResult:
        sampling = self._current.sampling
        with Vertical(classes="dialog chat-settings-dialog"):
            yield Label("Chat settings", classes="dialog-title")
            with Grid(classes="form chat-form"):
                yield Label("System prompt")
                yield Input(
                    value=sampling.system_prompt or "",
                    placeholder="(none)",
                    id="system_prompt",
                    compact=True,
                    classes="widest",
                    tooltip="A system message before the conversation.",
                    max_length=_max_length("system_prompt"),
                )
                for spec in SAMPLING_FIELDS:
                    yield Label(spec.label, id=f"{spec.key}-label")
                    yield Input(
                        value=_text(getattr(sampling, spec.key)),
                        id=spec.key,
                        compact=True,
                        tooltip=spec.help,
                        validators=spec.validators(),
                    )
                if len(SAMPLING_FIELDS) % 2:
                    yield from (Label(""), Label(""))  # the row's other half: template and models take whole rows
                yield Label("Template")
                trained = f"as trained ({self._trained})" if self._trained else "as trained"
                yield Select(
                    [(trained, AS_TRAINED)] + [(name, name) for name in TEMPLATES],
                    id="template",
                    compact=True,
                    classes="widest",
                    value=self._current.template or AS_TRAINED,
                    allow_blank=False,
                    tooltip="How a conversation becomes the text the model continues.",
                )
                if len(self._layouts) > 1:
                    yield Label("Models")
                    yield Select(
                        self._layouts,
                        id="layout",
                        compact=True,
                        value=self._current.models,
                        allow_blank=False,
                        classes="widest",
                        tooltip="Which models answer, side by side.",
                    )
            yield Label("Stop strings, one per line")
            yield TextArea("\n".join(sampling.stop), id="stop", soft_wrap=False, compact=True)
            yield Static("", id="error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply (^s)", variant="primary", id="submit", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#temperature", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancelled(self) -> None:
        self.dismiss(None)

    @on(Input.Changed)
    def _checked(self, event: Input.Changed) -> None:
        spec = next((spec for spec in SAMPLING_FIELDS if spec.key == event.input.id), None)
        if spec is None:
            return
        problem = _problem(spec, event.value)
        self.query_one(f"#{spec.key}-label", Label).set_class(problem is not None, "-invalid")
        self.query_one("#error", Static).update(Text(problem or ""))

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def action_apply(self) -> None:
        for spec in SAMPLING_FIELDS:
            problem = _problem(spec, self.query_one(f"#{spec.key}", Input).value)
            if problem:
                self.query_one("#error", Static).update(Text(problem))
                self.query_one(f"#{spec.key}", Input).focus()
                return
        values = {spec.key: spec.parse(self.query_one(f"#{spec.key}", Input).value) for spec in SAMPLING_FIELDS}
        values["system_prompt"] = self.query_one("#system_prompt", Input).value.strip() or None
        values["stop"] = [line for line in self.query_one("#stop", TextArea).text.split("\n") if line]
        try:
            sampling = Sampling(**values)
        except ValidationError as error:
            first = error.errors()[0]
            self.query_one("#error", Static).update(Text(f"{str(first['loc'][0]).replace('_', ' ')}: {first['msg']}."))
            return
        template = str(self.query_one("#template", Select).value)
        layouts = self.query("#layout")
        layout = str(layouts.first(Select).value) if layouts else self._current.models
        self.dismiss(ChatSettings(sampling, None if template == AS_TRAINED else template, layout))


def _max_length(name: str) -> int:
    """The longest text `Sampling` accepts for `name` (0: no limit)."""
    return next((rule.max_length for rule in Sampling.model_fields[name].metadata if hasattr(rule, "max_length")), 0)


def _text(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _problem(spec: Field, text: str) -> str | None:
    if not text.strip():
        return f"{spec.label} is needed."
    for validator in spec.validators():
        result = validator.validate(text)
        if not result.is_valid:
            return result.failure_descriptions[0]
    return None
