"""The text metrics a user reads after `tuitune eval`: ROUGE and BLEU, offline, and what "better" means."""

from __future__ import annotations

import math

import pytest

from tuitune.errors import EvaluationError
from tuitune.evaluation.metrics import bleu, improvements, parse_metrics, rouge, text_scores, tokenize


def test_identical_answers_score_one_and_unrelated_answers_score_near_zero() -> None:
    references = ["The cat sat on the mat.", "Paris is the capital of France."]
    perfect = text_scores(references, references, ["rouge1", "rouge2", "rougeL", "bleu"])
    assert all(math.isclose(value, 1.0) for value in perfect.values()), perfect

    unrelated = text_scores(["zebra quantum violin", "seven purple engines"], references, ["rouge1", "rougeL", "bleu"])
    assert unrelated["rouge1"] == 0.0 and unrelated["rougeL"] == 0.0
    assert 0.0 <= unrelated["bleu"] < 0.05


def test_rouge_stems_words_so_inflections_still_match() -> None:
    scores = rouge(["the cats were running"], ["the cat was running"], ["rouge1"])
    # cats/cat and running/running match after stemming; were/was do not.
    assert math.isclose(scores["rouge1"], 0.75)


def test_bleu_is_smoothed_and_needs_no_download() -> None:
    # A short answer with no 4-gram in common still gets a small positive score, not zero,
    # and no punkt model is needed to tokenize it.
    score = bleu(["the cat sat"], ["the cat sat on the mat"])
    assert 0.0 < score < 1.0
    assert tokenize("Don't panic, it's fine!") == ["don't", "panic", ",", "it's", "fine", "!"]


def test_partial_overlap_ranks_between_none_and_all() -> None:
    reference = ["a quick brown fox jumps over the lazy dog"]
    close = text_scores(["a quick brown fox jumps over a dog"], reference, ["rougeL", "bleu"])
    far = text_scores(["a slow green turtle sleeps"], reference, ["rougeL", "bleu"])
    assert 1.0 > close["rougeL"] > far["rougeL"] > 0.0
    assert close["bleu"] > far["bleu"]


def test_metric_names_are_checked_and_unknown_ones_say_what_is_allowed() -> None:
    assert parse_metrics("rougeL, bleu") == ["rougeL", "bleu"]
    assert parse_metrics("ROUGEL,rougel") == ["rougeL"]
    assert parse_metrics(None) == ["rouge1", "rouge2", "rougeL", "bleu", "perplexity"]
    with pytest.raises(EvaluationError, match="Unknown metric 'meteor'.*rouge1,rouge2,rougeL,bleu,perplexity"):
        parse_metrics("rougeL,meteor")


def test_improvement_is_positive_when_the_fine_tuned_model_is_better_for_every_metric() -> None:
    base = {"rougeL": 0.20, "bleu": 0.05, "perplexity": 40.0}
    finetuned = {"rougeL": 0.35, "bleu": 0.04, "perplexity": 12.0}
    gains = improvements(finetuned, base)
    assert math.isclose(gains["rougeL"], 0.15)
    assert math.isclose(gains["bleu"], -0.01)
    # Lower perplexity is better: base minus fine-tuned.
    assert math.isclose(gains["perplexity"], 28.0)


def test_outputs_and_references_must_pair_up() -> None:
    with pytest.raises(EvaluationError, match="pair up"):
        text_scores(["one"], ["one", "two"], ["rougeL"])
