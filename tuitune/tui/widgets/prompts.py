"""Small typed forms over the current screen: resume, upload, delete, and one typed value."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import Function, Integer, Number, Regex
from textual.widgets import Button, Checkbox, Input, Label, Static

from tuitune.runs.present import literal_text
from tuitune.tui.widgets.confirm import button_label


@dataclass(frozen=True)
class ResumeRequest:
    """A new total for the run (None: finish as configured); in steps when steps decide its length."""

    epochs: float | None = None
    max_steps: int | None = None


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
    """Resume a run from its checkpoint, optionally with a new total of epochs, or of steps when
    `max_steps` decides the run's length (a total of epochs would change nothing)."""

    def __init__(
        self,
        run_name: str,
        epochs: float | None,
        *,
        max_steps: int | None = None,
        completed: bool = False,
        hint: str = "",
    ) -> None:
        super().__init__(classes="modal")
        self._run_name = run_name
        self._epochs = epochs
        self._max_steps = max_steps
        self._completed = completed
        self._hint = hint

    @property
    def _unit(self) -> str:
        return "steps" if self._max_steps else "epochs"

    def compose(self) -> ComposeResult:
        hint = self._hint + ("" if self._completed else " Leave the total empty to finish as configured.")
        now = self._max_steps if self._max_steps else self._epochs
        validator: Number
        if self._max_steps:
            validator = Integer(
                minimum=1, failure_description="The total of steps must be a whole number of at least 1."
            )
        else:
            validator = Number(minimum=0.01, failure_description="The total of epochs must be a positive number.")
        with Vertical(classes="dialog"):
            yield Label(literal_text(f"Resume {self._run_name}"), classes="dialog-title")
            yield Static(Text(hint), classes="dialog-body")
            yield Label(f"Total {self._unit}" + (f" (now {now:g})" if now else ""))
            yield Input(
                placeholder="e.g. 500" if self._max_steps else "e.g. 5",
                id="total",
                validators=[validator],
                valid_empty=not self._completed,
                tooltip=f"The new total number of {self._unit}, counted from the start of the run.",
                compact=True,
            )
            yield Static("", id="error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Resume", variant="primary", id="submit", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#total", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        field = self.query_one("#total", Input)
        result = field.validate(field.value)
        if result is not None and not result.is_valid:
            self.query_one("#error", Static).update(result.failure_descriptions[0])
            return
        text = field.value.strip()
        if not text:
            self.dismiss(ResumeRequest())
        elif self._max_steps:
            self.dismiss(ResumeRequest(max_steps=int(text)))
        else:
            self.dismiss(ResumeRequest(epochs=float(text)))


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
            yield Label(literal_text(f"Upload {self._run_name} to the Hugging Face Hub"), classes="dialog-title")
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
    """Confirm deleting a run, and say whether its folder goes too: `y` deletes, `n`/`escape` keeps
    it, `space` ticks or unticks the folder wherever the focus is (the checkbox's label names it)."""

    BINDINGS = [
        Binding("y", "delete", "Delete", tooltip="Delete the run.", id="delete-yes"),
        Binding("n,escape", "cancel", "Keep it", tooltip="Close without deleting anything.", id="delete-no"),
        Binding(
            "space", "toggle_files", "Folder too", tooltip="Also delete the run's folder (or not).", id="delete-files"
        ),
    ]

    def __init__(self, run_name: str, output_dir: str | None) -> None:
        super().__init__(classes="modal")
        self._run_name = run_name
        self._output_dir = output_dir

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(literal_text(f"Delete {self._run_name}?"), classes="dialog-title")
            yield Static("The run leaves the store: its metrics, evaluations and history.", classes="dialog-body")
            # The label stays short so it is never cut; the folder is on its own lines below, wrapped.
            yield Checkbox(
                "Also delete its folder (space)", id="files", value=False, disabled=not self._output_dir, compact=True
            )
            if self._output_dir:
                yield Static(literal_text(self._output_dir), id="folder", classes="dialog-path")
            with Horizontal(classes="dialog-buttons"):
                yield Button(button_label("Delete the run", "y"), variant="error", id="submit", compact=True)
                yield Button(button_label("Keep it", "n"), id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_toggle_files(self) -> None:
        # A focused checkbox toggles itself on space; from anywhere else this does it.
        files = self.query_one("#files", Checkbox)
        if not files.disabled:
            files.toggle()

    @on(Button.Pressed, "#submit")
    def action_delete(self) -> None:
        self.dismiss(DeleteRequest(files=self.query_one("#files", Checkbox).value))


class AskModal(_FormModal):
    """One typed value (a number of slots, a file to write): enter or the button submits it once
    every validator agrees; escape closes without doing anything. Dismisses with the text."""

    def __init__(
        self,
        title: str,
        body: str,
        label: str,
        *,
        value: str = "",
        submit: str = "OK",
        validators: list | None = None,
        placeholder: str = "",
    ) -> None:
        super().__init__(classes="modal")
        self._title, self._body, self._label, self._value = title, body, label, value
        self._submit, self._validators, self._placeholder = submit, validators or [], placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(literal_text(self._title), classes="dialog-title")
            if self._body:
                yield Static(literal_text(self._body), classes="dialog-body")
            yield Label(Text(self._label))
            yield Input(
                value=self._value, placeholder=self._placeholder, id="answer", validators=self._validators, compact=True
            )
            yield Static("", id="error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._submit, variant="primary", id="submit", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#answer", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        field = self.query_one("#answer", Input)
        result = field.validate(field.value)
        if result is not None and not result.is_valid:
            self.query_one("#error", Static).update(Text(result.failure_descriptions[0]))
            return
        if not field.value.strip():
            self.query_one("#error", Static).update(Text(f"{self._label} is needed."))
            return
        self.dismiss(field.value.strip())
