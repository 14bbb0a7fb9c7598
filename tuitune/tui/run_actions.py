"""What a user does to a run, in one table: every screen, the palette and the help read it.

harlequin's `actions.py` is the model. Each action has an id (the id of its binding on every
screen, and its name in the keymap file: see `keymap`), a label, a default key, a tooltip, and
when it applies. A screen that acts on runs subclasses `RunActionScreen`, lists the ids it offers
in its BINDINGS (`bindings(...)`), and says what they act on (`run_action_target`); pressing a key
dispatches through `RunActionScreen.action_act`, which refuses with words what does not apply.
The flows themselves (dialog, background worker, notification) are `actions.RunActions`.

What does not apply is hidden on a screen about one run (its footer changes only when the run's
status does, and fits 80 columns), and offered but refused with words in the history, whose
cursor moves over many runs (a footer that jumped on every row would be unreadable). What a run
can never take (merge for a fully fine-tuned run: there is no adapter) is hidden everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding
from textual.screen import Screen

from tuitune.store import COMPLETED, FAILED, Run
from tuitune.tui.failures import ReportsWorkerErrors
from tuitune.tui.offers import can_resume

# The Textual action every run-action binding names, with the action's id: `act('resume')`.
ACT = "act"

# An action id (or any binding id) -> the key that does it now: the keymap's, else the default.
KeyOf = Callable[[str], str]


@dataclass(frozen=True)
class Target:
    """What a screen's run actions act on: the run shown (or under the cursor), and what else is picked."""

    run: Run | None
    marked: tuple[Run, ...] = ()  # the history's marked runs, in the order they were marked
    chats: int = 0  # saved chats of the run (the detail reads them)
    sweep: int | None = None  # the sweep the history's filter shows (`sweep:3`)


def _always(target: Target) -> bool:
    return True


@dataclass(frozen=True)
class RunAction:
    """One thing a user can do to a run."""

    id: str  # binding id on every screen, and the name in the keymap file
    label: str  # the footer's and the palette's word
    key: str  # the default key
    tooltip: str
    when: str  # when it applies, in words (the help)
    # None: it applies to the target now; else why not, in words that say what to do instead.
    refusal: Callable[[Target, KeyOf], str | None]
    perform: Callable[[RunActionScreen, Target], None]
    # False: the run can never take it (merge without an adapter), so it is not even offered.
    possible: Callable[[Target], bool] = _always
    show: bool = True  # in the footer (the help and the palette list it either way)
    on_marked: bool = False  # acts on the marked runs rather than the one run (the palette names that run)

    def binding(self) -> Binding:
        return Binding(self.key, f"{ACT}('{self.id}')", self.label, show=self.show, tooltip=self.tooltip, id=self.id)


# --- when each action applies ---------------------------------------------------------------
NO_RUN = "No run selected."


def _cancel_refusal(target: Target, key: KeyOf) -> str | None:
    run = target.run
    if run is None:
        return NO_RUN
    return None if run.is_active else f"Run {run.id} is {run.status}: nothing to cancel."


def _resume_refusal(target: Target, key: KeyOf) -> str | None:
    run = target.run
    if run is None:
        return NO_RUN
    if run.is_active:
        return f"Run {run.id} is still {run.status}."
    if can_resume(run):
        return None
    if run.status == FAILED:
        why = (
            "it failed before its first step, so it would fail the same way: "
            f"start a new run ({key('new-run')}) with the problem fixed."
        )
    else:
        why = f"it is {run.status}."
    return f"Run {run.id} cannot be resumed: {why}"


def _completed(verb: str) -> Callable[[Target, KeyOf], str | None]:
    """Evaluate, upload: a completed run has saved its adapter or model."""

    def refusal(target: Target, key: KeyOf) -> str | None:
        run = target.run
        if run is None:
            return NO_RUN
        return None if run.status == COMPLETED else f"Run {run.id} is {run.status}: {verb} a completed run."

    return refusal


def _has_adapter(target: Target) -> bool:
    return target.run is None or target.run.method != "full_finetuning"


def _merge_refusal(target: Target, key: KeyOf) -> str | None:
    run = target.run
    if run is not None and run.method == "full_finetuning":
        return f"Run {run.id} trained the full model: there is no adapter to merge."
    return _completed("merge")(target, key)


def _delete_refusal(target: Target, key: KeyOf) -> str | None:
    run = target.run
    if run is None:
        return NO_RUN
    if run.is_active:
        return f"Run {run.id} is {run.status}: cancel it ({key('cancel')}) before deleting it."
    return None


def _chat_runs(target: Target) -> tuple[Run, ...]:
    """Two marked runs side by side, else the run under the cursor beside its base."""
    if len(target.marked) == 2:
        return target.marked
    return (target.run,) if target.run is not None else ()


def _chat_refusal(target: Target, key: KeyOf) -> str | None:
    if len(target.marked) > 2:
        return (
            "Chat side by side with two runs: mark exactly two (space), or none to chat with the run under the cursor."
        )
    runs = _chat_runs(target)
    if not runs:
        return NO_RUN
    for run in runs:
        if run.status != COMPLETED:
            return f"Run {run.id} ({run.name}) is {run.status}: chat with a completed run, which has saved its model."
    return None


def _compare_refusal(target: Target, key: KeyOf) -> str | None:
    if not target.marked and target.sweep is not None:
        return None  # the whole sweep
    if len(target.marked) < 2:
        return (
            f"Mark two or more runs with space, then press {key('compare')} to compare them "
            "(or filter sweep:N to compare a sweep)."
        )
    return None


def _export_refusal(target: Target, key: KeyOf) -> str | None:
    run = target.run
    if run is None:
        return NO_RUN
    if not target.chats:
        return f"Run {run.id} has no saved chats yet: chat with it first ({key('chat')})."
    return None


def _details_refusal(target: Target, key: KeyOf) -> str | None:
    return NO_RUN if target.run is None else None


# --- what each action does ------------------------------------------------------------------
def _the_run(target: Target) -> Run:
    assert target.run is not None  # its refusal said so otherwise
    return target.run


def _cancel(screen: RunActionScreen, target: Target) -> None:
    screen.tuitune.run_actions.cancel(_the_run(target))


def _resume(screen: RunActionScreen, target: Target) -> None:
    screen.tuitune.run_actions.resume(_the_run(target), then=screen.after_resume)


def _evaluate(screen: RunActionScreen, target: Target) -> None:
    screen.tuitune.run_actions.evaluate(_the_run(target))


def _merge(screen: RunActionScreen, target: Target) -> None:
    screen.tuitune.run_actions.merge(_the_run(target))


def _export_for_serving(screen: RunActionScreen, target: Target) -> None:
    screen.tuitune.run_actions.export(_the_run(target))


def _upload(screen: RunActionScreen, target: Target) -> None:
    screen.tuitune.run_actions.upload(_the_run(target))


def _label(screen: RunActionScreen, target: Target) -> None:
    screen.tuitune.run_actions.label(_the_run(target))


def _rerun_refusal(target: Target, key: KeyOf) -> str | None:
    run = target.run
    if run is None:
        return NO_RUN
    return None if run.config else f"Run {run.id} has no stored configuration to rerun."


def _rerun(screen: RunActionScreen, target: Target) -> None:
    screen.tuitune.run_actions.rerun(_the_run(target))


def _delete(screen: RunActionScreen, target: Target) -> None:
    screen.tuitune.run_actions.delete(_the_run(target), then=screen.after_delete)


def _chat(screen: RunActionScreen, target: Target) -> None:
    screen.tuitune.open_chat([run.id for run in _chat_runs(target)])


def _compare(screen: RunActionScreen, target: Target) -> None:
    if not target.marked and target.sweep is not None:
        screen.tuitune.compare_sweep(target.sweep)
        return
    # Imported here: a screen loads when it is first opened, not with the app.
    from tuitune.tui.screens.compare import CompareScreen

    screen.tuitune.push_screen(CompareScreen([run.id for run in target.marked]))


def _export_chats(screen: RunActionScreen, target: Target) -> None:
    screen.tuitune.run_actions.export_chats(_the_run(target), target.chats)


def _details(screen: RunActionScreen, target: Target) -> None:
    screen.tuitune.open_run(_the_run(target).id)


# --- the table --------------------------------------------------------------------------------
RUN_ACTIONS: tuple[RunAction, ...] = (
    RunAction(
        "cancel",
        "Cancel run",
        "c",
        "Stop the run after this step, saving a checkpoint (asks first); resume it later.",
        "a running or queued run",
        _cancel_refusal,
        _cancel,
    ),
    RunAction(
        "resume",
        "Resume",
        "r",
        "Resume a stopped run from its last checkpoint (step 0 if it has none), optionally with a new "
        "total of epochs or steps, or train a completed one further.",
        "a cancelled, crashed or failed run that trained, or a completed one",
        _resume_refusal,
        _resume,
    ),
    RunAction(
        "evaluate",
        "Eval",
        "e",
        "Evaluate the run against its base model (ROUGE, BLEU, perplexity).",
        "a completed run",
        _completed("evaluate"),
        _evaluate,
    ),
    RunAction(
        "merge",
        "Merge",
        "m",
        "Merge the run's adapter into its base model (a standalone model in the run's folder).",
        "a completed run with an adapter (not a full fine-tune)",
        _merge_refusal,
        _merge,
        possible=_has_adapter,
    ),
    RunAction(
        "export",
        "Export",
        "g",
        "Export the run for serving: a GGUF checked against the model (llama.cpp, Ollama with a Modelfile), "
        "or a vLLM serve script.",
        "a completed run",
        _completed("export"),
        _export_for_serving,
    ),
    RunAction(
        "upload",
        "Upload",
        "u",
        "Upload the run to the Hugging Face Hub, with a model card.",
        "a completed run",
        _completed("upload"),
        _upload,
    ),
    RunAction(
        "delete",
        "Delete",
        "d",
        "Delete the run (and optionally its files); asks first.",
        "a run that is not running or queued",
        _delete_refusal,
        _delete,
    ),
    RunAction(
        "chat",
        "Chat",
        "a",
        "Chat with the run's model beside its base; the chat is kept with the run. "
        "In the history, with two runs marked: both side by side.",
        "a completed run",
        _chat_refusal,
        _chat,
    ),
    RunAction(
        "compare",
        "Compare",
        "v",
        "Compare the marked runs (mark with space); with a sweep:N filter and nothing marked, the whole sweep.",
        "two or more marked runs, or a sweep:N filter",
        _compare_refusal,
        _compare,
        on_marked=True,
    ),
    RunAction(
        "export-chats",
        "Export chats",
        "x",
        "Write the run's saved chats to a file you name, as JSONL training data (messages format).",
        "a run with saved chats",
        _export_refusal,
        _export_chats,
    ),
    RunAction(
        "rerun",
        "Rerun",
        "R",
        "Queue a new run with this run's configuration; says what has changed since (data, versions, git).",
        "any run with a stored configuration",
        _rerun_refusal,
        _rerun,
        show=False,
    ),
    RunAction(
        "label",
        "Note/tags",
        "l",
        "Write a note on the run and give it tags (the history filter finds them: tag:NAME).",
        "any run",
        _details_refusal,
        _label,
        show=False,
    ),
    RunAction(
        "details",
        "Details",
        "o",
        "The run's detail: config, charts, evaluations, artifacts.",
        "any run",
        _details_refusal,
        _details,
    ),
)
ACTIONS: dict[str, RunAction] = {action.id: action for action in RUN_ACTIONS}


def bindings(*ids: str) -> list[Binding]:
    """The bindings of the table's actions `ids`, in that order (a screen's footer order)."""
    return [ACTIONS[action_id].binding() for action_id in ids]


def action_of(binding: Binding) -> RunAction | None:
    """The table's action a binding does, if it does one."""
    return ACTIONS.get(binding.id or "") if binding.action.startswith(f"{ACT}(") else None


def applies(action_id: str, run: Run | None) -> bool:
    """Whether the table's action applies to `run` alone (for a screen's own words about keys)."""
    action, target = ACTIONS[action_id], Target(run)
    return action.possible(target) and action.refusal(target, lambda binding_id: binding_id) is None


class RunActionScreen(ReportsWorkerErrors, Screen[None]):
    """A screen that acts on runs: its bindings come from the table, and so does what they do."""

    # What does not apply: hidden (True: a screen about one run), or offered and refused with words.
    HIDES_WHAT_DOES_NOT_APPLY: ClassVar[bool] = True

    def run_action_target(self) -> Target:
        """What the run actions act on now."""
        raise NotImplementedError

    def run_action_state(self, action: RunAction) -> bool:
        """Whether `action` is offered now (the footer and the palette show it)."""
        target = self.run_action_target()
        if not action.possible(target):
            return False
        if self.HIDES_WHAT_DOES_NOT_APPLY:
            return action.refusal(target, self.tuitune.key_of) is None
        return True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == ACT and parameters and str(parameters[0]) in ACTIONS:
            return self.run_action_state(ACTIONS[str(parameters[0])])
        return super().check_action(action, parameters)

    def action_act(self, action_id: str) -> None:
        """Every run action of every screen passes here: refused with words, or done."""
        action = ACTIONS[action_id]
        target = self.run_action_target()
        refusal = action.refusal(target, self.tuitune.key_of)
        if refusal is not None:
            self.tuitune.notify(refusal, severity="warning")
            return
        action.perform(self, target)

    # --- what a screen does once an action is done ---------------------------------------------
    def after_resume(self, run: Run) -> None:
        """A resumed run is followed live (the training screen follows it already)."""
        self.tuitune.show_training(run.id)

    def after_delete(self, run: Run) -> None:
        """A deleted run: nothing more (the detail of that run closes)."""
