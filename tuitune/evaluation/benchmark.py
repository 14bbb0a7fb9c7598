"""Score a run: greedy generations on held-out prompts (ROUGE, BLEU) and perplexity on their
responses, for the fine-tuned model and optionally its base, stored as evaluations on the run.

A preference run (dpo, kto, orpo, simpo) is also scored on its held-out pairs: does the model's
implicit reward prefer the chosen answer (`reward_accuracy`, `reward_margin`, evaluation.preference);
a GRPO run by its reward functions on greedy completions (`reward`, `rewards/<name>`,
evaluation.grpo). Its generation metrics compare with the chosen answers (grpo: the answer column).

The base is loaded the way the run trained it (a QLoRA run's base in 4-bit), so the adapter is
scored on the weights it learned against; with an adapter, the base model's scores come from the
same loaded model with the adapter switched off, so it is loaded once. A dpo or kto run's rewards
are measured against the base, so its base is read even without `compare_base`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tuitune.config import PREFERENCE_OBJECTIVES
from tuitune.data.collate import pad_token_id
from tuitune.errors import EvaluationError
from tuitune.evaluation import grpo as grpo_scoring
from tuitune.evaluation import preference
from tuitune.evaluation.generation import generate
from tuitune.evaluation.heldout import HeldOut, held_out, tokenized
from tuitune.evaluation.logprobs import LogProb, answer_logprobs
from tuitune.evaluation.metrics import TEXT_METRICS, improvements, parse_metrics, text_scores
from tuitune.evaluation.perplexity import perplexity
from tuitune.evaluation.report import KEPT_SAMPLES, EvaluationReport, ProgressCallback, report_progress
from tuitune.export.weights import run_weights
from tuitune.models.loading import describe_precision
from tuitune.models.trained import load_base, load_trained, stop_token_ids
from tuitune.runs.files import run_config
from tuitune.store import BASE, FINETUNED, Run, Store, open_store

DEFAULT_BATCH_SIZE = 8


def evaluate_run(
    run: Run,
    *,
    metrics: str | Iterable[str] | None = None,
    samples: int | None = None,
    dataset: str | None = None,
    compare_base: bool = False,
    max_new_tokens: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    store: Store | None = None,
    progress: ProgressCallback | None = None,
) -> EvaluationReport:
    """Evaluate a finished run and record the result on it.

    Defaults come from the run's `evaluation:` settings: the metrics, how many held-out examples
    (`samples`) and `max_new_tokens` (for a grpo run, `grpo.max_completion_length`: the length its
    rewards were earned at). `dataset` scores a dataset (path or Hub id) instead of the run's
    validation split. `compare_base` also scores the base model on the same examples and fills
    `base` and `improvements`. A preference or grpo run's reward scores come first, whatever
    `metrics` says. `progress(stage, done, total)` is called as work advances.
    """
    store = store or open_store()
    weights = run_weights(run, action="evaluate")
    config = run_config(run)
    objective = config.objective
    chosen = parse_metrics(metrics if metrics is not None else config.evaluation.metrics)
    samples = samples if samples is not None else config.evaluation.samples
    if max_new_tokens is None:
        max_new_tokens = config.grpo.max_completion_length if objective == "grpo" else config.evaluation.max_new_tokens
    if samples < 1 or max_new_tokens < 1 or batch_size < 1:
        raise EvaluationError("--samples, --max-new-tokens and the batch size must be at least 1.")
    rewards = grpo_scoring.reward_set(config) if objective == "grpo" else None  # a broken file fails now

    report_progress(progress, "loading model", 0, 1)
    model, tokenizer = load_trained(config, weights)
    report_progress(progress, "loading model", 1, 1)

    heldout = held_out(config, tokenizer, samples=samples, dataset=dataset)
    notes: list[str] = []
    pairs = None
    if objective in PREFERENCE_OBJECTIVES:
        pairs = preference.pair_set(config, heldout.records, heldout.template, tokenizer)
        if pairs.dropped:
            notes.append(
                f"{pairs.dropped} held-out pairs leave no room for an answer within data.max_length: not scored."
            )
        if not pairs.rows:
            notes.append(
                f"{heldout.source} has no preference pairs or labelled answers: reward accuracy is not scored."
            )
            pairs = None
    if rewards is not None:
        rewards.columns = grpo_scoring.columns(heldout.records)
    scores_rewards = pairs is not None or rewards is not None
    chosen = _generated_metrics(chosen, heldout, notes, scores_rewards)
    settings: dict[str, Any] = {
        "metrics": chosen,
        "samples": samples,
        "max_new_tokens": max_new_tokens,
        "source": heldout.source,
        "dataset": dataset,
        "template": heldout.template.name,
        "precision": _precision(config),
    }
    if objective != "sft":
        settings["objective"] = objective
    if pairs is not None:
        settings.update(pairs=len(pairs), beta=config.preference.beta, reward_meaning=preference.MEANING[objective])
    if rewards is not None:
        settings.update(rewards=[r.use.name for r in rewards.functions], reward_meaning=grpo_scoring.MEANING)
        if rewards.weights is not None:
            settings["reward_weights"] = list(rewards.weights)

    sequences = None
    if "perplexity" in chosen:
        sequences = tokenized(heldout, tokenizer, max_length=config.data.max_length)
    plan = _Plan(
        tokenizer=tokenizer,
        heldout=heldout,
        sequences=sequences,
        metrics=chosen,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        max_prompt_length=config.data.max_length,
        eos_token_ids=stop_token_ids(model, tokenizer, heldout.template.name),
        pad_id=pad_token_id(tokenizer),
        progress=progress,
        pairs=pairs,
        rewards=rewards,
    )
    tuned = _score(model, "fine-tuned", plan)

    base: _Scored | None = None
    needs_reference = pairs is not None and objective in preference.NEEDS_REFERENCE
    if compare_base or needs_reference:
        # Without compare_base the base is read for the reference's log-probabilities only.
        only_logprobs = not compare_base
        if weights.is_adapter:
            with model.disable_adapter():
                base = _score(model, "base", plan, only_logprobs=only_logprobs)
        else:
            del model
            gc.collect()
            base = _score(load_base(config), "base", plan, only_logprobs=only_logprobs)

    finetuned = dict(tuned.metrics)
    base_metrics = dict(base.metrics) if base is not None and compare_base else None
    if pairs is not None:
        finetuned, base_metrics = _with_pair_scores(config, pairs, tuned, base, finetuned, base_metrics)
    kept = _kept_samples(heldout, tuned, base)

    count = heldout.count
    report = EvaluationReport(
        run_id=run.id,
        finetuned=finetuned,
        base=base_metrics,
        improvements=improvements(finetuned, base_metrics) if base_metrics is not None else None,
        sample_count=count,
        settings=settings,
        samples=kept if tuned.outputs else [],
        notes=notes,
    )
    if base_metrics is not None:
        stored = store.add_evaluation(
            run.id, label=BASE, metrics=base_metrics, sample_count=count, settings=settings, samples=report.samples
        )
        report.evaluation_ids[BASE] = stored.id
    stored = store.add_evaluation(
        run.id, label=FINETUNED, metrics=finetuned, sample_count=count, settings=settings, samples=report.samples
    )
    report.evaluation_ids[FINETUNED] = stored.id
    summary = ", ".join(f"{name} {value:.4f}" for name, value in finetuned.items() if value is not None)
    store.add_event(run.id, f"evaluated on {count} examples from {heldout.source}: {summary}")
    return report


def _with_pair_scores(
    config: Any,
    pairs: preference.PairSet,
    tuned: _Scored,
    base: _Scored | None,
    finetuned: dict[str, float],
    base_metrics: dict[str, float] | None,
) -> tuple[dict[str, float], dict[str, float] | None]:
    """The fine-tuned (and compared base) metrics with reward accuracy and margin first."""
    objective, beta = config.objective, config.preference.beta
    reference = base.logprobs if base is not None else None
    tuned_rewards = preference.rewards(objective, beta, tuned.logprobs, reference)
    finetuned = {**preference.preference_scores(pairs, tuned_rewards), **finetuned}
    if base_metrics is not None and base is not None:
        # dpo and kto measure the base against itself, the run's reference: 0 for every answer.
        own = preference.rewards(objective, beta, base.logprobs, base.logprobs)
        base_metrics = {**preference.preference_scores(pairs, own), **base_metrics}
    return finetuned, base_metrics


def _kept_samples(heldout: HeldOut, tuned: _Scored, base: _Scored | None) -> list[dict[str, Any]]:
    """The first few prompts with their reference and each model's answer (and reward), for display."""
    kept = []
    for i in range(min(KEPT_SAMPLES, len(heldout.prompts))):
        sample: dict[str, Any] = {"prompt": heldout.prompts[i]}
        if heldout.references[i]:
            sample["reference"] = heldout.references[i]
        if i < len(heldout.messages):
            sample["messages"] = heldout.messages[i]  # the prompt as the user wrote it, without the template
        if tuned.outputs:
            sample["finetuned"] = tuned.outputs[i]
        if base is not None and base.outputs:
            sample["base"] = base.outputs[i]
        if tuned.rewards:
            sample["finetuned_reward"] = tuned.rewards[i]
        if base is not None and base.rewards:
            sample["base_reward"] = base.rewards[i]
        kept.append(sample)
    return kept


def _generated_metrics(chosen: list[str], heldout: HeldOut, notes: list[str], scores_rewards: bool) -> list[str]:
    """The metrics the held-out rows allow: ROUGE and BLEU need reference answers, perplexity
    answers to read; a run with reward scores may be left with none of them."""
    if not any(heldout.references) and any(name in TEXT_METRICS for name in chosen):
        notes.append(
            f"{heldout.source} has no reference answers ({heldout.format}): ROUGE and BLEU need prompts and "
            "reference answers, so they are not scored."
            if scores_rewards
            else f"{heldout.source} is raw text ({heldout.format}): ROUGE and BLEU need prompts and reference "
            "answers, so only perplexity is scored."
        )
        chosen = [name for name in chosen if name not in TEXT_METRICS]
    if not heldout.examples and "perplexity" in chosen and scores_rewards:
        notes.append(f"{heldout.source} has no answers to read: perplexity is not scored.")
        chosen = [name for name in chosen if name != "perplexity"]
    if not chosen and not scores_rewards:
        raise EvaluationError(
            f"{heldout.source} has no prompt/response pairs to generate for: add perplexity to --metrics, "
            "or evaluate on instruction or chat data with --dataset PATH."
        )
    return chosen


@dataclass
class _Plan:
    """What both models are scored on, the same way."""

    tokenizer: Any
    heldout: HeldOut
    sequences: list[Any] | None
    metrics: list[str]
    max_new_tokens: int
    batch_size: int
    max_prompt_length: int
    eos_token_ids: list[int]
    pad_id: int
    progress: ProgressCallback | None
    pairs: preference.PairSet | None = None
    rewards: grpo_scoring.RewardSet | None = None


@dataclass
class _Scored:
    """One model's scores (in the order of the metrics), its answers, the held-out answers'
    log-probabilities (a preference run) and each completion's total reward (a grpo run)."""

    metrics: dict[str, float] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    logprobs: list[LogProb] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)


def _score(model: Any, label: str, plan: _Plan, *, only_logprobs: bool = False) -> _Scored:
    """Score one model; `only_logprobs`: read the held-out answers' log-probabilities only (the
    reference of a dpo or kto run compared with no base)."""
    result = _Scored()
    heldout, progress = plan.heldout, plan.progress
    if plan.pairs is not None:
        result.logprobs = answer_logprobs(
            model,
            plan.pairs.sequences,
            pad_token_id=plan.pad_id,
            batch_size=plan.batch_size,
            stage=f"log-probabilities ({label})",
            progress=progress,
        )
    if only_logprobs:
        return result
    scores: dict[str, Any] = {}
    texts = any(name in TEXT_METRICS for name in plan.metrics)
    if (texts or plan.rewards is not None) and heldout.prompts:
        completions = generate(
            model,
            plan.tokenizer,
            heldout.prompts,
            max_new_tokens=plan.max_new_tokens,
            batch_size=plan.batch_size,
            max_prompt_length=plan.max_prompt_length,
            add_special_tokens=heldout.template.add_special_tokens,
            eos_token_ids=plan.eos_token_ids,
            stage=f"generating ({label})",
            progress=progress,
            strip=False,  # a reward function reads the completion as TRL decodes it
        )
        result.outputs = [completion.strip() for completion in completions]
        if plan.rewards is not None:
            rewarded = grpo_scoring.reward_scores(plan.rewards, heldout.prompts, completions)
            result.rewards = rewarded.totals
            scores.update(grpo_scoring.reward_metrics(rewarded))
        if texts:
            answered = [i for i, reference in enumerate(heldout.references) if reference]
            scores.update(
                text_scores(
                    [result.outputs[i] for i in answered], [heldout.references[i] for i in answered], plan.metrics
                )
            )
    if "perplexity" in plan.metrics and plan.sequences is not None:
        scores["perplexity"] = perplexity(
            model,
            plan.sequences,
            pad_token_id=plan.pad_id,
            batch_size=plan.batch_size,
            stage=f"perplexity ({label})",
            progress=progress,
        )
    reward_names = [name for name in scores if name == grpo_scoring.TOTAL or name.startswith("rewards/")]
    result.metrics = {name: scores[name] for name in [*reward_names, *plan.metrics] if name in scores}
    return result


def _precision(config: Any) -> str:
    return describe_precision(config.model)


__all__ = ["evaluate_run"]
