"""Export a run for serving: where to (GGUF, Ollama, vLLM), at which quantization, merged or not.

The choices are the CLI's (`tuitune export --to --quant --merge`), read from where they are
declared; the K-quants are offered only where llama.cpp's quantizer is on the PATH.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, RadioButton, RadioSet, Select, Static

from tuitune.export.choices import DEFAULT_QUANT, K_QUANTS, QUANT_WORDS, QUANTS, TARGET_WORDS
from tuitune.runs.present import literal_text


@dataclass(frozen=True)
class ExportRequest:
    to: str
    quant: str
    merge: bool  # vLLM: serve the merged model rather than base + adapter


class ExportModal(ModalScreen[ExportRequest | None]):
    """Pick the target and the quantization; enter or the button exports, escape closes."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without exporting.", id="export-cancel"),
        Binding("ctrl+s", "submit", "Export", tooltip="Export with these choices.", id="export-submit"),
    ]

    def __init__(self, run_name: str, *, has_adapter: bool) -> None:
        super().__init__(classes="modal")
        self._run_name = run_name
        self._has_adapter = has_adapter
        self._quants = QUANTS + (K_QUANTS if shutil.which("llama-quantize") else ())

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(literal_text(f"Export {self._run_name} for serving"), classes="dialog-title")
            with RadioSet(id="target", compact=True):
                for index, (target, words) in enumerate(TARGET_WORDS.items()):
                    yield RadioButton(words, value=index == 0, id=f"to-{target}", compact=True)
            yield Label("Weights (GGUF)")
            yield Select(
                [(QUANT_WORDS.get(quant, quant), quant) for quant in self._quants],
                value=DEFAULT_QUANT,
                allow_blank=False,
                id="quant",
                compact=True,
                tooltip="How the GGUF stores the weights; every file is checked against the model before it is kept.",
            )
            yield Checkbox(
                "Serve the merged model (vLLM)",
                id="merge",
                value=False,
                disabled=True,
                compact=True,
                tooltip="Merge the adapter into its base and serve that, instead of base + adapter.",
            )
            yield Static(
                "Written into the run's folder (export/); deleting the run's files deletes it.", classes="dialog-body"
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", variant="primary", id="submit", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#target", RadioSet).focus()

    def _target(self) -> str:
        pressed = self.query_one("#target", RadioSet).pressed_button
        return (pressed.id or "to-ollama").removeprefix("to-") if pressed is not None else "ollama"

    @on(RadioSet.Changed)
    def _target_changed(self) -> None:
        vllm = self._target() == "vllm"
        self.query_one("#quant", Select).disabled = vllm
        self.query_one("#merge", Checkbox).disabled = not (vllm and self._has_adapter)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancelled(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        to = self._target()
        quant = self.query_one("#quant", Select).value
        merge = to == "vllm" and self.query_one("#merge", Checkbox).value
        self.dismiss(ExportRequest(to, str(quant) if quant != Select.BLANK else DEFAULT_QUANT, merge))
