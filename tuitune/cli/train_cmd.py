"""`tuitune train`: build a run configuration from a file and flags, then train attached or detached."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, err_console, print_json
from tuitune.cli.outcome import finish_run
from tuitune.config import DEMO_MODEL, SAMPLE_DATASET, METHODS, RunConfig, load_config, parse_config
from tuitune.errors import UsageError
from tuitune.present import literal

# What --demo means beyond the model and data. The demo model is tiny and randomly initialised:
# LoRA on random weights barely moves the loss, while full fine-tuning (what `tuitune recommend`
# picks for a model this small on a CPU) shows it fall from ~7.6 to ~4.5 in seconds. `--method`
# still wins, and LoRA settings that learn as fast as LoRA can here come with it.
DEMO_METHOD = "full_finetuning"
DEMO_TRAINING = {"learning_rate": 1e-3, "epochs": 2.0, "logging_steps": 5, "save_steps": 50}
DEMO_LORA = {"r": 16, "alpha": 32}


def _set(data: dict[str, Any], section: str | None, key: str, value: Any) -> None:
    if value is None:
        return
    target = data.setdefault(section, {}) if section else data
    target[key] = value


def build_config(
    *,
    config_file: Optional[Path],
    demo: bool,
    flags: dict[tuple[str | None, str], Any],
) -> RunConfig:
    """Start from the config file (or defaults), apply --demo, then let every given flag win."""
    data: dict[str, Any] = load_config(config_file).to_dict() if config_file else {}
    given_model = flags.get(("model", "name_or_path"))
    given_data = flags.get(("data", "source"))
    if not (config_file or demo or given_model or given_data):
        raise UsageError(
            "Say what to train: --demo (built-in model and sample data), --model and --dataset, or --config FILE."
        )
    if demo:
        _set(data, "model", "name_or_path", DEMO_MODEL)
        _set(data, "data", "source", SAMPLE_DATASET)
        if not config_file:
            _set(data, None, "method", DEMO_METHOD)
            for key, value in DEMO_TRAINING.items():
                _set(data, "training", key, value)
            for key, value in DEMO_LORA.items():
                _set(data, "lora", key, value)
    elif not config_file and (given_model is None or given_data is None):
        missing = "--model" if given_model is None else "--dataset (or --hf-dataset)"
        raise UsageError(f"{missing} is missing: give both --model and --dataset, or use --demo.")
    for (section, key), value in flags.items():
        _set(data, section, key, value)
    return parse_config(data, str(config_file) if config_file else "command line")


@app.command("train")
def train_command(
    config_file: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML or JSON run configuration."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Hugging Face id or local folder."),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Local data file or folder."),
    hf_dataset: Optional[str] = typer.Option(None, "--hf-dataset", help="Hugging Face dataset id."),
    data_format: Optional[str] = typer.Option(None, "--format", help="alpaca, chat, sharegpt, completion, text (default: detect)."),
    method: Optional[str] = typer.Option(None, "--method", help=f"One of {', '.join(METHODS)}."),
    lora_r: Optional[int] = typer.Option(None, "--lora-r", help="LoRA rank."),
    lora_alpha: Optional[int] = typer.Option(None, "--lora-alpha", help="LoRA alpha."),
    epochs: Optional[float] = typer.Option(None, "--epochs", "-e", help="Passes over the data."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many steps."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Samples per step per device."),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum", help="Gradient accumulation steps."),
    learning_rate: Optional[float] = typer.Option(None, "--lr", help="Learning rate."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Tokens per sequence."),
    packing: Optional[bool] = typer.Option(None, "--packing/--no-packing", help="Pack samples into full sequences."),
    gradient_checkpointing: Optional[bool] = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing", help="Trade compute for memory."),
    load_in_4bit: bool = typer.Option(False, "--4bit", help="Load the model in 4-bit NF4 (QLoRA)."),
    fp16: bool = typer.Option(False, "--fp16", help="fp16 mixed precision (older GPUs)."),
    bf16: bool = typer.Option(False, "--bf16", help="bf16 mixed precision (Ampere and newer)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder to make the run's own folder <id>-<name> in (default: $TUITUNE_HOME/runs)."),
    name: Optional[str] = typer.Option(None, "--name", help="Run name (default: <model>-<method>)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
    demo: bool = typer.Option(False, "--demo", help="Built-in demo model and sample dataset (-m/-d replace either)."),
    detach: bool = typer.Option(False, "--detach", help="Start the run in the background and return at once."),
    save_config: Optional[Path] = typer.Option(None, "--save-config", help="Write the final configuration here and exit without training."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Train a model: attached with a progress bar (Ctrl+C cancels), or --detach."""
    if dataset and hf_dataset:
        raise UsageError("Give either --dataset or --hf-dataset, not both.")
    flags: dict[tuple[str | None, str], Any] = {
        ("model", "name_or_path"): model,
        ("data", "source"): dataset or hf_dataset,
        ("data", "format"): data_format,
        (None, "method"): method,
        ("lora", "r"): lora_r,
        ("lora", "alpha"): lora_alpha,
        ("training", "epochs"): epochs,
        ("training", "max_steps"): max_steps,
        ("training", "batch_size"): batch_size,
        ("training", "gradient_accumulation_steps"): grad_accum,
        ("training", "learning_rate"): learning_rate,
        ("data", "max_length"): max_length,
        ("data", "packing"): packing,
        ("training", "gradient_checkpointing"): gradient_checkpointing,
        ("model", "load_in_4bit"): True if load_in_4bit else None,
        ("training", "fp16"): True if fp16 else None,
        ("training", "bf16"): True if bf16 else None,
        ("training", "output_dir"): str(output) if output else None,
        ("training", "seed"): seed,
        (None, "name"): name,
    }
    flags = {k: v for k, v in flags.items() if v is not None}
    config = build_config(config_file=config_file, demo=demo, flags=flags)
    for note in config.notes:
        err_console.print(Text.assemble(("note: ", "yellow"), literal(note)))
    if save_config:
        config.save(save_config)
        err_console.print(Text(f"Configuration written to {literal(save_config)}"))
        return

    from tuitune.engine import launcher
    from tuitune.store import open_store

    store = open_store()
    run = launcher.launch(config, store=store)
    if detach:
        if json_output:
            print_json({"run_id": run.id, "name": run.name, "status": run.status, "pid": run.pid, "output_dir": run.output_dir})
        else:
            console.print(Text.assemble("Started run ", (str(run.id), "bold"), f" ({literal(run.name)}) in the background, pid {run.pid}."))
            console.print(f"Follow it with [bold]tuitune logs {run.id} -f[/] or open [bold]tuitune[/].")
        return
    finish_run(run, store, json_output=json_output)
