"""`tuitune eval RUN`: score a run on held-out examples (ROUGE, BLEU, perplexity; a preference run's
reward accuracy and margin, a grpo run's mean reward), against its base."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, err_console, print_json
from tuitune.config import MAX_BATCH_SIZE, MAX_TOKENS
from tuitune.runs import lookup, present
from tuitune.runs.present import literal
from tuitune.store import open_store

# Commands import what they use when they run: `tuitune --help` imports every command module.

METRIC_LABELS = {
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "rougeL": "ROUGE-L",
    "bleu": "BLEU",
    "perplexity": "perplexity",
    "reward_accuracy": "reward accuracy",
    "reward_margin": "reward margin",
    "reward": "mean reward",
}


def metric_label(name: str) -> str:
    """A metric in the user's words: `rewards/format` is the format reward's mean."""
    if name.startswith("rewards/"):
        return f"reward: {name.removeprefix('rewards/')}"
    return METRIC_LABELS.get(name, name)


def _lookup(ref: str) -> Any:
    store = open_store()
    return lookup.find(ref, store=store), store


class _LineProgress:
    """Progress as plain lines on stderr (for pipes and the TUI, which reads them): one line per
    stage start and end, and at most one per tenth of the stage in between."""

    def __init__(self) -> None:
        self.last: tuple[str, int] | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        tenth = (10 * done) // total if total else 10
        if self.last == (stage, tenth):
            return
        self.last = (stage, tenth)
        sys.stderr.write(f"eval: {stage} {done}/{total}\n")
        sys.stderr.flush()


def _with_progress(work: Callable[[Callable[[str, int, int], None]], Any]) -> Any:
    """Run `work(progress)`, drawing a rich progress bar on a terminal and plain lines otherwise."""
    if not err_console.is_terminal:
        return work(_LineProgress())
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        return work(progress)


def _quiet_loading() -> None:
    """No "Loading weights" bars from transformers: stderr carries our own progress only."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


@app.command("eval")
def eval_command(
    run: str = typer.Argument(..., help="A run id, a run name, or `last`."),
    metrics: Optional[str] = typer.Option(
        None,
        "--metrics",
        "-m",
        help="Comma-separated: rouge1,rouge2,rougeL,bleu,perplexity (default: the run's evaluation.metrics).",
    ),
    samples: Optional[int] = typer.Option(
        None, "--samples", "-n", min=1, help="Held-out examples to score (default: the run's evaluation.samples)."
    ),
    dataset: Optional[str] = typer.Option(
        None,
        "--dataset",
        "-d",
        help="Score this dataset (file, folder or Hub id) instead of the run's validation split.",
    ),
    compare_base: bool = typer.Option(
        False,
        "--compare-base",
        "-b",
        help="Also score the base model on the same examples and report the improvements.",
    ),
    max_new_tokens: Optional[int] = typer.Option(
        None,
        "--max-new-tokens",
        min=1,
        max=MAX_TOKENS,
        help="Longest generated answer (default: the run's evaluation.max_new_tokens).",
    ),
    batch_size: int = typer.Option(
        8, "--batch-size", min=1, max=MAX_BATCH_SIZE, help="Prompts generated (and sequences scored) at once."
    ),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Evaluate a run: ROUGE-1/2/L and BLEU of greedy answers, and perplexity, on held-out examples.

    A preference run (dpo, kto, orpo, simpo) is also scored on its held-out pairs: reward accuracy (the share whose chosen answer the model's implicit reward prefers) and reward margin; a grpo run by its reward functions on greedy completions (mean reward, in total and per function). These come first, whatever --metrics says.

    With --compare-base, an improvement is positive when the fine-tuned model is better: fine-tuned minus base for ROUGE, BLEU and rewards, base minus fine-tuned for perplexity (lower is better).
    """
    from tuitune.evaluation import evaluate_run, parse_metrics

    if metrics is not None:
        parse_metrics(metrics)  # an unknown metric fails before any model loads
    found, store = _lookup(run)
    _quiet_loading()
    report = _with_progress(
        lambda progress: evaluate_run(
            found,
            metrics=metrics,
            samples=samples,
            dataset=dataset,
            compare_base=compare_base,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            store=store,
            progress=progress,
        )
    )
    if json_output:
        print_json(report.to_dict())
        return
    for note in report.notes:
        err_console.print(Text.assemble(("note: ", "yellow"), literal(note)))
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("metric")
    if report.base is not None:
        table.add_column("base", justify="right")
    table.add_column("fine-tuned", justify="right")
    if report.base is not None:
        table.add_column("improvement", justify="right")
    for name, value in report.finetuned.items():
        cells = [metric_label(name)]
        if report.base is not None:
            cells.append(present.number(report.base.get(name)))
        cells.append(present.number(value))
        if report.base is not None:
            gain = (report.improvements or {}).get(name)
            style = "green" if gain is not None and gain > 0 else "red" if gain is not None and gain < 0 else ""
            cells.append(f"[{style}]{gain:+.4f}[/]" if gain is not None and style else present.number(gain))
        table.add_row(*cells)
    console.print(
        Text(
            f"Run {found.id} ({literal(found.name)}): {report.sample_count} examples from {literal(report.settings['source'])}"
        )
    )
    console.print(table)
    if "reward_meaning" in report.settings:  # what a preference or grpo run's reward scores mean
        console.print(Text(report.settings["reward_meaning"], style="dim"))
    if report.base is not None:
        console.print("[dim]improvement > 0: the fine-tuned model is better (for perplexity, lower is better).[/]")
    if report.samples:
        # Model text is shown as plain text: brackets in it ([INST]) must not be read as markup.
        first = report.samples[0]
        console.print()
        console.print("[bold]Example[/]")
        for key, label in (
            ("prompt", "prompt"),
            ("reference", "reference"),
            ("base", "base"),
            ("finetuned", "fine-tuned"),
        ):
            if key in first:
                text = first[key].strip()
                shown = text[-300:] if key == "prompt" else text[:300]
                console.print(Text.assemble((f"{label}: ", "dim"), shown))
