"""Text metrics: ROUGE-1/2/L (rouge-score, stemmed) and BLEU (nltk, smoothed), all in [0, 1].

No downloads: BLEU is tokenized with a regex instead of nltk's `punkt`, so it works offline.
Perplexity needs a model and lives in `tuitune.evaluation.perplexity`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from tuitune.errors import EvaluationError

# nltk and rouge_score take about half a second each to import: they load when a score is computed,
# not when metric names are parsed or compared (the CLI's options, the model card).

ROUGE_METRICS: tuple[str, ...] = ("rouge1", "rouge2", "rougeL")
TEXT_METRICS: tuple[str, ...] = (*ROUGE_METRICS, "bleu")
METRICS: tuple[str, ...] = (*TEXT_METRICS, "perplexity")
DEFAULT_METRICS: tuple[str, ...] = METRICS

# Perplexity is the only metric where a lower value is better.
HIGHER_IS_BETTER: dict[str, bool] = {**{name: True for name in TEXT_METRICS}, "perplexity": False}

# Words (letters/digits, with inner apostrophes) or single punctuation marks: close to what
# nltk's word_tokenize yields for English, without the punkt model it would need to download.
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]", re.UNICODE)


def parse_metrics(metrics: str | Iterable[str] | None) -> list[str]:
    """Metric names from a comma-separated string or a list; None means every metric."""
    if metrics is None:
        return list(DEFAULT_METRICS)
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    chosen: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        match = next((known for known in METRICS if known.lower() == name.lower()), None)
        if match is None:
            raise EvaluationError(f"Unknown metric {name!r}: use any of {','.join(METRICS)}.")
        if match not in chosen:
            chosen.append(match)
    if not chosen:
        raise EvaluationError(f"No metric given: use any of {','.join(METRICS)}.")
    return chosen


def tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens for BLEU."""
    return _TOKEN.findall(text.lower())


def bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-4 with smoothing (method 1), so short outputs without 4-gram matches score above 0."""
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

    _check_lengths(predictions, references)
    if not predictions:
        return 0.0
    hypotheses = [tokenize(text) for text in predictions]
    refs = [[tokenize(text)] for text in references]
    if not any(hypotheses):
        return 0.0
    return float(corpus_bleu(refs, hypotheses, smoothing_function=SmoothingFunction().method1))


def rouge(
    predictions: Sequence[str], references: Sequence[str], names: Sequence[str] = ROUGE_METRICS
) -> dict[str, float]:
    """Mean ROUGE F-measures over the pairs, with Porter stemming."""
    from rouge_score import rouge_scorer

    _check_lengths(predictions, references)
    names = [name for name in names if name in ROUGE_METRICS]
    if not names:
        return {}
    if not predictions:
        return {name: 0.0 for name in names}
    scorer = rouge_scorer.RougeScorer(list(names), use_stemmer=True)
    totals = {name: 0.0 for name in names}
    for prediction, reference in zip(predictions, references):
        scores = scorer.score(reference, prediction)  # (target, prediction)
        for name in names:
            totals[name] += scores[name].fmeasure
    return {name: total / len(predictions) for name, total in totals.items()}


def text_scores(predictions: Sequence[str], references: Sequence[str], metrics: Iterable[str]) -> dict[str, float]:
    """The chosen text metrics (ROUGE and BLEU; perplexity is skipped) for generated outputs."""
    chosen = [name for name in metrics if name in TEXT_METRICS]
    scores = rouge(predictions, references, [name for name in chosen if name in ROUGE_METRICS])
    if "bleu" in chosen:
        scores["bleu"] = bleu(predictions, references)
    return {name: scores[name] for name in chosen}


def improvements(finetuned: dict[str, float], base: dict[str, float]) -> dict[str, float]:
    """Per metric, how much better the fine-tuned model is: positive always means better.

    That is fine-tuned minus base for ROUGE and BLEU, and base minus fine-tuned for perplexity
    (where lower is better).
    """
    result: dict[str, float] = {}
    for name, value in finetuned.items():
        if name not in base or value is None or base[name] is None:
            continue
        delta = value - base[name]
        result[name] = delta if HIGHER_IS_BETTER.get(name, True) else -delta
    return result


def _check_lengths(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise EvaluationError(
            f"{len(predictions)} outputs but {len(references)} references: they must pair up one to one."
        )
