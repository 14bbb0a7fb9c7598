"""Where a run would resume, in words, and whether it can (the run actions' table, `run_actions`,
asks `can_resume`).

Resume is not offered for a run that failed before its first step: it would fail the same way,
and the problem needs fixing in a new run.
"""

from __future__ import annotations

from tuitune.store import COMPLETED, FAILED, Run


def can_resume(run: Run) -> bool:
    """A completed run trains further; a stopped one continues, unless it failed before step 1."""
    if run.status == COMPLETED:
        return True
    if not run.is_resumable:
        return False
    return not (run.status == FAILED and run.steps_done == 0 and not run.checkpoint)


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
