"""What every face reports about a run, built once: `tuitune show --json` and `GET /runs/{id}`
print the same document. Light: reads the store only."""

from __future__ import annotations

from typing import Any

from tuitune.store import Run, Store


def loss_summary(run: Run, store: Store) -> dict[str, Any]:
    """First, last and lowest training loss, last and best eval loss (the run row keeps the last and
    best as its points arrive; the store counts the rest)."""
    first, lowest, points = store.loss_extremes(run.id)
    return {
        "first_loss": first,
        "last_loss": run.last_loss,
        "min_loss": lowest,
        "last_eval_loss": run.last_eval_loss,
        "best_eval_loss": run.best_eval_loss,
        "points": points,
        "tokens_per_second": run.tokens_per_second,
    }


def run_report(run: Run, store: Store) -> dict[str, Any]:
    """The run, its loss summary, artifacts and evaluations, as one JSON-ready document."""
    # `gone`: its file or folder is no longer on disk (a checkpoint past save_total_limit, say).
    artifacts = [{"kind": a.kind, "path": a.path, "meta": a.meta, "gone": a.gone} for a in store.artifacts(run.id)]
    evaluations = [
        {"label": e.label, "metrics": e.metrics, "samples": e.sample_count, "created_at": e.created_at.isoformat()}
        for e in store.evaluations(run.id)
    ]
    return {**run.to_dict(), "metrics": loss_summary(run, store), "artifacts": artifacts, "evaluations": evaluations}
