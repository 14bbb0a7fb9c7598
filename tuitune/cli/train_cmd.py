"""`tuitune train`: build a run configuration from a file and flags, then train attached or detached."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any, Optional

import typer
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, err_console, print_json
from tuitune.cli.outcome import finish_run
from tuitune.cli.run_options import RunFlags, with_run_flags
from tuitune.config import (
    DEMO_MODEL,
    UNUSED_BY_METHOD,
    RunConfig,
    demo_dataset,
    demo_settings,
    load_config,
    parse_config,
)
from tuitune.engine import launcher
from tuitune.errors import UsageError
from tuitune.runs import notify, present
from tuitune.runs.documents import run_in_background
from tuitune.runs.present import literal
from tuitune.store import open_store

# Commands import what they use when they run: `tuitune --help` imports every command module.

# What --demo means beyond the model and data. The demo model is tiny and randomly initialised:
# LoRA on random weights barely moves the loss, while full fine-tuning (what `tuitune recommend`
# picks for a model this small on a CPU) shows it fall from ~7.6 to ~4.5 in seconds. `--method`
# still wins, and LoRA settings that learn as fast as LoRA can here come with it.
DEMO_METHOD = "full_finetuning"
DEMO_TRAINING = {"learning_rate": 1e-3, "epochs": 2.0, "logging_steps": 5, "save_steps": 50}
DEMO_LORA = {"r": 16, "alpha": 32}


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted config key (`training.learning_rate`) in a config mapping."""
    *sections, last = key.split(".")
    target = data
    for section in sections:
        target = target.setdefault(section, {})
    target[last] = value


def build_config(run_flags: RunFlags) -> RunConfig:
    """Start from the config file (or defaults), apply --demo, then let every given flag win."""
    config_file, demo, flags = run_flags.config_file, run_flags.demo, run_flags.values
    data: dict[str, Any] = load_config(config_file).to_dict() if config_file else {}
    given_model = flags.get("model.name_or_path")
    given_data = flags.get("data.source")
    if not (config_file or demo or given_model or given_data):
        raise UsageError(
            "Say what to train: --demo (built-in model and sample data), --model and --dataset, or --config FILE."
        )
    if demo:
        _set(data, "model.name_or_path", DEMO_MODEL)
        if not config_file:
            _set(data, "method", DEMO_METHOD)
            for key, value in DEMO_TRAINING.items():
                _set(data, f"training.{key}", value)
    elif not config_file and (given_model is None or given_data is None):
        missing = "--model" if given_model is None else "--dataset (or --hf-dataset)"
        raise UsageError(f"{missing} is missing: give both --model and --dataset, or use --demo.")
    for key, value in flags.items():
        _set(data, key, value)
    if demo:
        # The objective is known once the file and the flags are read: its bundled set (pairs for
        # dpo, prompts for grpo), and without a file the settings its demo learns with.
        objective = str(data.get("objective") or "sft")
        if given_data is None:
            _set(data, "data.source", demo_dataset(objective))
        if not config_file:
            for key, value in demo_settings(objective, given=flags).items():
                _set(data, key, value)
    if demo and not config_file and "lora" not in UNUSED_BY_METHOD.get(str(data.get("method")), ()):
        # The demo's adapter settings, for a demo run that trains one (`--demo --method lora`).
        for key, value in DEMO_LORA.items():
            if f"lora.{key}" not in flags:
                _set(data, f"lora.{key}", value)
    return parse_config(data, str(config_file) if config_file else "command line")


@app.command("train")
@with_run_flags
def train_command(
    detach: bool = typer.Option(False, "--detach", help="Start the run in the background and return at once."),
    queue: bool = typer.Option(
        False, "--queue", help="Wait in the queue for a free slot (see `tuitune queue`); implies --detach."
    ),
    save_config: Optional[Path] = typer.Option(
        None, "--save-config", help="Write the final configuration here and exit without training."
    ),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
    *,
    run_flags: RunFlags,
) -> None:
    """Train a model: attached with a progress bar (Ctrl+C cancels), --detach, or --queue."""
    config = build_config(run_flags)
    for note in config.notes:
        err_console.print(Text.assemble(("note: ", "yellow"), literal(note)))
    if save_config:
        config.save(save_config)
        err_console.print(Text(f"Configuration written to {literal(save_config)}"))
        return

    from tuitune.engine.preflight import check_sources

    store = open_store()
    # The data read and the model found before a run is recorded: a run that could not start is
    # refused at once, not left behind as failed (the worker checks the rest, as the wizard does).
    with err_console.status("checking the data and the model…") if err_console.is_terminal else nullcontext():
        check_sources(config)
    if queue:
        from tuitune.engine.queue import enqueue, position

        run = enqueue(config, gpus=run_flags.gpus, store=store)
        notify.remember(notify.run_key(run.id), run_flags.notify, store)
        place = position(run, store)
        if json_output:
            print_json(run_in_background(run, place).model_dump(mode="json"))
        elif run.on_slurm:
            console.print(Text(present.started_line(run)))
        elif place:
            console.print(
                Text(
                    f"Queued run {run.id} ({literal(run.name)}): number {place[0]} of {place[1]} in line. See `tuitune queue`."
                )
            )
        else:
            console.print(
                Text(f"Queued run {run.id} ({literal(run.name)}): a slot was free, it started (pid {run.pid}).")
            )
        return
    run = launcher.launch(config, gpus=run_flags.gpus, store=store)
    notify.remember(notify.run_key(run.id), run_flags.notify, store)
    if detach:
        if json_output:
            print_json(run_in_background(run).model_dump(mode="json"))
        else:
            console.print(Text(present.started_line(run)))
            console.print(f"Follow it with [bold]tuitune logs {run.id} -f[/] or open [bold]tuitune[/].")
        return
    finish_run(run, store, json_output=json_output)
