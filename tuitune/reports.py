"""What every face reports about a run, built once: `tuitune show --json` and `GET /runs/{id}`
print the same document. Light: reads the store only."""

from __future__ import annotations

from typing import Any

from tuitune.store import Run, Store


def loss_summary(run: Run, store: Store) -> dict[str, Any]:
    """First, last and lowest training loss, last and best eval loss, from the run's metric points."""
    points = store.metric_points(run.id)
    losses = [p.loss for p in points if p.loss is not None]
    evals = [p.eval_loss for p in points if p.eval_loss is not None]
    return {
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "min_loss": min(losses) if losses else None,
        "last_eval_loss": evals[-1] if evals else None,
        "best_eval_loss": min(evals) if evals else None,
        "points": len(points),
        "tokens_per_second": run.tokens_per_second,
    }


def run_report(run: Run, store: Store) -> dict[str, Any]:
    """The run, its loss summary, artifacts and evaluations, as one JSON-ready document."""
    artifacts = [{"kind": a.kind, "path": a.path, "meta": a.meta} for a in store.artifacts(run.id)]
    evaluations = [
        {"label": e.label, "metrics": e.metrics, "samples": e.sample_count, "created_at": e.created_at.isoformat()}
        for e in store.evaluations(run.id)
    ]
    return {**run.to_dict(), "metrics": loss_summary(run, store), "artifacts": artifacts, "evaluations": evaluations}
