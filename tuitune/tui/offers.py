"""Which actions a run offers, decided once for every screen (footer, summary, palette, history).

A key that cannot do anything useful for the run is not offered: merge on a fully fine-tuned
run (there is no adapter), resume on a run that failed before its first step (it would fail the
same way: the problem needs fixing in a new run).
"""

from __future__ import annotations

from tuitune.store import COMPLETED, FAILED, Run

# The actions that depend on a run's status, by the name the screens' bindings use.
RUN_ACTIONS = ("cancel_run", "resume", "evaluate", "merge", "upload", "delete", "chat")


def can_resume(run: Run) -> bool:
    """A completed run trains further; a stopped one continues, unless it failed before step 1."""
    if run.status == COMPLETED:
        return True
    if not run.is_resumable:
        return False
    return not (run.status == FAILED and run.steps_done == 0 and not run.checkpoint)


def offers(action: str, run: Run | None) -> bool:
    """Whether `action` applies to `run` (None: nothing is shown, so no run action applies)."""
    if action not in RUN_ACTIONS:
        return True
    if run is None:
        return False
    if action == "cancel_run":
        return run.is_active
    if action == "resume":
        return can_resume(run)
    if action == "merge":
        return run.status == COMPLETED and run.method != "full_finetuning"
    if action in ("evaluate", "upload", "chat"):
        return run.status == COMPLETED  # a completed run has saved its adapter or model
    return not run.is_active  # delete


def resume_from(step: int | None) -> str:
    """Where a resume starts, in words: `step` is the last checkpoint's (None: there is none)."""
    if step:
        return f"from its checkpoint at step {step:,}"
    return "from step 0 (no checkpoint yet)"


def resume_hint(run: Run, step: int | None) -> str:
    """What `r` will do for a stopped run, for its summary and the resume dialog."""
    if run.status == COMPLETED:
        return "It completed: give a larger total to train it further from its last checkpoint."
    if step:
        return f"It continues from its checkpoint at step {step:,} (it stopped at step {run.steps_done:,})."
    return f"No checkpoint yet: resume starts from step 0 (it stopped at step {run.steps_done:,})."
