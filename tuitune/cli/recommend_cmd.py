"""`tuitune recommend MODEL`: which method, rank and batch size fit this GPU, and a config to train with."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, err_console, print_json
from tuitune.config import OBJECTIVES
from tuitune.errors import UsageError
from tuitune.runs.present import literal
from tuitune.text.user_text import excerpt

# Commands import what they use when they run: `tuitune --help` imports every command module.

_METHOD_LABELS = {"full_finetuning": "full fine-tuning", "lora": "LoRA", "qlora": "QLoRA (4-bit)"}


@app.command("recommend", help="Recommend a method and settings for a model and GPU.")
def recommend_command(
    model: str = typer.Argument(..., help="Hugging Face id, local model folder, or tuitune/demo."),
    dataset: Optional[str] = typer.Option(
        None, "--dataset", "-d", help="Dataset to train on: written into the config; a local file also sets max_length."
    ),
    vram: Optional[float] = typer.Option(
        None, "--vram", help="GPU memory in GB (default: detected through NVML; none found: CPU)."
    ),
    max_length: Optional[int] = typer.Option(None, "--max-length", min=8, help="Tokens per training sequence."),
    objective: str = typer.Option(
        "sft", "--objective", help=f"What the run learns from: {', '.join(OBJECTIVES)} (pairs need more memory)."
    ),
    gpus: Optional[int] = typer.Option(
        None,
        "--gpus",
        min=1,
        max=64,
        help="GPUs that train together (default: every visible one); with several, a strategy is picked too.",
    ),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Write the recommended run config here (YAML; .json for JSON)."
    ),
    revision: Optional[str] = typer.Option(None, "--revision", help="Hub branch, tag or commit."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow models that ship their own code."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Estimate memory per method and pick one (see `tuitune.models.recommend` for the table)."""
    from tuitune.models.recommend import recommend

    if objective not in OBJECTIVES:
        raise UsageError(f"--objective must be one of {', '.join(OBJECTIVES)} (got {excerpt(objective)}).")
    if vram is not None and not 0 < vram < float("inf"):  # nan fails both comparisons
        raise UsageError(f"--vram must be a positive number of GB (got {vram:g}).")
    advice = recommend(
        model,
        vram_gb=vram,
        dataset=dataset,
        max_length=max_length,
        revision=revision,
        trust_remote_code=trust_remote_code,
        gpus=gpus,
        objective=objective,
    )
    written: Path | None = None
    if output is not None:
        config = advice.to_config()
        if revision:
            config.model.revision = revision
        if trust_remote_code:
            config.model.trust_remote_code = True
        written = config.save(output)

    if json_output:
        document = advice.to_dict()
        document["config_path"] = str(written) if written else None
        print_json(document)
        return
    _print_human(advice, written)


def _size(gb: float) -> str:
    # A tiny model's parts are megabytes; "0.00 GB" would say nothing.
    return f"{gb:.2f} GB" if gb >= 0.1 else f"{gb * 1024:.1f} MB"


def _print_human(advice, written: Path | None) -> None:  # advice: Recommendation (imported lazily)

    if advice.vram_gb is None:
        available = "no GPU detected: assuming CPU (RAM)"
    else:
        source = "detected" if advice.vram_source == "detected" else "given"
        available = f"{advice.vram_gb:.1f} GB GPU memory ({source})"
    r = advice.lora_r or 8
    table = Table(
        title=Text(
            f"{literal(advice.model)}: {advice.parameters:,} parameters · batch size {advice.batch_size} · "
            f"{advice.max_length} tokens · LoRA r {r} · checkpointing {'on' if advice.gradient_checkpointing else 'off'}"
        ),
        title_justify="left",
    )
    table.add_column("method")
    for column in ("weights", "grads + optimizer", "activations", "total"):
        table.add_column(column, justify="right")
    table.add_column("fits" if advice.vram_gb is not None else "")
    for method, estimate in advice.estimates.items():
        picked = method == advice.method
        fits = "" if advice.vram_gb is None else ("yes" if estimate.total_gb <= advice.vram_gb else "no")
        table.add_row(
            ("▶ " if picked else "  ") + _METHOD_LABELS.get(method, method),
            _size(estimate.weights_gb),
            _size(estimate.gradients_gb + estimate.optimizer_gb),
            _size(estimate.activations_gb),
            _size(estimate.total_gb),
            fits,
            style="bold" if picked else None,
        )
    console.print(f"Available: {available}")
    console.print(table)
    rank = f" rank {advice.lora_r}" if advice.lora_r else ""
    console.print(
        f"[bold]Recommended:[/bold] {_METHOD_LABELS.get(advice.method, advice.method)}{rank}, "
        f"batch size {advice.batch_size}, gradient checkpointing {'on' if advice.gradient_checkpointing else 'off'}"
    )
    console.print(advice.reason, markup=False)
    if not advice.fits:
        err_console.print("warning: the estimate does not fit the memory available.", style="yellow")
    if written:
        console.print(f"Config written to {written}: train with `tuitune train --config {written}`", markup=False)
