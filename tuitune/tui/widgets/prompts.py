"""Small typed forms over the current screen: resume, upload, delete."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import Function, Number, Regex
from textual.widgets import Button, Checkbox, Input, Label, Static


@dataclass(frozen=True)
class ResumeRequest:
    epochs: float | None  # None: finish the epochs the run was configured for


@dataclass(frozen=True)
class UploadRequest:
    repo_id: str
    private: bool
    token: str | None  # passed to the child through HF_TOKEN, never stored, never in argv

    def __repr__(self) -> str:  # a token must not leak into logs or tracebacks
        return f"UploadRequest(repo_id={self.repo_id!r}, private={self.private}, token={'***' if self.token else None})"


@dataclass(frozen=True)
class DeleteRequest:
    files: bool


class _FormModal(ModalScreen):
    """Escape cancels; ctrl+s / the primary button submits when every field is valid."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without doing anything.", id="form-cancel"),
    ]

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancelled(self) -> None:
        self.dismiss(None)


class ResumeModal(_FormModal):
    """Resume a run from its checkpoint, optionally with a new total of epochs."""

    def __init__(self, run_name: str, epochs: float | None, *, completed: bool = False) -> None:
        super().__init__(classes="modal")
        self._run_name = run_name
        self._epochs = epochs
        self._completed = completed

    def compose(self) -> ComposeResult:
        hint = (
            "It completed: give a larger total of epochs to train it further."
            if self._completed
            else "It continues from its last checkpoint. Leave epochs empty to finish as configured."
        )
        with Vertical(classes="dialog"):
            yield Label(f"Resume {self._run_name}", classes="dialog-title")
            yield Static(hint, classes="dialog-body")
            yield Label("Total epochs" + (f" (now {self._epochs:g})" if self._epochs else ""))
            yield Input(
                placeholder="e.g. 5",
                id="epochs",
                validators=[Number(minimum=0.01, failure_description="Epochs must be a positive number.")],
                valid_empty=not self._completed,
                tooltip="The new total number of epochs, counted from the start of the run.",
                compact=True,
            )
            yield Static("", id="error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Resume", variant="primary", id="submit", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#epochs", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        field = self.query_one("#epochs", Input)
        result = field.validate(field.value)
        if result is not None and not result.is_valid:
            self.query_one("#error", Static).update(result.failure_descriptions[0])
            return
        text = field.value.strip()
        self.dismiss(ResumeRequest(epochs=float(text) if text else None))


# A Hub repo id: `name` or `owner/name`, the characters the Hub accepts.
REPO_ID = r"^(?:[A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$"


class UploadModal(_FormModal):
    """Where to upload a run; the token field is masked and its value leaves only to the child."""

    def __init__(self, run_name: str, suggested_repo: str = "") -> None:
        super().__init__(classes="modal")
        self._run_name = run_name
        self._suggested = suggested_repo

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Upload {self._run_name} to the Hugging Face Hub", classes="dialog-title")
            yield Label("Repository id")
            yield Input(
                value=self._suggested,
                placeholder="your-name/model-name",
                id="repo",
                validators=[Regex(REPO_ID, failure_description="Use owner/name with letters, digits, . _ -")],
                tooltip="The model repository; it is created if it does not exist.",
                compact=True,
            )
            yield Checkbox("Private repository", id="private", value=True, compact=True)
            yield Label("Token (leave empty to use HF_TOKEN or your saved login)")
            yield Input(
                placeholder="hf_…",
                password=True,
                id="token",
                validators=[Function(lambda v: not v or v.startswith("hf_"), "A Hugging Face token starts with hf_.")],
                valid_empty=True,
                tooltip="Used for this upload only; never saved or shown.",
                compact=True,
            )
            yield Static("", id="error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Upload", variant="primary", id="submit", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#repo", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        for field in self.query(Input):
            result = field.validate(field.value)
            if result is not None and not result.is_valid:
                self.query_one("#error", Static).update(result.failure_descriptions[0])
                field.focus()
                return
        token = self.query_one("#token", Input).value.strip() or None
        self.dismiss(
            UploadRequest(
                repo_id=self.query_one("#repo", Input).value.strip(),
                private=self.query_one("#private", Checkbox).value,
                token=token,
            )
        )


class DeleteModal(_FormModal):
    """Confirm deleting a run, and say whether its folder goes too."""

    def __init__(self, run_name: str, output_dir: str | None) -> None:
        super().__init__(classes="modal")
        self._run_name = run_name
        self._output_dir = output_dir

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Delete {self._run_name}?", classes="dialog-title")
            yield Static("The run leaves the store: its metrics, evaluations and history.", classes="dialog-body")
            yield Checkbox(
                f"Also delete its files ({self._output_dir})" if self._output_dir else "Also delete its files",
                id="files",
                value=False,
                disabled=not self._output_dir,
                compact=True,
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Delete", variant="error", id="submit", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        self.dismiss(DeleteRequest(files=self.query_one("#files", Checkbox).value))
