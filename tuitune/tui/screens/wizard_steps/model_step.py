"""Wizard step 1: which model. Type an id or path, or pick the demo, a cached or a used model."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tuitune.bundled import DEMO_MODEL
from tuitune.errors import TuituneError
from tuitune.runs import present
from tuitune.tui.failures import ReportsWorkerErrors
from tuitune.tui.wording import for_the_app


class ModelStep(ReportsWorkerErrors, Vertical):
    """Reads the model's config in a child process (no weights) and says what it found."""

    class Confirmed(Message):
        """Enter on the model already read (or being read): go on to the next step."""

    class Probed(Message):
        """The probe finished: `document` on success, `error` otherwise."""

        def __init__(self, model: str, document: dict[str, Any] | None, error: str | None) -> None:
            super().__init__()
            self.model, self.document, self.error = model, document, error

    def __init__(self, *, model: str = DEMO_MODEL, id: str | None = None) -> None:
        super().__init__(id=id)
        self._default = model
        self.probed: str | None = None  # the model the info below describes
        self.requested: str | None = None  # the model last sent to be read
        self.document: dict[str, Any] | None = None
        self.error: str | None = None
        self._looked = False  # the first look (the choices, reading the model) has started

    def compose(self) -> ComposeResult:
        yield Label("Model: a Hugging Face id, a local folder, or pick one below (enter reads it)")
        yield Input(
            value=self._default,
            placeholder="e.g. Qwen/Qwen2.5-0.5B or ./my-model",
            id="model-input",
            tooltip="A Hub id, a local folder, or tuitune/demo (the built-in demo model).",
        )
        yield OptionList(id="model-choices")
        yield Static("", id="model-info")

    def on_mount(self) -> None:
        # After the first paint: the threads below would otherwise compete with it for the GIL.
        self.tuitune.after_first_frame(self._first_look)

    def _first_look(self, model: str | None = None) -> None:
        if self._looked:
            return
        self._looked = True
        self._load_choices()
        self.probe(model or self.model or DEMO_MODEL)

    @property
    def model(self) -> str:
        return self.query_one("#model-input", Input).value.strip()

    @work(thread=True, group="model-choices", exit_on_error=False)
    def _load_choices(self) -> None:
        choices = self.tuitune.service.known_models()
        self.tuitune.call_from_thread(self._show_choices, choices)

    def _show_choices(self, choices: list[tuple[str, str]]) -> None:
        options = self.query_one("#model-choices", OptionList)
        options.clear_options()
        for model, origin in choices:
            options.add_option(Option(Text.assemble((model, "bold"), ("  " + origin, "dim")), id=model))
        # A highlighted choice, so enter in the list picks at once (the one in the field, else the first).
        chosen = [index for index, (model, _origin) in enumerate(choices) if model == self.model]
        if choices:
            options.highlighted = chosen[0] if chosen else 0

    @on(OptionList.OptionSelected, "#model-choices")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        model = event.option.id or ""
        self.query_one("#model-input", Input).value = model
        self.probe(model)

    @on(Input.Submitted, "#model-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        # Enter in the instant before the first look (just after the first paint) finds the
        # default being read, as it always did: the look starts now.
        self._first_look(self._default)
        if self.model and self.model == self.requested:
            self.post_message(self.Confirmed())
        else:
            self.probe(self.model)

    def probe(self, model: str) -> None:
        """Read `model`'s config and recommendation (in a child process: it imports transformers)."""
        model = model.strip()
        if not model:
            self._show_error("Type a model id or a local folder.")
            return
        self.probed, self.document, self.error = None, None, None
        self.requested = model
        self.query_one("#model-info", Static).update(present.literal_text(f"Reading {model}'s config…", style="italic"))
        self._probe(model)

    @work(thread=True, exclusive=True, group="model-probe", exit_on_error=False)
    def _probe(self, model: str) -> None:
        # The app's warm probe process: transformers is imported there once, not per probe.
        try:
            document, error = self.tuitune.probe.request("model", {"name": model}, timeout=300), None
        except TuituneError as failure:
            document, error = None, str(failure) or "The model could not be read."
        self.post_message(self.Probed(model, document, error))

    @on(Probed)
    def _probed(self, message: Probed) -> None:
        if message.model != self.model:
            return  # the user typed something else meanwhile
        self.probed, self.document, self.error = message.model, message.document, message.error
        if message.error:
            self._show_error(message.error)
        else:
            self.query_one("#model-info", Static).update(describe(message.document or {}))

    def _show_error(self, error: str) -> None:
        self.query_one("#model-info", Static).update(present.literal_text(f"✗ {for_the_app(error)}", style="bold red"))


def describe(document: dict[str, Any]) -> Text:
    """Architecture, size and LoRA targets, from the probe's JSON."""
    info = document.get("model") or {}
    text = Text()
    text.append(f"✓ {info.get('architecture') or info.get('model_type') or 'unknown architecture'}", style="bold green")
    if info.get("model_type"):
        text.append(f" ({info['model_type']})", style="green")
    text.append(f" · {present.count(info.get('parameters'))} parameters")
    details = [
        (info.get("num_layers"), "layers"),
        (info.get("hidden_size"), "hidden"),
        (info.get("vocab_size"), "vocabulary"),
        (info.get("max_position_embeddings"), "context"),
    ]
    shown = [
        f"{value:,} {label}" if label == "layers" else f"{label} {value:,}"
        for value, label in details
        if isinstance(value, int)
    ]
    if shown:
        text.append("\n" + " · ".join(shown), style="dim")
    targets = info.get("lora_targets") or []
    if targets:
        text.append("\nLoRA targets: ", style="bold")
        text.append(", ".join(map(str, targets)))
    recommendation = document.get("recommendation")
    if isinstance(recommendation, dict) and recommendation.get("reason"):
        text.append("\nRecommended: ", style="bold")
        text.append(str(recommendation["reason"]))
    return text
