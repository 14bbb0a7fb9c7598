"""What an evaluation produced, and how long work reports its progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from tuitune.runs.results import EvaluationResult

# progress(stage, done, total): called as work advances, e.g. ("generating (fine-tuned)", 8, 50).
ProgressCallback = Callable[[str, int, int], None]

# How many generated samples are kept on the run for display.
KEPT_SAMPLES = 5


@dataclass
class EvaluationReport:
    """Scores of a run's fine-tuned model, and of its base model when compared.

    `improvements` has one entry per metric scored on both, and positive always means the
    fine-tuned model is better: fine-tuned minus base for ROUGE and BLEU, base minus fine-tuned
    for perplexity (lower is better).
    """

    run_id: int
    finetuned: dict[str, float]
    base: Optional[dict[str, float]] = None
    improvements: Optional[dict[str, float]] = None
    sample_count: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    evaluation_ids: dict[str, int] = field(default_factory=dict)  # label -> stored evaluation id

    def to_dict(self) -> EvaluationResult:
        document = EvaluationResult(
            run_id=self.run_id,
            finetuned=self.finetuned,
            sample_count=self.sample_count,
            settings=self.settings,
            samples=self.samples,
            notes=self.notes,
            evaluation_ids=self.evaluation_ids,
        )
        if self.base is not None:
            document["base"] = self.base
            document["improvements"] = self.improvements or {}
        return document


def report_progress(progress: ProgressCallback | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)
