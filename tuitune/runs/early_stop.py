"""Whether a run stopped early, and its words, for every face (`tuitune show`, the detail screen,
the API's report, resume's refusal). Light: the store's records only.

The engine (`tuitune.engine.early_stop`) keeps the stop on the run's best checkpoint artifact, as
`meta["early_stop"]`: the step, the metric and its value, the patience and threshold, the best
value, its step and checkpoint folder. The newest best checkpoint speaks for the run, so a run
resumed and trained further no longer reads as stopped early unless it stopped early again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tuitune.store import Artifact

EARLY_STOP = "early_stop"  # the key of a best checkpoint's meta that holds the stop


def early_stop(artifacts: Iterable[Artifact]) -> dict[str, Any] | None:
    """What the run's newest best checkpoint says of an early stop (None: it did not stop early)."""
    best = [a for a in artifacts if a.kind == "checkpoint" and a.meta.get("best")]
    if not best:
        return None
    newest = max(best, key=lambda artifact: (artifact.created_at, artifact.id))
    kept = newest.meta.get(EARLY_STOP)
    return kept if isinstance(kept, dict) and isinstance(kept.get("step"), int) else None


def stop_line(kept: dict[str, Any]) -> str:
    """`stopped early at step 40 (best: checkpoint-20)`."""
    best = kept.get("best_checkpoint")
    return f"stopped early at step {kept['step']}" + (f" (best: {best})" if best else "")
