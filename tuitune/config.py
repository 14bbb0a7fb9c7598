"""The configuration of one run: pydantic models, YAML/JSON I/O, and a fluent `ConfigBuilder`.

A config file is exactly what `RunConfig.model_dump()` produces, so saving and loading round-trip
exactly, and the `config.yaml` in a run's folder is what ran. Nothing here imports torch.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

# The built-in demo model and the bundled sample dataset, named here too for the config's readers.
from tuitune.bundled import DEMO_MODEL as DEMO_MODEL
from tuitune.bundled import DEMO_NAME as DEMO_NAME
from tuitune.bundled import SAMPLE_DATASET as SAMPLE_DATASET
from tuitune.bundled import SAMPLE_PREFERENCE, SAMPLE_PROMPTS
from tuitune.errors import (
    ConfigError,
    IncompatibleConfigError,
    InvalidConfigError,
    MissingConfigError,
    OutputNotWritableError,
)
from tuitune.locations import (
    DatasetFile,
    DatasetName,
    LocalPath,
    ModelName,
    NetworkAddress,
    RunsCode,
    WebhookUrl,
    looks_like_url,
    redact_url,
)
from tuitune.text.user_text import decode_text, excerpt, has_control_characters, shorten

Method = Literal["lora", "qlora", "full_finetuning", "instruction_tuning"]
METHODS: tuple[str, ...] = get_args(Method)
# What the weights learn from (the method says which weights train): supervised answers, pairs of
# a preferred and a rejected answer (dpo, orpo, simpo), answers labelled good or bad (kto), or
# rewards for the model's own completions (grpo).
Objective = Literal["sft", "dpo", "kto", "orpo", "simpo", "grpo"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)
PREFERENCE_OBJECTIVES: tuple[str, ...] = ("dpo", "kto", "orpo", "simpo")
# TRL's DPO losses that need nothing beyond the pair (sigmoid is the paper's, ipo the bounded one).
DpoLoss = Literal["sigmoid", "ipo", "hinge", "robust", "bco_pair", "sppo_hard", "nca_pair", "apo_zero", "apo_down"]
GrpoLoss = Literal["dapo", "grpo", "dr_grpo", "bnpo"]
Reference = Literal["auto", "live", "precomputed"]
# The reward functions that need no code: an answer column matched exactly or as a number, a
# regular expression the completion must match, a length target.
BUILTIN_REWARDS: tuple[str, ...] = ("exact_match", "numeric_match", "format", "length")
# preference: a chosen and a rejected answer per prompt, in any of the layouts people publish;
# labelled: one answer per row with a true/false label (kto); prompts: prompts alone (grpo).
DataFormat = Literal["auto", "alpaca", "chat", "sharegpt", "completion", "text", "preference", "labelled", "prompts"]
# The formats each objective learns from (auto detects which).
OBJECTIVE_FORMATS: dict[str, tuple[str, ...]] = {
    "sft": ("alpaca", "chat", "sharegpt", "completion", "text"),
    "dpo": ("preference",),
    "orpo": ("preference",),
    "simpo": ("preference",),
    "kto": ("labelled", "preference"),  # a pair is two labelled answers
    "grpo": ("prompts",),
}
TemplateName = Literal["auto", "chatml", "alpaca", "llama2", "plain"]
TextDocuments = Literal["auto", "paragraphs", "lines"]
Dtype = Literal["auto", "float32", "float16", "bfloat16"]
Scheduler = Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup"]
Metric = Literal["rouge1", "rouge2", "rougeL", "bleu", "perplexity"]
METRICS: tuple[Metric, ...] = get_args(Metric)

# Upper limits: far above any real run, low enough that no value overflows the int64 and C long
# arithmetic of torch, numpy and the Trainer (steps x batch x accumulation x tokens), so a typo
# such as 1e30 is refused here, in one line, instead of crashing a worker.
MAX_STEPS = 10**9  # max_steps, warmup and logging/eval/save intervals
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 65_536  # batch_size and gradient_accumulation_steps
MAX_TOKENS = 1_048_576  # data.max_length and evaluation.max_new_tokens
MAX_LORA_RANK = 32_768
MAX_LORA_ALPHA = 65_536
MAX_SEED = 2**32 - 1  # numpy seeds are 32-bit
MAX_BETA = 1000.0  # preference and KL temperatures: far above any paper's value
MAX_GENERATIONS = 1024  # GRPO completions per prompt
MAX_PATIENCE = 10_000  # evaluations without improvement before early stopping
# A config file tuitune writes is about 2 KB; anything near this size is not one.
MAX_CONFIG_BYTES = 1_000_000

# The integrations `training.report_to` may name (transformers' reporting callbacks), with the
# modules (any one will do) and the pip package each needs: a run naming one that is not
# installed would fail only once its worker starts.
REPORTERS: dict[str, tuple[tuple[str, ...], str]] = {
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),
    "wandb": (("wandb",), "wandb"),
    "mlflow": (("mlflow",), "mlflow"),
    "comet_ml": (("comet_ml",), "comet-ml"),
    "clearml": (("clearml",), "clearml"),
    "neptune": (("neptune",), "neptune"),
    "azure_ml": (("azureml",), "azureml-core"),
    "codecarbon": (("codecarbon",), "codecarbon"),
    "dvclive": (("dvclive",), "dvclive"),
    "dagshub": (("dagshub",), "dagshub"),
    "flyte": (("flytekit",), "flytekit"),
    "swanlab": (("swanlab",), "swanlab"),
    "trackio": (("trackio",), "trackio"),
    "kubeflow": ((), ""),  # no package: it reports to KUBEFLOW_TRAINER_SERVER_URL
}
REPORT_TO_SPECIAL = ("all", "none")


class _Section(BaseModel):
    # Unknown keys are rejected (and explained with the closest valid key by `_explain`);
    # assignment is validated so the builder and the TUI cannot store a bad value either; no
    # float may be inf or nan (an infinite epoch count cannot become a number of steps).
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, protected_namespaces=(), allow_inf_nan=False, defer_build=True
    )

    @field_validator("*", mode="after")
    @classmethod
    def _writable_text(cls, value: Any) -> Any:
        # A lone UTF-16 surrogate (a "\ud83d" escape in JSON, or an undecodable byte of a file
        # name) cannot be written to config.yaml or to the store: refuse it while it is a value.
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError(
                        "holds a character that is not valid Unicode (a lone surrogate such as \\ud83d): fix the text"
                    ) from None
        return value


SwitchOrAuto = Union[bool, Literal["auto"]]


# The words pydantic reads as booleans.
_BOOL_WORDS = ("true", "false", "yes", "no", "on", "off", "1", "0", "y", "n", "t", "f")


def _switch_or_auto(value: Any) -> Any:
    """true, false or auto, refused in one line (pydantic would name each member of the union)."""
    word = value.strip().lower() if isinstance(value, str) else None
    if word == "auto":
        return "auto"
    if isinstance(value, bool) or (type(value) is int and value in (0, 1)) or word in _BOOL_WORDS:
        return value
    raise ValueError("must be true, false or auto")


class ModelSettings(_Section):
    """Which model to fine-tune and how to load it."""

    name_or_path: ModelName = Field(DEMO_MODEL, description="Hugging Face id, local folder, or tuitune/demo")
    revision: str | None = Field(None, description="Hub branch, tag or commit")
    dtype: Dtype = Field("auto", description="auto: bf16 on GPUs that support it, fp16 on others, fp32 on CPU")
    load_in_4bit: bool = Field(False, description="NF4 quantization through bitsandbytes (QLoRA)")
    load_in_8bit: bool = Field(False, description="8-bit quantization through bitsandbytes")
    trust_remote_code: Annotated[bool, RunsCode("the Python files shipped with the model", bool)] = Field(
        False, description="run code shipped with the model (only for models you trust)"
    )
    # transformers loads an `owner/name` attention kernel from the Hub and runs it.
    attn_implementation: Annotated[
        Optional[str], RunsCode("an attention kernel from the Hub", lambda value: "/" in (value or ""))
    ] = Field(None, description="sdpa, eager, flash_attention_2; default: the model's")

    @model_validator(mode="after")
    def _one_quantization(self) -> ModelSettings:
        if self.load_in_4bit and self.load_in_8bit:
            raise IncompatibleConfigError("model.load_in_4bit and model.load_in_8bit cannot both be on: choose one.")
        return self


class DataSettings(_Section):
    """Where the training data comes from and how it becomes token ids."""

    source: DatasetName = Field(
        SAMPLE_DATASET,
        description="local file or folder, Hugging Face dataset id, or a bundled set (tuitune/sample, "
        "tuitune/sample-preference, tuitune/sample-prompts)",
    )
    hub_config: str | None = Field(None, description="dataset configuration (subset) name")
    split: str = Field("train", description="dataset split to train on")
    data_files: Union[DatasetFile, list[DatasetFile], None] = Field(
        None, description="the dataset's files: inside a Hub dataset or a local folder, or local paths for a builder"
    )
    format: DataFormat = Field("auto", description="auto-detected unless named")
    text_columns: list[str] | None = Field(None, description="columns joined into text for the text format")
    template: TemplateName = Field("auto", description="auto: the tokenizer's chat template, else chatml")
    max_samples: int | None = Field(None, ge=1, description="use at most this many rows")
    shuffle: bool = True
    seed: int = Field(42, ge=0, le=MAX_SEED, description="shuffle and split seed")
    validation_split: float = Field(0.1, ge=0, description="fraction (< 1) or row count (>= 1) held out")
    max_length: int = Field(512, ge=8, le=MAX_TOKENS, description="tokens per training sequence")
    packing: SwitchOrAuto = Field(
        "auto",
        description="pack several samples into one sequence; auto: packing or padding, whichever trains faster "
        "here (the run's events say which)",
    )
    train_on_responses_only: bool = Field(True, description="loss only on assistant/response tokens")
    text_documents: TextDocuments = Field(
        "auto",
        description="the documents of a .txt file: its paragraphs (blank-line separated), its lines, or auto "
        "(paragraphs when the file has blank lines, else lines)",
    )
    window_stride: int = Field(
        0,
        ge=0,
        le=MAX_TOKENS,
        description="a text longer than max_length trains as consecutive windows; each repeats this many tokens "
        "of the one before as context (no loss), so every token is trained once",
    )

    @model_validator(mode="after")
    def _stride_fits(self) -> DataSettings:
        if self.window_stride >= self.max_length:
            raise InvalidConfigError(
                f"data.window_stride ({self.window_stride}) must be below data.max_length ({self.max_length}): "
                "a window repeats part of the one before, never all of it."
            )
        return self

    _packing = field_validator("packing", mode="before")(_switch_or_auto)


class LoraSettings(_Section):
    """LoRA adapter settings (used by lora, qlora and instruction_tuning)."""

    r: int = Field(8, le=MAX_LORA_RANK, description="rank, at least 1")
    alpha: int = Field(16, ge=1, le=MAX_LORA_ALPHA, description="scaling numerator (alpha / r)")
    dropout: float = Field(0.05, description="in [0, 1)")
    target_modules: Union[Literal["auto"], list[str]] = Field(
        "auto", description="auto: detected from the architecture"
    )
    bias: Literal["none", "all", "lora_only"] = "none"
    modules_to_save: list[str] | None = None
    use_dora: bool = False
    use_rslora: bool = False

    @model_validator(mode="after")
    def _ranges(self) -> LoraSettings:
        if self.r < 1:
            raise InvalidConfigError(f"lora.r must be at least 1 (got {self.r}); 8 or 16 are usual.")
        if not 0 <= self.dropout < 1:
            raise InvalidConfigError(f"lora.dropout must be in [0, 1) (got {self.dropout}); 0.05 is usual.")
        if isinstance(self.target_modules, list) and not self.target_modules:
            raise InvalidConfigError("lora.target_modules is empty: list module names or use auto.")
        return self


class TrainingSettings(_Section):
    """The optimisation loop."""

    epochs: float = Field(3.0, gt=0, le=MAX_EPOCHS, description="passes over the training data")
    max_steps: int | None = Field(None, ge=1, le=MAX_STEPS, description="stop after this many steps (overrides epochs)")
    batch_size: int = Field(4, ge=1, le=MAX_BATCH_SIZE, description="samples per device per step")
    gradient_accumulation_steps: int = Field(1, ge=1, le=MAX_BATCH_SIZE)
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: Scheduler = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    warmup_steps: int = Field(0, ge=0, le=MAX_STEPS, description="overrides warmup_ratio when > 0")
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    fp16: bool | None = Field(None, description="None: automatic from the device")
    bf16: bool | None = Field(None, description="None: automatic from the device")
    gradient_checkpointing: bool = False
    use_liger_kernel: SwitchOrAuto = Field(
        "auto",
        description="Liger's fused kernels (cross-entropy, RMSNorm, RoPE, SwiGLU) on a CUDA GPU; auto: on where "
        "liger-kernel is installed",
    )
    torch_compile: bool = Field(False, description="compile the model with torch.compile: a slower start, faster steps")
    logging_steps: int = Field(10, ge=1, le=MAX_STEPS)
    eval_steps: int | None = Field(None, ge=1, le=MAX_STEPS, description="None: every logging_steps * 5")
    save_steps: int = Field(100, ge=1, le=MAX_STEPS)
    save_total_limit: int | None = Field(2, ge=1)
    seed: int = Field(42, ge=0, le=MAX_SEED)
    output_dir: Optional[LocalPath] = Field(
        None, description="folder the run's own folder <id>-<name> is made in; None: $TUITUNE_HOME/runs"
    )
    report_to: list[str] = Field(default_factory=list, description="e.g. [tensorboard, wandb]")
    early_stopping_patience: int | None = Field(
        None,
        ge=1,
        le=MAX_PATIENCE,
        description="stop (completed) after this many evaluations without improvement of early_stopping_metric; "
        "the adapter saved is the best checkpoint's; None: off",
    )
    early_stopping_threshold: float = Field(
        0.0, ge=0, description="the least change of early_stopping_metric that counts as an improvement"
    )
    early_stopping_metric: str = Field(
        "eval_loss",
        min_length=1,
        max_length=200,
        description="the logged evaluation metric early stopping watches (eval_loss, eval_rewards/accuracies...): "
        "lower is better for losses and perplexity, higher for every other",
    )

    @field_validator("early_stopping_metric")
    @classmethod
    def _eval_metric(cls, name: str) -> str:
        # The Trainer logs an evaluation's metrics behind eval_: a bare name means that one.
        name = name.strip()
        if not name or any(character.isspace() for character in name):
            raise ValueError("must name one logged evaluation metric, such as eval_loss (no spaces)")
        return name if name.startswith("eval_") else f"eval_{name}"

    @model_validator(mode="after")
    def _precision(self) -> TrainingSettings:
        if self.fp16 and self.bf16:
            raise IncompatibleConfigError(
                "training.fp16 and training.bf16 cannot both be on: choose one "
                "(bf16 on Ampere or newer GPUs, fp16 on older ones)."
            )
        return self

    _liger = field_validator("use_liger_kernel", mode="before")(_switch_or_auto)

    @model_validator(mode="after")
    def _liger_installed(self) -> TrainingSettings:
        if self.use_liger_kernel is True and not _installed("liger_kernel"):
            raise IncompatibleConfigError(
                "training.use_liger_kernel is on but liger-kernel is not installed: pip install 'tuitune[gpu]' "
                "on a machine with a CUDA GPU, or set it to auto."
            )
        return self

    @model_validator(mode="after")
    def _reporters_installed(self) -> TrainingSettings:
        special = [name for name in self.report_to if name in REPORT_TO_SPECIAL]
        if special and len(self.report_to) > 1:
            raise InvalidConfigError(
                f"training.report_to: {special[0]} stands alone; list integrations, or give {special[0]} by itself."
            )
        for name in self.report_to:
            if name in REPORT_TO_SPECIAL:
                continue
            if name not in REPORTERS:
                raise InvalidConfigError(
                    f"training.report_to: {excerpt(name)} is not an integration transformers reports to; "
                    f"use {', '.join(sorted(REPORTERS))}, or none."
                )
            modules, package = REPORTERS[name]
            if modules and not any(_installed(module) for module in modules):
                raise InvalidConfigError(
                    f"training.report_to names {name}, which is not installed here: "
                    f"install it (pip install {package}) or take it out of report_to."
                )
        return self


def _installed(module: str) -> bool:
    # find_spec looks the module up without importing it (wandb alone takes a second to import).
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


Strategy = Literal["auto", "ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
MAX_PROCESSES = 64  # per machine: far above the GPUs one box holds
MAX_NODES = 1024


class DistributedSettings(_Section):
    """Training with several processes: GPUs of one machine, or several machines (accelerate launch)."""

    nproc: int | None = Field(
        None,
        ge=1,
        le=MAX_PROCESSES,
        description="processes on this machine; None: one per GPU given to the run (one on a CPU)",
    )
    strategy: Strategy = Field(
        "auto", description="ddp copies the model to every GPU; fsdp and deepspeed-zero3 shard it; auto: ddp"
    )
    nnodes: int = Field(1, ge=1, le=MAX_NODES, description="machines in the job")
    node_rank: int = Field(0, ge=0, lt=MAX_NODES, description="this machine's number in the job (0: the main one)")
    master_addr: NetworkAddress = Field("127.0.0.1", max_length=253, description="address of machine 0")
    master_port: int | None = Field(
        None, ge=1024, le=65535, description="port on machine 0; None: a free one on one machine, 29500 on several"
    )
    timeout_seconds: int = Field(
        1800, ge=10, le=86_400, description="how long a process waits for the others before the job fails"
    )

    @model_validator(mode="after")
    def _group(self) -> DistributedSettings:
        if self.node_rank >= self.nnodes:
            raise InvalidConfigError(
                f"distributed.node_rank is {self.node_rank} but the job has {self.nnodes} machine(s): "
                "number them from 0 to nnodes-1."
            )
        if self.strategy.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
            raise IncompatibleConfigError(
                f"distributed.strategy {self.strategy} needs DeepSpeed: pip install deepspeed (on a machine with CUDA), "
                "or use ddp or fsdp."
            )
        return self


class EvaluationSettings(_Section):
    """How `tuitune eval` scores a run."""

    metrics: list[Metric] = Field(default_factory=lambda: list(METRICS))
    samples: int = Field(50, ge=1, description="held-out prompts to generate for")
    max_new_tokens: int = Field(64, ge=1, le=MAX_TOKENS)


class PreferenceSettings(_Section):
    """Learning from preferred and rejected answers (objectives dpo, orpo, simpo) or from answers
    labelled good or bad (kto)."""

    beta: float = Field(
        0.1,
        gt=0,
        le=MAX_BETA,
        description="how far the model may move from the reference (dpo, kto), or the weight of the odds ratio "
        "(orpo) or of the reward (simpo); lower: further",
    )
    loss_type: DpoLoss = Field(
        "sigmoid", description="dpo's loss: sigmoid (the paper's), ipo (bounded), and TRL's others"
    )
    simpo_gamma: float = Field(0.5, ge=0, le=MAX_BETA, description="simpo's target reward margin")
    desirable_weight: float = Field(1.0, gt=0, le=MAX_BETA, description="kto's weight of answers labelled good")
    undesirable_weight: float = Field(1.0, gt=0, le=MAX_BETA, description="kto's weight of answers labelled bad")
    reference: Reference = Field(
        "auto",
        description="the reference model's log-probabilities (dpo, kto): live (computed each step), precomputed "
        "(one pass before training: no reference in memory while training), or auto (precomputed with full "
        "fine-tuning; with an adapter, whose reference is the base with the adapter off, live, or precomputed when "
        "a dpo run trains more than one epoch)",
    )
    chosen_only: bool = Field(
        False, description="objective sft on a preference data set: train on its chosen answers, ignore the rejected"
    )


def _user_reward(value: list[str]) -> bool:
    return any(":" in reward for reward in value)


class GrpoSettings(_Section):
    """Reinforcement learning from rewards for the model's own completions (objective grpo)."""

    rewards: Annotated[list[str], RunsCode("reward functions from a Python file", _user_reward)] = Field(
        default_factory=lambda: ["exact_match"],
        description="reward functions: exact_match, numeric_match (against answer_column), format (format_pattern), "
        "length (target_length), or path/to/file.py:function",
    )
    reward_weights: list[float] | None = Field(None, description="one weight per reward function; None: all 1")
    answer_column: str = Field("answer", description="the column exact_match and numeric_match compare with")
    format_pattern: str = Field(
        r"^\s*\S",
        max_length=500,
        description="the regular expression a completion must match for the format reward",
    )
    target_length: int = Field(64, ge=1, le=MAX_TOKENS, description="the length reward's target, in characters")
    num_generations: int = Field(
        4, ge=2, le=MAX_GENERATIONS, description="completions sampled per prompt (they divide the effective batch)"
    )
    max_completion_length: int = Field(64, ge=1, le=MAX_TOKENS, description="tokens per sampled completion")
    temperature: float = Field(1.0, gt=0, le=10, description="sampling temperature of the completions")
    beta: float = Field(0.0, ge=0, le=MAX_BETA, description="KL penalty against the reference; 0: no reference kept")
    loss_type: GrpoLoss = Field("dapo", description="how token losses are averaged (TRL's default: dapo)")
    samples_shown: int = Field(
        2, ge=0, le=64, description="sampled completions with their rewards written as events per log"
    )

    @field_validator("rewards")
    @classmethod
    def _known_rewards(cls, rewards: list[str]) -> list[str]:
        if not rewards:
            raise ValueError(f"lists no reward function: name one of {', '.join(BUILTIN_REWARDS)} or file.py:function")
        for reward in rewards:
            if ":" not in reward and reward not in BUILTIN_REWARDS:
                close = difflib.get_close_matches(reward, BUILTIN_REWARDS, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ValueError(
                    f"{excerpt(reward)} is not a reward function{hint}: use {', '.join(BUILTIN_REWARDS)}, "
                    "or path/to/file.py:function"
                )
        return rewards

    @field_validator("format_pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"is not a regular expression ({error})") from None
        return pattern

    @model_validator(mode="after")
    def _weights(self) -> GrpoSettings:
        if self.reward_weights is not None and len(self.reward_weights) != len(self.rewards):
            raise InvalidConfigError(
                f"grpo.reward_weights has {len(self.reward_weights)} weights for {len(self.rewards)} reward "
                "functions: give one per function, or leave it out."
            )
        return self


# When a message is sent: a run's endings, a sweep's last run ending, the queue running dry.
Ending = Literal["completed", "failed", "cancelled", "crashed", "sweep", "queue"]
ENDINGS: tuple[str, ...] = get_args(Ending)
NotifyStyle = Literal["auto", "json", "slack", "ntfy"]


class NotifySettings(_Section):
    """A message to a webhook when the run ends (see also `--notify` and `tuitune notify set`)."""

    webhook: WebhookUrl | None = Field(
        None, max_length=2048, description="URL to POST to when the run ends; None: the store's default, if set"
    )
    style: NotifyStyle = Field(
        "auto", description="the body's shape: json, slack ({text}), ntfy (plain text); auto: read from the URL"
    )
    on: list[Ending] = Field(
        default_factory=lambda: cast(list[Ending], list(ENDINGS)), description="which endings send a message"
    )


Backend = Literal["local", "slurm"]
BACKENDS: tuple[str, ...] = get_args(Backend)
# SLURM's names (partitions, accounts, QOS) and sizes as `sbatch` reads them; checked here so a bad
# one is refused when the run is created, not by sbatch on the login node a moment later.
_SLURM_NAME = r"^[A-Za-z0-9_.+-]{1,64}$"
# minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS (sbatch --time)
_SLURM_TIME = r"^(\d{1,6}|\d{1,6}:\d{1,2}|\d{1,6}:\d{1,2}:\d{1,2}|\d{1,3}-\d{1,2}(:\d{1,2}){0,2})$"
_SLURM_MEMORY = r"^\d{1,9}[KMGT]?$"
MAX_SLURM_LINES = 32


def slurm_seconds(limit: str) -> int:
    """An sbatch `--time` as seconds (`90` is minutes, `1:30:00` an hour and a half, `2-12` days-hours)."""
    days, _, rest = limit.rpartition("-")
    parts = [int(part) for part in rest.split(":")]
    if days:
        hours, minutes, seconds = (parts + [0, 0])[:3]
        return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds
    if len(parts) == 1:
        return parts[0] * 60
    if len(parts) == 2:
        return parts[0] * 60 + parts[1]
    return (parts[0] * 60 + parts[1]) * 60 + parts[2]


def _one_line(lines: list[str]) -> list[str]:
    for line in lines:
        if "\n" in line or "\r" in line or has_control_characters(line):
            raise ValueError("each line is one line: no newlines or control characters")
    return lines


class SlurmSettings(_Section):
    """What a run asks SLURM for when it trains as a job (backend slurm): `sbatch`'s options."""

    partition: Optional[str] = Field(
        None, pattern=_SLURM_NAME, description="sbatch --partition; None: the cluster's default"
    )
    account: Optional[str] = Field(None, pattern=_SLURM_NAME, description="sbatch --account; None: yours by default")
    qos: Optional[str] = Field(None, pattern=_SLURM_NAME, description="sbatch --qos; None: the partition's default")
    time_limit: Optional[str] = Field(
        None, pattern=_SLURM_TIME, description="sbatch --time (90, 1:30:00, 2-00:00:00); None: the partition's limit"
    )
    nodes: int = Field(1, ge=1, le=MAX_NODES, description="machines of the job; the group is started on each")
    gpus_per_node: int = Field(0, ge=0, le=MAX_PROCESSES, description="GPUs per machine (sbatch --gres=gpu:N)")
    tasks_per_node: Optional[int] = Field(
        None, ge=1, le=MAX_PROCESSES, description="processes per machine; None: one per GPU (one without GPUs)"
    )
    cpus_per_task: Optional[int] = Field(
        None, ge=1, le=4096, description="sbatch --cpus-per-task; None: SLURM's default"
    )
    memory: Optional[str] = Field(
        None, pattern=_SLURM_MEMORY, description="memory per machine (sbatch --mem: 64G); None: SLURM's default"
    )
    warn_seconds: int = Field(
        120, ge=10, le=86_400, description="how long before the time limit SLURM warns the run, which then checkpoints"
    )
    resubmit: int = Field(
        0, ge=0, le=100, description="times a run that reaches its time limit goes back in SLURM's queue on its own"
    )
    extra_sbatch: Annotated[list[str], RunsCode("#SBATCH lines of the job script", bool)] = Field(
        default_factory=list,
        max_length=MAX_SLURM_LINES,
        description="more sbatch options, one per line (--constraint=a100)",
    )
    setup: Annotated[list[str], RunsCode("shell lines on the cluster", bool)] = Field(
        default_factory=list,
        max_length=MAX_SLURM_LINES,
        description="shell lines run before training (module load cuda; source ~/venv/bin/activate)",
    )

    @field_validator("extra_sbatch", "setup")
    @classmethod
    def _lines(cls, lines: list[str]) -> list[str]:
        return _one_line(lines)

    @field_validator("extra_sbatch")
    @classmethod
    def _options(cls, lines: list[str]) -> list[str]:
        for line in lines:
            if not line.startswith("-"):
                raise ValueError(f"{shorten(line)!r} is not an sbatch option: write it as --name=value")
        return lines

    @model_validator(mode="after")
    def _warned_in_time(self) -> SlurmSettings:
        if self.time_limit is not None and self.warn_seconds >= slurm_seconds(self.time_limit):
            raise InvalidConfigError(
                f"slurm.warn_seconds ({self.warn_seconds}) is not shorter than slurm.time_limit ({self.time_limit}): "
                "the run would be warned before it starts; lower warn_seconds or raise the limit."
            )
        return self


class RunConfig(_Section):
    """Everything one run needs; `config.yaml` in the run's folder is one of these."""

    name: str | None = Field(None, description="None: made from model, method and date")
    method: Method = "lora"
    objective: Objective = Field("sft", description="what the weights learn from")
    model: ModelSettings = Field(default_factory=ModelSettings)
    data: DataSettings = Field(default_factory=DataSettings)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    distributed: DistributedSettings = Field(default_factory=DistributedSettings)
    preference: PreferenceSettings = Field(default_factory=PreferenceSettings)
    grpo: GrpoSettings = Field(default_factory=GrpoSettings)
    merge_after_training: bool = Field(False, description="merge the adapter into the base when training completes")
    notify: NotifySettings = Field(default_factory=NotifySettings)
    backend: Optional[Backend] = Field(
        None, description="where it trains: local (this machine's queue) or slurm (a job); None: the store's default"
    )
    slurm: SlurmSettings = Field(default_factory=SlurmSettings)

    # What validation changed on the user's behalf, said back to them (never saved).
    _notes: list[str] = PrivateAttr(default_factory=list)

    @field_validator("name")
    @classmethod
    def _printable_name(cls, name: str | None) -> str | None:
        # A run's name is shown in every list, title and log line: an ESC in it would reach the
        # terminal as an escape sequence, a newline would break the line.
        if name is not None and has_control_characters(name):
            raise ValueError("a run name cannot hold control characters (tabs, newlines, escapes): choose another name")
        return name

    @model_validator(mode="after")
    def _method_rules(self) -> RunConfig:
        if self.method == "full_finetuning" and (self.model.load_in_4bit or self.model.load_in_8bit):
            raise IncompatibleConfigError(
                "full_finetuning cannot train a 4-bit or 8-bit quantized model: "
                "turn off model.load_in_4bit/load_in_8bit, or use method qlora."
            )
        if self.method == "qlora" and not self.model.load_in_4bit:
            # Bypass validate_assignment re-entering this validator.
            object.__setattr__(self.model, "load_in_4bit", True)
            if self.model.load_in_8bit:
                object.__setattr__(self.model, "load_in_8bit", False)
            self._notes.append("method qlora loads the model in 4-bit: model.load_in_4bit turned on.")
        if self.method == "qlora" and self.distributed.strategy in ("fsdp", "deepspeed-zero3"):
            raise IncompatibleConfigError(
                f"qlora with distributed.strategy {self.distributed.strategy} is not supported by tuitune yet: "
                "use strategy ddp (each GPU holds the 4-bit base), or method lora with fsdp."
            )
        if self.method == "instruction_tuning" and self.data.format not in ("auto", "alpaca"):
            raise IncompatibleConfigError(
                f"instruction_tuning trains on alpaca-style data, but data.format is {self.data.format!r}: "
                "use format auto or alpaca, or method lora for other formats."
            )
        return self

    @model_validator(mode="after")
    def _objective_rules(self) -> RunConfig:
        if self.objective != "sft" and self.method == "instruction_tuning":
            raise IncompatibleConfigError(
                f"instruction_tuning is supervised (alpaca answers), but objective is {self.objective}: "
                "use method lora, qlora or full_finetuning with it."
            )
        if (
            self.data.format != "auto"
            and self.data.format not in OBJECTIVE_FORMATS[self.objective]
            and not (self.objective == "sft" and self.preference.chosen_only and self.data.format == "preference")
        ):
            raise IncompatibleConfigError(
                f"objective {self.objective} learns from {_OBJECTIVE_DATA[self.objective]}, but data.format is "
                f"{self.data.format!r}: use format auto or {' or '.join(OBJECTIVE_FORMATS[self.objective])}."
            )
        if self.objective in PREFERENCE_OBJECTIVES and self.training.fp16:
            raise IncompatibleConfigError(
                f"training.fp16 with objective {self.objective} is prone to NaN losses (its log-probability "
                "ratios overflow half precision): use bf16 (Ampere or newer GPUs), or leave the precision automatic "
                "(fp32 where bf16 is missing)."
            )
        if self.preference.chosen_only and self.objective != "sft":
            raise IncompatibleConfigError(
                f"preference.chosen_only trains objective sft on the chosen answers, but objective is "
                f"{self.objective}: turn it off, or use objective sft."
            )
        return self

    @model_validator(mode="after")
    def _early_stopping_evaluates(self) -> RunConfig:
        if self.training.early_stopping_patience is not None and self.data.validation_split <= 0:
            raise IncompatibleConfigError(
                "training.early_stopping_patience watches evaluations, but data.validation_split is 0 (nothing "
                "held out to evaluate on): set data.validation_split (0.1 holds out a tenth), or turn early "
                "stopping off."
            )
        if self.training.early_stopping_patience is None:
            default = TrainingSettings()
            changed = [
                f"training.{key}"
                for key in ("early_stopping_threshold", "early_stopping_metric")
                if getattr(self.training, key) != getattr(default, key)
            ]
            if changed:
                self._notes.append(
                    f"early stopping is off (no training.early_stopping_patience): {', '.join(changed)} change nothing."
                )
        return self

    @model_validator(mode="after")
    def _unused_sections(self) -> RunConfig:
        for key in unused_settings(self):
            section, _, name = key.partition(".")
            given = getattr(self, section)
            default = type(given)()
            names = [name] if name else list(type(given).model_fields)
            changed = [field for field in names if getattr(given, field) != getattr(default, field)]
            if not changed:
                continue
            if name:  # one key of a section the rest of which is used
                reader = f"objective {self.objective}"
                self._notes.append(f"{reader} does not use {key}: it changes nothing.")
                continue
            keys = ", ".join(f"{section}.{field}" for field in changed)
            reader = (
                f"method {self.method}"
                if section in UNUSED_BY_METHOD.get(self.method, ())
                else (f"objective {self.objective}")
            )
            self._notes.append(f"{reader} does not use the {section} settings: {keys} change nothing.")
        return self

    @property
    def notes(self) -> list[str]:
        """Adjustments validation made (e.g. qlora turning on 4-bit loading)."""
        return list(self._notes)

    @property
    def uses_adapter(self) -> bool:
        return self.method != "full_finetuning"

    # --- I/O ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: str | Path) -> Path:
        """Write YAML (or JSON for a `.json` path); `load_config` reads it back unchanged."""
        path = Path(path)
        text = self.to_json() if path.suffix.lower() == ".json" else self.to_yaml()
        try:
            if path.is_dir():
                raise IsADirectoryError(21, "it is a folder")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + ("\n" if not text.endswith("\n") else ""), encoding="utf-8")
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a valid path"
            if isinstance(exc, (FileExistsError, NotADirectoryError)):
                reason = "a file stands where a folder of that path should be"
            raise OutputNotWritableError(
                f"Cannot write the configuration to {shorten(path)} ({reason}): give a file path such as run.yaml "
                "in a folder you can write to."
            ) from None
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> RunConfig:
        return parse_config(data, source)


# The sections of the configuration a method does not read: a setting there changes nothing.
UNUSED_BY_METHOD: dict[str, tuple[str, ...]] = {"full_finetuning": ("lora",)}
# What data each objective learns from, in the words its refusals use.
_OBJECTIVE_DATA = {
    "sft": "prompts with answers",
    "dpo": "pairs of a chosen and a rejected answer",
    "orpo": "pairs of a chosen and a rejected answer",
    "simpo": "pairs of a chosen and a rejected answer",
    "kto": "answers labelled good or bad",
    "grpo": "prompts (and the columns its rewards read)",
}
# The settings (sections, or section.key) each objective does not read.
UNUSED_BY_OBJECTIVE: dict[str, tuple[str, ...]] = {
    "sft": (
        "grpo",
        "preference.beta",
        "preference.loss_type",
        "preference.simpo_gamma",
        "preference.desirable_weight",
        "preference.undesirable_weight",
        "preference.reference",
    ),
    "dpo": (
        "grpo",
        "preference.simpo_gamma",
        "preference.desirable_weight",
        "preference.undesirable_weight",
        "preference.chosen_only",
    ),
    "kto": ("grpo", "preference.loss_type", "preference.simpo_gamma", "preference.chosen_only"),
    "orpo": (
        "grpo",
        "preference.loss_type",
        "preference.simpo_gamma",
        "preference.desirable_weight",
        "preference.undesirable_weight",
        "preference.reference",
        "preference.chosen_only",
    ),
    "simpo": (
        "grpo",
        "preference.loss_type",
        "preference.desirable_weight",
        "preference.undesirable_weight",
        "preference.reference",
        "preference.chosen_only",
    ),
    "grpo": ("preference",),
}


def unused_sections(config: RunConfig) -> tuple[str, ...]:
    """The top-level sections `config`'s method and objective ignore (full fine-tuning trains no
    adapter; only grpo reads the grpo settings)."""
    return tuple(key for key in unused_settings(config) if "." not in key)


def unused_settings(config: RunConfig) -> tuple[str, ...]:
    """Every setting `config` ignores: whole sections (`lora`) and single keys (`preference.simpo_gamma`)."""
    local = ("slurm",) if config.backend == "local" else ()
    return (*UNUSED_BY_METHOD.get(config.method, ()), *UNUSED_BY_OBJECTIVE.get(config.objective, ()), *local)


def is_unused(config: RunConfig, key: str) -> bool:
    """Whether the dotted `key` changes nothing for `config`'s method and objective."""
    return any(key == unused or key.startswith(unused + ".") for unused in unused_settings(config))


def effective_settings(config: RunConfig) -> dict[str, Any]:
    """What a run really trains with: the configuration without its name and the settings its
    method and objective ignore. Two configurations with the same effective settings train the same run."""
    data = {key: value for key, value in config.to_dict().items() if key != "name"}
    for key in unused_settings(config):
        section, _, name = key.partition(".")
        if name:
            data.get(section, {}).pop(name, None)
        else:
            data.pop(section, None)
    return data


# --- what every face derives from the models ---------------------------------------------------
def config_field(key: str) -> Any:
    """The pydantic field behind a dotted config key (`training.learning_rate`)."""
    model: type[BaseModel] = RunConfig
    parts = key.split(".")
    for part in parts[:-1]:
        model = cast("type[BaseModel]", model.model_fields[part].annotation)  # a section
    return model.model_fields[parts[-1]]


def key_choices(key: str) -> tuple[str, ...]:
    """The values a config key allows when they are a fixed list (a `Literal`), else ()."""
    annotation = config_field(key).annotation
    if get_origin(annotation) is Union:
        annotation = next((arg for arg in get_args(annotation) if get_origin(arg) is Literal), annotation)
    return tuple(str(value) for value in get_args(annotation)) if get_origin(annotation) is Literal else ()


@dataclass(frozen=True)
class Limits:
    """A numeric key's bounds, as its pydantic field declares them."""

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False


def key_limits(key: str) -> Limits:
    """The bounds (`ge`, `gt`, `le`, `lt`) of a numeric config key."""
    return field_limits(config_field(key))


def field_limits(field: Any) -> Limits:
    """The bounds (`ge`, `gt`, `le`, `lt`) a pydantic field declares."""
    found: dict[str, Any] = {}
    for rule in field.metadata:
        for attribute, (bound, exclusive) in {
            "ge": ("minimum", False),
            "gt": ("minimum", True),
            "le": ("maximum", False),
            "lt": ("maximum", True),
        }.items():
            value = getattr(rule, attribute, None)
            if value is not None:
                found[bound] = value
                found[f"exclusive_{bound}"] = exclusive
    return Limits(**found)


def parse_config(data: Any, source: str = "config") -> RunConfig:
    """Validate a mapping into a `RunConfig`, turning pydantic's errors into one clear line."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidConfigError(f"{source} must be a mapping of settings, not {type(data).__name__}.")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, source) from None
    except (InvalidConfigError, IncompatibleConfigError, MissingConfigError):
        raise


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML or JSON run configuration."""
    path = Path(path)
    shown = shorten(path)
    try:
        if path.is_dir():
            raise MissingConfigError(f"{shown} is a folder, not a config file: give the YAML or JSON file in it.")
        if not path.is_file():
            raise MissingConfigError(f"Config file {shown} does not exist: check the path.")
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:  # before reading it: the file may be huge
            raise _too_big(shown, size)
        raw = path.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a valid path"
        raise MissingConfigError(
            f"Config file {shown} cannot be read ({reason}): check the path and its permissions."
        ) from None
    return config_from_text(raw, shown, json_file=path.suffix.lower() == ".json")


def config_from_text(raw: bytes | str, shown: str, *, json_file: bool = False) -> RunConfig:
    """A config file's contents (YAML, or JSON when `json_file`) as a `RunConfig`, refused in the
    words `load_config` uses for a file named `shown` (the dashboard's upload reads a file's text)."""
    # Text is checked as its bytes would be (a lone surrogate is then not UTF-8, a NUL is refused).
    encoded = raw.encode("utf-8", errors="surrogatepass") if isinstance(raw, str) else raw
    if len(encoded) > MAX_CONFIG_BYTES:
        raise _too_big(shown, len(encoded))
    text = decode_text(encoded, shown, InvalidConfigError)
    language = "JSON" if json_file else "YAML"
    try:
        data = json.loads(text) if language == "JSON" else _load_yaml(text)
    except RecursionError:
        raise InvalidConfigError(
            f"{shown} is nested too deeply to be a run configuration: check that it is the right file."
        ) from None
    except ValueError as exc:
        if "integer string conversion" not in str(exc):  # json.JSONDecodeError: it says where
            raise InvalidConfigError(f"{shown} is not valid {language}: {exc}.") from None
        raise InvalidConfigError(f"{shown} holds a number of more than 4,300 digits: fix that value.") from None
    except Exception as exc:  # yaml.YAMLError: the parser says where
        raise InvalidConfigError(f"{shown} is not valid {language}: {exc}") from None
    return parse_config(data, shown)


def _too_big(shown: str, size: int) -> InvalidConfigError:
    return InvalidConfigError(
        f"{shown} is {size:,} bytes, too big for a run configuration "
        f"(at most {MAX_CONFIG_BYTES:,}): check that it is the right file."
    )


def _load_yaml(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=_yaml_loader())


@functools.lru_cache(maxsize=1)
def _yaml_loader() -> Any:
    """PyYAML's safe loader, refusing aliases: tuitune never writes them, and a few hundred bytes
    of nested aliases expand to gigabytes (the "billion laughs")."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    "aliases (*name) are not allowed in a run configuration: write the value out",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)

    return NoAliasLoader


def _section_for(loc: tuple[Any, ...]) -> type[BaseModel]:
    model: type[BaseModel] = RunConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            break
    return model


def _key_parts(error: Any) -> tuple[Any, ...]:
    """An error's location as config keys: without the union arms pydantic names
    (`function-after[_not_a_url(), str]`, `list[...]`, `str`), which are not keys. The key an
    unknown-key error names is the user's own, whatever it looks like, and always kept."""
    loc = tuple(error.get("loc", ()))
    kept = loc[-1:] if error.get("type") == "extra_forbidden" else ()
    body = loc[: len(loc) - len(kept)]
    return tuple(part for part in body if not (isinstance(part, str) and _UNION_ARM.match(part))) + kept


_UNION_ARM = re.compile(r"^([a-z][a-z-]*\[.*\]|str|int|float|bool|none)$")


def _chosen_error(exc: ValidationError) -> Any:
    """The error to tell: the first, unless a union field (`str | list[str]`) failed in several arms
    and one of them is our own validator's reason (a URL in a list), which says more than "not a string"."""
    errors = exc.errors()
    key = _key_parts(errors[0])
    ours = [e for e in errors if e["type"] == "value_error" and _key_parts(e)[: len(key)] == key]
    return ours[0] if ours else errors[0]


def _explain(exc: ValidationError, source: str) -> Exception:
    """The first problem, named by its dotted key, with what is allowed (the key also as `.field`)."""
    error = _first_problem(exc, source)
    loc = _key_parts(_chosen_error(exc))
    if isinstance(error, ConfigError):
        error.field = ".".join(str(p) for p in loc) or None
    return error


def _some(keys: list[str], room: int = 240) -> str:
    """As many of `keys` as fit one error line, and how many more there are (a section such as
    `training` has dozens: the README's run configuration lists them all)."""
    shown: list[str] = []
    for key in keys:
        if len(", ".join([*shown, key])) > room:
            return f"{', '.join(shown)} and {len(keys) - len(shown)} more (the README's 'The run configuration')"
        shown.append(key)
    return ", ".join(shown)


def _first_problem(exc: ValidationError, source: str) -> Exception:
    error = _chosen_error(exc)
    loc = _key_parts(error)
    key = ".".join(str(p) for p in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        section = _section_for(loc)
        valid = list(section.model_fields)
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f" Did you mean {'.'.join([*map(str, loc[:-1]), close[0]])!r}?" if close else ""
        return InvalidConfigError(f"Unknown key {excerpt(key)} in {source}.{hint} Valid keys here: {_some(valid)}.")
    ctx_error = (error.get("ctx") or {}).get("error")
    if isinstance(ctx_error, (InvalidConfigError, IncompatibleConfigError, MissingConfigError)):
        return ctx_error
    message = error.get("msg", "invalid value")
    if error["type"] == "value_error" and ctx_error is not None:
        message = str(ctx_error)  # our own validators' words, without pydantic's "Value error, "
    if error["type"] == "literal_error":
        expected = (error.get("ctx") or {}).get("expected", "")
        message = f"must be one of {expected}"
    given = error.get("input")
    # A URL given is said by its host alone: a webhook's (or a signed link's) path is a password.
    shown = (
        "" if isinstance(given, dict) else f" (got {redact_url(given) if looks_like_url(given) else excerpt(given)})"
    )
    return InvalidConfigError(f"{shorten(key)} in {source}: {message}{shown}.")


def demo_dataset(objective: str = "sft") -> str:
    """The bundled set the demo of `objective` learns from (`tuitune/sample` for sft)."""
    if objective == "grpo":
        return SAMPLE_PROMPTS
    return SAMPLE_PREFERENCE if objective in PREFERENCE_OBJECTIVES else SAMPLE_DATASET


# What an objective's demo needs beyond its data to learn on the tiny random demo model, as dotted
# keys. GRPO's default reward (exact_match) is never met by a random model, so it would learn
# nothing: its demo rewards a completion that starts with a digit, which the model learns within
# 40 steps (docs/objectives.md, "An example").
_DEMO_SETTINGS: dict[str, dict[str, Any]] = {
    "grpo": {
        "method": "full_finetuning",
        "grpo.rewards": ["format"],
        "grpo.format_pattern": r"^\d",
        "grpo.num_generations": 8,
        "grpo.max_completion_length": 4,
        "training.max_steps": 40,
        "training.batch_size": 16,
        "training.learning_rate": 3e-2,
        "training.lr_scheduler": "linear",
        "training.warmup_ratio": 0.0,
    }
}


def demo_settings(objective: str, given: Collection[str] = ()) -> dict[str, Any]:
    """The dotted settings the demo of `objective` learns with, less those the user `given` (a
    given `training.epochs` keeps the demo's step budget out too: max_steps would override it)."""
    settings = dict(_DEMO_SETTINGS.get(objective, {}))
    if "training.epochs" in given:
        settings.pop("training.max_steps", None)
    return {key: value for key, value in settings.items() if key not in given}


def _dotted_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in data.items():
        keys.append(prefix + key)
        if isinstance(value, dict):
            keys.extend(_dotted_keys(value, f"{prefix}{key}."))
    return keys


class ConfigBuilder:
    """Fluent construction for the Python API: `ConfigBuilder().model("gpt2").lora(r=16).build()`."""

    def __init__(self, base: RunConfig | None = None) -> None:
        self._data: dict[str, Any] = base.to_dict() if base else {}

    def _section(self, name: str, values: dict[str, Any]) -> ConfigBuilder:
        self._data.setdefault(name, {}).update(values)
        return self

    def name(self, name: str) -> ConfigBuilder:
        self._data["name"] = name
        return self

    def method(self, method: str) -> ConfigBuilder:
        self._data["method"] = method
        return self

    def model(self, name_or_path: str | None = None, **options: Any) -> ConfigBuilder:
        if name_or_path is not None:
            options["name_or_path"] = name_or_path
        return self._section("model", options)

    def demo(self, objective: str | None = None) -> ConfigBuilder:
        """The built-in demo model and the bundled set the objective learns from (`demo("dpo")`:
        objective dpo on `tuitune/sample-preference`; without one, the objective set so far, sft
        by default, on `tuitune/sample`), with the settings its demo learns with (`demo_settings`)
        where none were given before."""
        if objective is not None:
            self._data["objective"] = objective
        chosen = str(self._data.get("objective") or "sft")
        self._section("model", {"name_or_path": DEMO_MODEL})
        self._section("data", {"source": demo_dataset(chosen)})
        for key, value in demo_settings(chosen, _dotted_keys(self._data)).items():
            *sections, last = key.split(".")
            target = self._data
            for section in sections:
                target = target.setdefault(section, {})
            target[last] = value
        return self

    def data(self, source: str | None = None, **options: Any) -> ConfigBuilder:
        if source is not None:
            options["source"] = source
        return self._section("data", options)

    def lora(self, **options: Any) -> ConfigBuilder:
        return self._section("lora", options)

    def training(self, **options: Any) -> ConfigBuilder:
        return self._section("training", options)

    def evaluation(self, **options: Any) -> ConfigBuilder:
        return self._section("evaluation", options)

    def objective(self, objective: str, **options: Any) -> ConfigBuilder:
        """What the weights learn from (`dpo`, `grpo`, ...), with that objective's settings."""
        self._data["objective"] = objective
        if options:
            self._section("grpo" if objective == "grpo" else "preference", options)
        return self

    def merge_after_training(self, merge: bool = True) -> ConfigBuilder:
        self._data["merge_after_training"] = merge
        return self

    def build(self) -> RunConfig:
        return parse_config(self._data, "ConfigBuilder")
