"""The flags that describe a run, shared by `train` and `sweep`: each declared once, with the config
key it sets. Help texts and choices come from the config models (`tuitune.config`), so a flag and
the setting it stands for never disagree.

    @app.command("train")
    @with_run_flags
    def train_command(..., run_flags: RunFlags) -> None: ...
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer

from tuitune.config import config_field, key_choices
from tuitune.errors import UsageError


@dataclass(frozen=True)
class RunFlag:
    """One command-line flag and the config key it sets (`None`: the command handles it)."""

    name: str  # the parameter's name in the command function
    flags: tuple[str, ...]
    key: str | None
    kind: Any  # a type, or list[str] for a repeatable flag
    help: str = ""  # default: the config field's description, with its choices
    when_given: Any = None  # for on-only switches (`--4bit`): the value they set


RUN_FLAGS: tuple[RunFlag, ...] = (
    RunFlag("config_file", ("--config", "-c"), None, Path, "YAML or JSON run configuration."),
    RunFlag("model", ("--model", "-m"), "model.name_or_path", str, "Hugging Face id or local folder."),
    RunFlag("dataset", ("--dataset", "-d"), "data.source", str, "Local data file or folder."),
    RunFlag("hf_dataset", ("--hf-dataset",), "data.source", str, "Hugging Face dataset id."),
    RunFlag("data_format", ("--format",), "data.format", str),
    RunFlag("method", ("--method",), "method", str),
    RunFlag("objective", ("--objective",), "objective", str),
    RunFlag("beta", ("--beta",), "preference.beta", float),
    RunFlag(
        "rewards",
        ("--reward",),
        "grpo.rewards",
        list[str],
        "A grpo reward function (repeat for several): exact_match, numeric_match, format, length, or "
        "path/to/file.py:function.",
    ),
    RunFlag("lora_r", ("--lora-r",), "lora.r", int, "LoRA rank."),
    RunFlag("lora_alpha", ("--lora-alpha",), "lora.alpha", int, "LoRA alpha."),
    RunFlag("epochs", ("--epochs", "-e"), "training.epochs", float),
    RunFlag("max_steps", ("--max-steps",), "training.max_steps", int),
    RunFlag("batch_size", ("--batch-size", "-b"), "training.batch_size", int),
    RunFlag(
        "grad_accum", ("--grad-accum",), "training.gradient_accumulation_steps", int, "Gradient accumulation steps."
    ),
    RunFlag("learning_rate", ("--lr",), "training.learning_rate", float, "Learning rate."),
    RunFlag("max_length", ("--max-length",), "data.max_length", int),
    RunFlag("text_documents", ("--text-documents",), "data.text_documents", str),
    RunFlag("window_stride", ("--window-stride",), "data.window_stride", int),
    RunFlag("packing", ("--packing/--no-packing",), "data.packing", bool),
    RunFlag(
        "gradient_checkpointing",
        ("--gradient-checkpointing/--no-gradient-checkpointing",),
        "training.gradient_checkpointing",
        bool,
        "Trade compute for memory.",
    ),
    RunFlag("use_liger_kernel", ("--liger-kernel/--no-liger-kernel",), "training.use_liger_kernel", bool),
    RunFlag("torch_compile", ("--torch-compile/--no-torch-compile",), "training.torch_compile", bool),
    RunFlag(
        "load_in_4bit", ("--4bit",), "model.load_in_4bit", bool, "Load the model in 4-bit NF4 (QLoRA).", when_given=True
    ),
    RunFlag("fp16", ("--fp16",), "training.fp16", bool, "fp16 mixed precision (older GPUs).", when_given=True),
    RunFlag("bf16", ("--bf16",), "training.bf16", bool, "bf16 mixed precision (Ampere and newer).", when_given=True),
    RunFlag(
        "output",
        ("--output", "-o"),
        "training.output_dir",
        Path,
        "Folder to make the run's own folder <id>-<name> in (default: $TUITUNE_HOME/runs).",
    ),
    RunFlag("name", ("--name",), "name", str, "Run name (default: <model>-<method>, and -<objective> unless sft)."),
    RunFlag("seed", ("--seed",), "training.seed", int, "Random seed."),
    RunFlag(
        "demo",
        ("--demo",),
        None,
        bool,
        "Built-in demo model and the objective's bundled dataset (-m/-d replace either).",
        when_given=True,
    ),
    RunFlag("gpus", ("--gpus",), None, str, "GPUs to train on, e.g. 0,1 (default: a free one, or the CPU)."),
    RunFlag(
        "notify",
        ("--notify",),
        None,
        str,
        "Webhook URL to POST to when the run ends (Slack and ntfy URLs get their shapes); kept in the store, "
        "not in the run's config.",
    ),
    RunFlag(
        "nproc",
        ("--nproc",),
        "distributed.nproc",
        int,
        "Processes on this machine (default: one per GPU given to the run, one on a CPU).",
    ),
    RunFlag(
        "strategy",
        ("--strategy",),
        "distributed.strategy",
        str,
        "ddp (a whole model per GPU), fsdp or deepspeed-zero3 (sharded), deepspeed-zero2; default ddp.",
    ),
    RunFlag("nnodes", ("--nnodes",), "distributed.nnodes", int, "Machines in the job."),
    RunFlag(
        "node_rank",
        ("--node-rank",),
        "distributed.node_rank",
        int,
        "This machine's number in the job (0: the main one).",
    ),
    RunFlag("master_addr", ("--master-addr",), "distributed.master_addr", str, "Address of machine 0."),
    RunFlag(
        "master_port",
        ("--master-port",),
        "distributed.master_port",
        int,
        "Port on machine 0 (default: a free one on one machine, 29500 on several).",
    ),
    # Backend slurm: the job's main requests (the rest through a config file's slurm section).
    RunFlag("backend", ("--backend",), "backend", str),
    RunFlag("partition", ("--partition",), "slurm.partition", str),
    RunFlag("time_limit", ("--time-limit",), "slurm.time_limit", str),
    RunFlag("nodes", ("--nodes",), "slurm.nodes", int),
    RunFlag("gpus_per_node", ("--gpus-per-node",), "slurm.gpus_per_node", int),
    RunFlag("resubmit", ("--resubmit",), "slurm.resubmit", int),
)


def _help(flag: RunFlag) -> str:
    if flag.help or flag.key is None:
        return flag.help
    field = config_field(flag.key)
    text = (field.description or "").rstrip(".")
    allowed = [value for value in key_choices(flag.key) if value != "auto"]
    if allowed:
        text = f"{text}: {', '.join(allowed)}" if text else f"One of {', '.join(allowed)}"
    return (text[:1].upper() + text[1:] + ".") if text else ""


def _parameter(flag: RunFlag) -> inspect.Parameter:
    kind = bool if flag.when_given is not None else Optional[flag.kind]
    default = False if flag.when_given is not None else None
    option = typer.Option(default, *flag.flags, help=_help(flag))
    return inspect.Parameter(flag.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)


@dataclass(frozen=True)
class RunFlags:
    """What the user gave on the command line: config values by key, and the rest."""

    values: dict[str, Any]
    config_file: Path | None
    demo: bool
    gpus: list[str] | None
    notify: str | None = None  # a webhook URL, checked


def _collect(given: dict[str, Any]) -> RunFlags:
    if given.get("dataset") and given.get("hf_dataset"):
        raise UsageError("Give either --dataset or --hf-dataset, not both.")
    values: dict[str, Any] = {}
    for flag in RUN_FLAGS:
        value = given.get(flag.name)
        if flag.key is None or value is None or value == [] or (value is False and flag.when_given is not None):
            continue
        if flag.when_given is not None:
            value = flag.when_given
        values[flag.key] = str(value) if isinstance(value, Path) else value
    gpus = given.get("gpus")
    notify = given.get("notify")
    if notify is not None:
        from tuitune.runs.notify import checked_url

        notify = checked_url(notify)
    return RunFlags(
        values=values,
        config_file=given.get("config_file"),
        demo=bool(given.get("demo")),
        gpus=[part.strip() for part in gpus.split(",") if part.strip()] if gpus else None,
        notify=notify,
    )


def with_run_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command every run flag; it receives them gathered as `run_flags: RunFlags`."""
    signature = inspect.signature(command, eval_str=True)
    own = [
        parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for parameter in signature.parameters.values()
        if parameter.name != "run_flags"
    ]
    names = {flag.name for flag in RUN_FLAGS}

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in list(kwargs) if name in names}
        return command(**kwargs, run_flags=_collect(given))

    parameters = [*(_parameter(flag) for flag in RUN_FLAGS), *own]
    # Typer reads the command's parameters from its signature.
    setattr(wrapper, "__signature__", signature.replace(parameters=parameters))  # noqa: B010
    wrapper.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    return wrapper
