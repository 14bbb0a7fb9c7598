"""What a user does to a run, from whichever screen: resume, rerun, cancel, delete, evaluate,
merge, export for serving, upload, export its chats.

One place for every flow (modal, then a background worker, then a notification) so the history,
detail and training screens behave the same. Which actions apply to which run, their keys and
their words when they do not, are the table in `run_actions`: a flow here is called only for a run
it applies to. Workers belong to the app, not to a screen, so an evaluation keeps going when the
user leaves the screen that started it. Long actions run the CLI in a child process (see
`background`); quick ones call the launcher from a thread.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.signal import Signal
from textual.worker import Worker

from tuitune.errors import TuituneError
from tuitune.runs.results import EvaluationResult, ExportResult, MergeResult, UploadResult, read_result
from tuitune.service.jobs import CliOutcome, run_tuitune
from tuitune.store import COMPLETED, Run
from tuitune.tui.offers import resume_from, resume_hint
from tuitune.tui.widgets.confirm import ConfirmModal
from tuitune.tui.widgets.prompts import (
    AskModal,
    DeleteModal,
    DeleteRequest,
    ResumeModal,
    ResumeRequest,
    UploadModal,
    UploadRequest,
)
from tuitune.tui.wording import for_the_app

if TYPE_CHECKING:
    from tuitune.tui.app import TuituneApp


class RunActions:
    """The run actions' flows of one app; `run_actions.RunActionScreen` calls them."""

    def __init__(self, app: TuituneApp) -> None:
        self.app = app
        self._ids = itertools.count(1)
        # Background tasks: id -> "what · latest progress line"; published on every change.
        self.tasks: dict[int, str] = {}
        self.tasks_changed: Signal[dict[int, str]] = Signal(app, "tasks-changed")
        # A run changed (status, evaluation, artifact) or was deleted: its id.
        self.run_changed: Signal[int] = Signal(app, "run-changed")

    @property
    def service(self):
        return self.app.service

    # --- quick actions through the launcher -------------------------------------------------
    def cancel(self, run: Run, then: Callable[[Run], None] | None = None) -> None:
        """Ask, then cancel: the worker saves a checkpoint and stops after its current step."""

        def answered(yes: bool | None) -> None:
            if yes:
                self._quick(
                    lambda: self.service.cancel(run.id),
                    f"Cancelling {run.name}: it stops after this step and saves a checkpoint.",
                    run.id,
                    then,
                )

        self.app.push_screen(
            ConfirmModal(
                f"Stop {run.name}?",
                "The run finishes its current step, saves a checkpoint and stops. You can resume it later.",
                confirm_label="Stop the run",
                cancel_label="Keep running",
            ),
            answered,
        )

    def resume(self, run: Run, then: Callable[[Run], None] | None = None) -> None:
        """Find where it would resume, ask (optionally for a new total), then resume."""

        def find_checkpoint() -> None:
            step = self.service.resume_step(run)
            self.app.call_from_thread(self._ask_resume, run, step, then)

        self.app.run_worker(find_checkpoint, thread=True, group="run-actions", exit_on_error=False, name="resume-point")

    def _ask_resume(self, run: Run, step: int | None, then: Callable[[Run], None] | None) -> None:
        training = run.config.get("training") or {}

        def answered(request: ResumeRequest | None) -> None:
            if request is not None:
                self._quick(
                    lambda: self.service.resume(run.id, epochs=request.epochs, max_steps=request.max_steps),
                    f"Resuming {run.name} {resume_from(step)}.",
                    run.id,
                    then,
                )

        modal = ResumeModal(
            run.name,
            training.get("epochs"),
            max_steps=training.get("max_steps"),
            completed=run.status == COMPLETED,
            hint=resume_hint(run, step),
        )
        self.app.push_screen(modal, answered)

    def label(self, run: Run) -> None:
        """Ask for the run's note and tags, then keep them (any run, whatever its status)."""
        from tuitune.tui.widgets.label_modal import LabelModal, LabelRequest

        def answered(request: LabelRequest | None) -> None:
            if request is not None:
                self._quick(
                    lambda: self.service.label(run.id, notes=request.notes, tags=request.tags),
                    f"Kept the note and tags of {run.name}.",
                    run.id,
                    None,
                )

        self.app.push_screen(LabelModal(run.name, run.notes, run.tags), answered)

    def rerun(self, run: Run) -> None:
        """Ask, then queue a new run with this run's configuration; say what has changed since."""

        def queue_it() -> None:
            try:
                result = self.service.rerun(run.id)
            except TuituneError as error:
                self.app.call_from_thread(self.app.notify, str(error), title="Could not do that", severity="error")
                return
            new = result.run
            done = f"Queued {new.name}, a rerun of {run.name}."
            self.app.call_from_thread(self._finished_quick, done, new.id, new, None)
            if result.warnings:  # the data, versions or git commit changed since: said, not hidden
                self.app.call_from_thread(
                    self.app.notify, "\n".join(result.warnings), title="Changed since", severity="warning", timeout=12
                )

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.run_worker(queue_it, thread=True, group="run-actions", exit_on_error=False, name="rerun")

        self.app.push_screen(
            ConfirmModal(
                f"Rerun {run.name}?",
                "A new run with its configuration waits in the queue (its own name and folder). "
                "What has changed since (its data, versions, git commit) is said once it is queued.",
                confirm_label="Queue the rerun",
                cancel_label="Keep as is",
            ),
            answered,
        )

    def delete(self, run: Run, then: Callable[[Run], None] | None = None) -> None:
        """Ask (and whether its folder goes too), then delete."""

        def answered(request: DeleteRequest | None) -> None:
            if request is not None:
                self._quick(
                    lambda: self.service.delete(run.id, files=request.files) or run,
                    f"Deleted {run.name}" + (" and its files." if request.files else "."),
                    run.id,
                    then,
                )

        self.app.push_screen(DeleteModal(run.name, run.output_dir), answered)

    def _quick(
        self, call: Callable[[], Run | None], done: str, run_id: int, then: Callable[[Run], None] | None
    ) -> None:
        def work() -> None:
            try:
                result = call()
            except TuituneError as error:
                self.app.call_from_thread(self.app.notify, str(error), title="Could not do that", severity="error")
                return
            self.app.call_from_thread(self._finished_quick, done, run_id, result, then)

        self.app.run_worker(work, thread=True, group="run-actions", exit_on_error=False, name=done)

    def _finished_quick(self, done: str, run_id: int, result: Run | None, then: Callable[[Run], None] | None) -> None:
        self.app.notify(done)
        self.run_changed.publish(run_id)
        if then is not None and result is not None:
            then(result)

    # --- long actions: the CLI in a child process ---------------------------------------------
    def evaluate(self, run: Run) -> None:
        """Score the fine-tuned and the base model on held-out samples (`tuitune eval --compare-base`)."""
        self._long(
            f"Evaluate {run.name}",
            ["eval", str(run.id), "--compare-base", "--json"],
            run.id,
            lambda doc: _evaluation_summary(run, read_result(EvaluationResult, doc, "eval")),
        )

    def merge(self, run: Run) -> None:
        """Merge the adapter into its base model, in `<run folder>/merged`."""
        target = f"{run.output_dir}/merged" if run.output_dir else f"merged-{run.id}"

        def answered(yes: bool | None) -> None:
            if yes:
                self._long(
                    f"Merge {run.name}",
                    ["merge", str(run.id), target, "--json"],
                    run.id,
                    lambda doc: f"Merged {run.name} into {read_result(MergeResult, doc, 'merge')['output_dir']}.",
                )

        self.app.push_screen(
            ConfirmModal(
                f"Merge {run.name}?",
                f"Loads the base model in full precision, merges the adapter into it and saves a "
                f"standalone model in {target}.",
                confirm_label="Merge it",
                cancel_label="Not now",
                danger=False,
            ),
            answered,
        )

    def export(self, run: Run) -> None:
        """Ask where to (GGUF, Ollama, vLLM) and at which quantization, then `tuitune export`."""
        # Imported here: the choices come from the export package, which the app needs only now.
        from tuitune.tui.widgets.export_modal import ExportModal, ExportRequest

        def answered(request: ExportRequest | None) -> None:
            if request is None:
                return
            args = ["export", str(run.id), "--to", request.to, "--json"]
            if request.to != "vllm":
                args[4:4] = ["--quant", request.quant]
            if request.merge:
                args.insert(-1, "--merge")
            self._long(
                f"Export {run.name}",
                args,
                run.id,
                lambda doc: _export_summary(run, read_result(ExportResult, doc, "export")),
            )

        self.app.push_screen(ExportModal(run.name, has_adapter=run.method != "full_finetuning"), answered)

    def upload(self, run: Run) -> None:
        """Ask for the repo, privacy and token, then upload with a model card."""

        def answered(request: UploadRequest | None) -> None:
            if request is None:
                return
            args = ["upload", str(run.id), request.repo_id, "--json"]
            if request.private:
                args.insert(3, "--private")
            # The token reaches the child through its environment only: never argv, never disk.
            env = {"HF_TOKEN": request.token} if request.token else None
            self._long(
                f"Upload {run.name}",
                args,
                run.id,
                lambda doc: _upload_summary(run, read_result(UploadResult, doc, "upload")),
                env=env,
            )

        self.app.push_screen(UploadModal(run.name, suggested_repo=run.name), answered)

    def export_chats(self, run: Run, count: int) -> None:
        """Ask where, then write the run's saved chats as JSONL in the messages format."""

        def answered(text: str | None) -> None:
            if text is not None:
                self._export(run.id, Path(text).expanduser())

        self.app.push_screen(
            AskModal(
                f"Export the chats of {run.name}",
                f"{count} saved chat{'s' if count != 1 else ''}, one JSON line each in the messages format "
                "(system, user, assistant): a dataset the wizard can train on.",
                "File",
                value=f"chats-{run.id}.jsonl",
                submit="Export",
            ),
            answered,
        )

    def _export(self, run_id: int, path: Path) -> None:
        def work() -> None:
            try:
                written = self.service.export_conversations(run_id, path)
            except OSError as error:
                self.app.call_from_thread(
                    self.app.notify, f"Could not write {path}: {error.strerror or error}", severity="error"
                )
                return
            chats = f"{written} chat{'s' if written != 1 else ''}"
            self.app.call_from_thread(
                self.app.notify,
                f"Wrote {chats} to {path.resolve()}: train on it with {self.app.key_of('new-run')} (dataset step).",
                title="Exported",
            )

        self.app.run_worker(work, thread=True, group="run-actions", exit_on_error=False, name="export-chats")

    def _long(
        self,
        title: str,
        args: list[str],
        run_id: int,
        summary: Callable[[object], str],
        *,
        env: dict[str, str] | None = None,
    ) -> Worker[None]:
        task_id = next(self._ids)
        self._set_task(task_id, f"{title}: starting")
        self.app.notify("Started in the background; progress shows above the footer.", title=title)

        def progress(line: str) -> None:
            self.app.call_from_thread(self._set_task, task_id, f"{title}: {line[:120]}")

        def work() -> None:
            outcome: CliOutcome = run_tuitune(*args, env=env, on_progress=progress)
            self.app.call_from_thread(self._finished_long, task_id, title, run_id, outcome, summary)

        return self.app.run_worker(work, thread=True, group="run-actions", exit_on_error=False, name=title)

    def _set_task(self, task_id: int, text: str | None) -> None:
        if text is None:
            self.tasks.pop(task_id, None)
        else:
            self.tasks[task_id] = text
        self.tasks_changed.publish(dict(self.tasks))

    def _finished_long(
        self, task_id: int, title: str, run_id: int, outcome: CliOutcome, summary: Callable[[object], str]
    ) -> None:
        self._set_task(task_id, None)
        if outcome.ok:
            try:
                said = summary(outcome.document)
            except TuituneError as unreadable:  # the work was done; its document could not be read
                self.app.notify(for_the_app(str(unreadable)), title=title, severity="warning")
            else:
                self.app.notify(said, title=title, timeout=10)
            self.run_changed.publish(run_id)
            return
        error = for_the_app(outcome.error or "it failed without saying why")
        self.app.notify(error, title=f"{title} failed", severity="error")

        # Kept in the run's story too, where its events show, long after the toast has gone.
        def record() -> None:
            self.service.add_event(run_id, f"{title} failed: {error}", level="error")
            self.app.call_from_thread(self.run_changed.publish, run_id)

        self.app.run_worker(record, thread=True, group="run-actions", exit_on_error=False, name="record-failure")


def _evaluation_summary(run: Run, result: EvaluationResult) -> str:
    tuned, base = result["finetuned"], result.get("base") or {}
    parts = []
    for metric in ("rougeL", "bleu", "perplexity"):
        if metric in tuned:
            before = f" (base {base[metric]:.3f})" if metric in base else ""
            parts.append(f"{metric} {tuned[metric]:.3f}{before}")
    return f"Evaluated {run.name}: " + (", ".join(parts) if parts else "scores saved.")


def _export_summary(run: Run, result: ExportResult) -> str:
    check = result.get("round_trip")
    checked = (
        f" Round trip: greedy agreement {check['greedy_agreement']:.0%}, max |logit diff| "
        f"{check['max_abs_logit_diff']:.1e}."
        if check
        else ""
    )
    where = Path(result["files"][-1]).parent if result["files"] else "the run's folder"
    return f"Exported {run.name} to {where}.{checked} Next: {result['commands'][0]}"


def _upload_summary(run: Run, result: UploadResult) -> str:
    return f"Uploaded {run.name}: {result.url or result.repo_id}"
