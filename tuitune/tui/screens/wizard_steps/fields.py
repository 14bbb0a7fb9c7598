"""The hyperparameter form of the wizard, declared once: key, label, type, range, help.

Each field becomes a labelled Input (validated as you type) or a Switch/Select; `collect` turns the
form back into the nested dict `parse_config` validates, so the rules live in `tuitune.config`
and the form only catches typos early.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel
from textual.validation import Function, Integer, Number, Validator

from tuitune.config import (
    OBJECTIVES,
    STRATEGIES,
    UNUSED_BY_METHOD,
    UNUSED_BY_OBJECTIVE,
    RunConfig,
    config_field,
    field_limits,
    key_choices,
    key_limits,
)


@dataclass(frozen=True)
class Field:
    key: str  # dotted config key, e.g. "training.learning_rate"
    label: str
    kind: str  # "int", "float", "text", "list" (comma-separated), "bool", "choice"
    help: str
    advanced: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False  # > minimum rather than >=
    exclusive_maximum: bool = False
    optional: bool = False  # empty (for a checkbox: off) means "not set" (None)
    choices: tuple[str, ...] = ()

    @property
    def widget_id(self) -> str:
        return "field-" + self.key.replace(".", "-").replace("_", "-")

    def validators(self) -> list[Validator]:
        if self.kind not in ("int", "float"):
            return []
        low, high = self.minimum, self.maximum
        words = []
        if low is not None:
            words.append(f"{'>' if self.exclusive_minimum else '≥'} {_bound(low)}")
        if high is not None:
            words.append(f"{'<' if self.exclusive_maximum else '≤'} {_bound(high)}")
        what = "a whole number" if self.kind == "int" else "a number"
        description = f"{self.label} must be {what}" + (f" {' and '.join(words)}" if words else "") + "."

        def in_range(text: str) -> bool:
            try:
                value = int(text) if self.kind == "int" else float(text)
            except ValueError:
                return False
            if low is not None and (value <= low if self.exclusive_minimum else value < low):
                return False
            return not (high is not None and (value >= high if self.exclusive_maximum else value > high))

        base: Validator = (
            Integer(failure_description=description) if self.kind == "int" else Number(failure_description=description)
        )
        return [base, Function(in_range, description)]

    def parse(self, text: str) -> Any:
        """The config value for the text in the field (None when empty and optional)."""
        text = text.strip()
        if not text:
            return None
        if self.kind == "int":
            return int(text)
        if self.kind == "float":
            return float(text)
        if self.kind == "list":
            return [item.strip() for item in text.split(",") if item.strip()]
        return text


def _sentence(description: str) -> str:
    """A config description (lower case, no stop) as the help line of a field; an objective's
    name that starts it stays as it is written (dpo's loss)."""
    first = description.split(" ", 1)[0].removesuffix("'s")
    start = description if first in OBJECTIVES else description[:1].upper() + description[1:]
    return start + ("" if description.endswith(".") else ".")


def _bound(value: float) -> str:
    """A limit as a person reads it: 1,000,000,000 rather than 1e+09."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def field(key: str, label: str, help: str | None = None, **options: Any) -> Field:
    """A form field for a config key: its kind, limits and choices are the config model's own, so
    the form checks as you type exactly what `parse_config` will check at Launch. Without `help`,
    the field's help is the config's own description of the key."""
    declared = config_field(key)
    annotation = declared.annotation
    if get_origin(annotation) is Annotated:  # a type that says what it names (a path, code to run)
        annotation = get_args(annotation)[0]
    allowed = key_choices(key)
    bare = {arg for arg in get_args(annotation) if arg is not type(None)} or {annotation}
    if help is None:
        help = _sentence(declared.description or label)
    if get_origin(annotation) is list:
        kind = "list"
    elif allowed and bool in bare:
        kind, allowed = "choice", (*allowed, "true", "false")  # a switch that may also be `auto`
    elif allowed:
        kind = "choice"
    elif bool in bare:
        kind = "bool"
    elif int in bare:
        kind = "int"
    elif float in bare:
        kind = "float"
    else:
        kind = "text"
    bounds = key_limits(key)
    derived: dict[str, Any] = {
        "choices": allowed,
        "minimum": bounds.minimum,
        "maximum": bounds.maximum,
        "exclusive_minimum": bounds.exclusive_minimum,
        "exclusive_maximum": bounds.exclusive_maximum,
    }
    # A bound a model validator checks (lora.r, lora.dropout) is given here, with its validator's words.
    return Field(key, label, kind, help, **{**derived, **options})


FIELDS: tuple[Field, ...] = (
    # Common: what most people change.
    field("training.epochs", "Epochs", "Passes over the training data."),
    field("training.learning_rate", "Learning rate", "Peak learning rate; 2e-4 suits LoRA, 2e-5 full fine-tuning."),
    field("training.batch_size", "Batch size", "Samples per device per step."),
    field("lora.r", "LoRA rank", "Adapter rank: 8 or 16 are usual (ignored by full fine-tuning).", minimum=1),
    field("data.max_length", "Max length", "Tokens per training sequence; longer samples are truncated."),
    field("name", "Run name", "Leave empty for <model>-<method> (and -<objective> unless sft).", optional=True),
    # Advanced: folded away.
    field("lora.alpha", "LoRA alpha", "Scaling numerator (alpha / r); usually 2 × r.", advanced=True),
    field("lora.dropout", "LoRA dropout", "In [0, 1).", advanced=True, minimum=0, maximum=1, exclusive_maximum=True),
    field(
        "training.gradient_accumulation_steps",
        "Grad accumulation",
        "Steps whose gradients add up before one update.",
        advanced=True,
    ),
    field(
        "training.max_steps",
        "Max steps",
        "Stop after this many steps (overrides epochs); empty: no limit.",
        advanced=True,
        optional=True,
    ),
    field("training.lr_scheduler", "LR schedule", "How the learning rate changes over the run.", advanced=True),
    field("training.warmup_ratio", "Warmup ratio", "Fraction of steps spent warming up, in [0, 1).", advanced=True),
    field("training.weight_decay", "Weight decay", "L2 penalty; 0 is usual for LoRA.", advanced=True),
    field("training.gradient_checkpointing", "Gradient checkpointing", "Trade compute for memory.", advanced=True),
    # Off is "automatic from the device" (None), not "never": a checkbox can only force one on.
    field(
        "training.bf16", "bf16", "On: bfloat16 (Ampere or newer GPUs); off: automatic.", advanced=True, optional=True
    ),
    field("training.fp16", "fp16", "On: float16 (older GPUs); off: automatic.", advanced=True, optional=True),
    field("training.logging_steps", "Logging steps", "Steps between two metric points.", advanced=True),
    field(
        "training.eval_steps",
        "Eval steps",
        "Steps between evaluations; empty: 5 × logging steps.",
        advanced=True,
        optional=True,
    ),
    field("training.save_steps", "Save steps", "Steps between checkpoints.", advanced=True),
    field(
        "training.early_stopping_patience",
        "Early stopping",
        "Evaluations without the eval loss improving before the run stops, keeping its best checkpoint; empty: off.",
        advanced=True,
        optional=True,
    ),
    field(
        "data.validation_split", "Validation split", "Fraction (< 1) or number of rows (≥ 1) held out.", advanced=True
    ),
    field("data.max_samples", "Max samples", "Use at most this many rows; empty: all.", advanced=True, optional=True),
    field("data.template", "Template", "auto: the tokenizer's chat template, else chatml.", advanced=True),
    field(
        "data.packing",
        "Packing",
        "auto: padding or packing, whichever trains faster here; true: pack samples together.",
        advanced=True,
    ),
    field("data.train_on_responses_only", "Loss on responses only", "Do not train on prompts.", advanced=True),
    field("evaluation.samples", "Eval samples", "Held-out prompts `e` (evaluate) generates for.", advanced=True),
    field(
        "merge_after_training",
        "Merge after training",
        "Merge the adapter into the base model when done.",
        advanced=True,
    ),
    # A SLURM job's main requests, shown where runs train on SLURM (`tuitune cluster use slurm`).
    field("slurm.partition", "Partition", advanced=True, optional=True),
    field("slurm.time_limit", "Time limit", advanced=True, optional=True),
    field("slurm.gpus_per_node", "GPUs per node", advanced=True),
    field("slurm.nodes", "Nodes", advanced=True),
)


def from_model(model: type[BaseModel], name: str, key: str, label: str, kind: str, help: str, **options: Any) -> Field:
    """A form field for any pydantic model's field (chat settings, say), limits from its `ge`/`gt`/`le`/`lt`."""
    limits = asdict(field_limits(model.model_fields[name]))
    return Field(key, label, kind, help, **{**limits, **options})


# Shown only on a machine with more than one GPU: the run trains with a group of processes.
DISTRIBUTED_FIELDS: tuple[Field, ...] = (
    field(
        "distributed.nproc",
        "Processes",
        "Processes that train the run together, one per GPU (empty: one per GPU the run is given).",
        optional=True,
    ),
    Field(
        "distributed.strategy",
        "Strategy",
        "choice",
        "ddp copies the model to every GPU; fsdp and deepspeed-zero3 shard it (auto: ddp).",
        choices=STRATEGIES,
    ),
)

CHOSEN_ONLY_LABEL = "Chosen answers only"

# The objective's settings, shown only for the objective that reads them (see `uses`); their help
# is the config's own description of each key.
OBJECTIVE_FIELDS: tuple[Field, ...] = (
    field("preference.beta", "Beta"),
    field("preference.loss_type", "DPO loss"),
    field("preference.simpo_gamma", "SimPO gamma"),
    field("preference.desirable_weight", "Good weight"),
    field("preference.undesirable_weight", "Bad weight"),
    field("preference.reference", "Reference"),
    field("grpo.rewards", "Rewards"),
    field("grpo.num_generations", "Generations"),
    field("grpo.max_completion_length", "Completion len"),
    field("grpo.temperature", "Temperature"),
    field("grpo.beta", "KL beta"),
    # Only beside a preference set (see `MethodStep._uses`): sft then trains on its chosen answers.
    field("preference.chosen_only", CHOSEN_ONLY_LABEL),
)


def uses(key: str, *, method: str, objective: str) -> bool:
    """Whether a run of `method` and `objective` reads the setting `key` (the config says which
    settings each one ignores): full fine-tuning no lora settings, sft no preference settings…"""
    unused = (*UNUSED_BY_METHOD.get(method, ()), *UNUSED_BY_OBJECTIVE.get(objective, ()))
    return not any(key == name or key.startswith(name + ".") for name in unused)


# What a recommendation may fill in, from its attribute names to field keys.
RECOMMENDED: dict[str, str] = {
    "lora_r": "lora.r",
    "batch_size": "training.batch_size",
    "gradient_checkpointing": "training.gradient_checkpointing",
}


def get_path(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def set_path(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


@functools.cache
def _defaults() -> dict[str, Any]:
    # One default config for every field of the form (building one is a validation).
    return RunConfig().to_dict()


def default_text(field: Field, config: RunConfig | None = None) -> str:
    """What the field shows for a config (the defaults when None)."""
    value = get_path(config.to_dict() if config is not None else _defaults(), field.key)
    if value is None:
        return ""
    if field.kind == "float":
        return f"{value:g}"
    if field.kind == "choice" and isinstance(value, bool):
        return "true" if value else "false"  # a switch that may also be auto
    if field.kind == "list":
        return ", ".join(map(str, value))
    return str(value)


def collect(values: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """`base` (model, data source, method) with every field's value set at its dotted key."""
    data = {key: dict(value) if isinstance(value, dict) else value for key, value in base.items()}
    for key, value in values.items():
        set_path(data, key, value)
    return data


def field_for(key: str) -> Field:
    """The form field for a dotted config key."""
    return next(f for f in (*FIELDS, *DISTRIBUTED_FIELDS, *OBJECTIVE_FIELDS) if f.key == key)
