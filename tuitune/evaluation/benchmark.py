"""Score a run: greedy generations on held-out prompts (ROUGE, BLEU) and perplexity on their
responses, for the fine-tuned model and optionally its base, stored as evaluations on the run.

The base is loaded the way the run trained it (a QLoRA run's base in 4-bit), so the adapter is
scored on the weights it learned against; with an adapter, the base model's scores come from the
same loaded model with the adapter switched off, so it is loaded once.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from typing import Any

from tuitune.data.collate import pad_token_id
from tuitune.errors import EvaluationError
from tuitune.evaluation.generation import generate
from tuitune.evaluation.heldout import held_out, tokenized
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
    (`samples`) and `max_new_tokens`. `dataset` scores a dataset (path or Hub id) instead of the
    run's validation split. `compare_base` also scores the base model on the same examples and
    fills `base` and `improvements`. `progress(stage, done, total)` is called as work advances.
    """
    store = store or open_store()
    weights = run_weights(run, action="evaluate")
    config = run_config(run)
    chosen = parse_metrics(metrics if metrics is not None else config.evaluation.metrics)
    samples = samples if samples is not None else config.evaluation.samples
    max_new_tokens = max_new_tokens if max_new_tokens is not None else config.evaluation.max_new_tokens
    if samples < 1 or max_new_tokens < 1 or batch_size < 1:
        raise EvaluationError("--samples, --max-new-tokens and the batch size must be at least 1.")

    report_progress(progress, "loading model", 0, 1)
    model, tokenizer = load_trained(config, weights)
    report_progress(progress, "loading model", 1, 1)

    heldout = held_out(config, tokenizer, samples=samples, dataset=dataset)
    notes: list[str] = []
    if not heldout.prompts and any(name in TEXT_METRICS for name in chosen):
        notes.append(
            f"{heldout.source} is raw text ({heldout.format}): ROUGE and BLEU need prompts and reference "
            "answers, so only perplexity is scored."
        )
        chosen = [name for name in chosen if name not in TEXT_METRICS]
        if not chosen:
            raise EvaluationError(
                f"{heldout.source} has no prompt/response pairs to generate for: add perplexity to --metrics, "
                "or evaluate on instruction or chat data with --dataset PATH."
            )
    settings = {
        "metrics": chosen,
        "samples": samples,
        "max_new_tokens": max_new_tokens,
        "source": heldout.source,
        "dataset": dataset,
        "template": heldout.template.name,
        "precision": _precision(config),
    }

    sequences = None
    if "perplexity" in chosen:
        sequences = tokenized(heldout, tokenizer, max_length=config.data.max_length)
    options = dict(
        tokenizer=tokenizer,
        prompts=heldout.prompts,
        references=heldout.references,
        sequences=sequences,
        metrics=chosen,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        max_prompt_length=config.data.max_length,
        add_special_tokens=heldout.template.add_special_tokens,
        eos_token_ids=stop_token_ids(model, tokenizer, heldout.template.name),
        pad_id=pad_token_id(tokenizer),
        progress=progress,
    )
    finetuned, finetuned_outputs = _score(model, label="fine-tuned", **options)

    base = base_outputs = None
    if compare_base:
        if weights.is_adapter:
            with model.disable_adapter():
                base, base_outputs = _score(model, label="base", **options)
        else:
            del model
            gc.collect()
            base_model = load_base(config)
            base, base_outputs = _score(base_model, label="base", **options)

    kept = []
    for i in range(min(KEPT_SAMPLES, len(heldout.prompts))):
        sample: dict[str, Any] = {"prompt": heldout.prompts[i], "reference": heldout.references[i]}
        if i < len(heldout.messages):
            sample["messages"] = heldout.messages[i]  # the prompt as the user wrote it, without the template
        if finetuned_outputs:
            sample["finetuned"] = finetuned_outputs[i]
        if base_outputs:
            sample["base"] = base_outputs[i]
        kept.append(sample)

    count = len(heldout.examples)
    report = EvaluationReport(
        run_id=run.id,
        finetuned=finetuned,
        base=base,
        improvements=improvements(finetuned, base) if base is not None else None,
        sample_count=count,
        settings=settings,
        samples=kept if finetuned_outputs else [],
        notes=notes,
    )
    if base is not None:
        stored = store.add_evaluation(
            run.id, label=BASE, metrics=base, sample_count=count, settings=settings, samples=report.samples
        )
        report.evaluation_ids[BASE] = stored.id
    stored = store.add_evaluation(
        run.id, label=FINETUNED, metrics=finetuned, sample_count=count, settings=settings, samples=report.samples
    )
    report.evaluation_ids[FINETUNED] = stored.id
    summary = ", ".join(f"{name} {value:.4f}" for name, value in finetuned.items() if value is not None)
    store.add_event(run.id, f"evaluated on {count} examples from {heldout.source}: {summary}")
    return report


def _score(
    model: Any,
    *,
    label: str,
    tokenizer: Any,
    prompts: list[str],
    references: list[str],
    sequences: list[Any] | None,
    metrics: list[str],
    max_new_tokens: int,
    batch_size: int,
    max_prompt_length: int,
    add_special_tokens: bool,
    eos_token_ids: list[int],
    pad_id: int,
    progress: ProgressCallback | None,
) -> tuple[dict[str, float], list[str]]:
    """Scores of one model (in the order of `metrics`) and its generations."""
    scores: dict[str, Any] = {}
    outputs: list[str] = []
    if any(name in TEXT_METRICS for name in metrics) and prompts:
        outputs = generate(
            model,
            tokenizer,
            prompts,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            max_prompt_length=max_prompt_length,
            add_special_tokens=add_special_tokens,
            eos_token_ids=eos_token_ids,
            stage=f"generating ({label})",
            progress=progress,
        )
        scores.update(text_scores(outputs, references, metrics))
    if "perplexity" in metrics and sequences is not None:
        scores["perplexity"] = perplexity(
            model,
            sequences,
            pad_token_id=pad_id,
            batch_size=batch_size,
            stage=f"perplexity ({label})",
            progress=progress,
        )
    return {name: scores[name] for name in metrics if name in scores}, outputs


def _precision(config: Any) -> str:
    return describe_precision(config.model)


__all__ = ["evaluate_run"]
