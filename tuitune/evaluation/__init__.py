"""Evaluation of a run: ROUGE-1/2/L, BLEU and perplexity on held-out examples, against the base model;
a preference run's reward accuracy and margin on its held-out pairs, a grpo run's mean reward.

    from tuitune.evaluation import evaluate_run
    report = evaluate_run(store.find_run("last"), compare_base=True)
    report.finetuned["rougeL"], report.improvements["rougeL"]

Importing this package is light; torch, transformers and peft load when an evaluation runs.
"""

from tuitune.evaluation.benchmark import evaluate_run
from tuitune.evaluation.metrics import DEFAULT_METRICS, HIGHER_IS_BETTER, METRICS, improvements, parse_metrics
from tuitune.evaluation.report import EvaluationReport, ProgressCallback

__all__ = [
    "DEFAULT_METRICS",
    "HIGHER_IS_BETTER",
    "METRICS",
    "EvaluationReport",
    "ProgressCallback",
    "evaluate_run",
    "improvements",
    "parse_metrics",
]
