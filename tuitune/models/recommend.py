"""Pick a fine-tuning method and settings for a model on this machine's GPU (or a given one).

The decision follows model size and GPU memory, row by row (memory in GB, 5% slack so a card sold
as 16 GB that reports 15.9 GiB still counts as 16):

| parameters | GPU memory | method                                   |
| ---------- | ---------- | ---------------------------------------- |
| > 7B       | any        | qlora, r 16, gradient checkpointing      |
| > 1B       | >= 16      | lora, r 16                               |
| > 1B       | < 16       | qlora, r 8, gradient checkpointing       |
| > 300M     | >= 8       | lora, r 8                                |
| > 300M     | < 8        | lora, r 4                                |
| <= 300M    | >= 4       | lora, r 8                                |
| <= 300M    | < 4        | full_finetuning                          |

With no GPU the smallest-memory row applies (training runs on the CPU). The batch size is the
largest power of two up to 16 whose memory estimate fits; if none does, gradient checkpointing is
turned on, and failing that batch size 1 is recommended with a warning in the reason.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuitune.bundled import SAMPLE_DATASETS
from tuitune.config import DEMO_MODEL, SAMPLE_DATASET, RunConfig, parse_config
from tuitune.errors import DatasetNotFoundError, UsageError
from tuitune.models.demo import sample_dataset_path
from tuitune.models.inspect import ModelInfo, describe_model
from tuitune.models.memory import ESTIMATED_METHODS, MemoryEstimate, estimate_memory, per_gpu_gb
from tuitune.system.gpu import total_vram_gb, visible_gpus
from tuitune.text.user_text import path_problem, shorten

BILLION = 1_000_000_000
MILLION = 1_000_000
_SLACK = 0.95  # a threshold of 16 GB is met by 15.2 GB and more
_BATCH_SIZES = (16, 8, 4, 2, 1)
DEFAULT_MAX_LENGTH = 512
_CHARS_PER_TOKEN = 3.5  # a rough average for English text with BPE tokenizers


@dataclass(frozen=True)
class Recommendation:
    """What to train with, and why."""

    model: str
    parameters: int
    vram_gb: float | None  # None: no GPU detected or given, so training is assumed on the CPU
    method: str
    lora_r: int | None  # None for full_finetuning
    batch_size: int
    gradient_checkpointing: bool
    max_length: int
    estimated_memory_gb: dict[str, float]  # total per method, at these settings
    reason: str
    dataset: str | None = None
    vram_source: str = "given"  # given, detected, or none
    fits: bool = True
    estimates: dict[str, MemoryEstimate] = field(default_factory=dict)
    gpus: int = 1  # GPUs to train on together
    strategy: str | None = None  # ddp, fsdp… with several GPUs; None with one
    per_gpu_gb: float | None = None  # each GPU's share of the estimate under `strategy`
    objective: str = "sft"  # what the run learns from (pairs double the activations)

    @property
    def device(self) -> str:
        return "cpu" if self.vram_gb is None else "gpu"

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["device"] = self.device
        document["estimated_memory_gb"] = {k: round(v, 2) for k, v in self.estimated_memory_gb.items()}
        return document

    def to_config(self) -> RunConfig:
        """A run configuration `tuitune train --config` accepts: this model, method and settings."""
        r = self.lora_r or 8
        data: dict[str, Any] = {"max_length": self.max_length}
        if self.dataset:
            data["source"] = self.dataset
        return parse_config(
            {
                "method": self.method,
                "objective": self.objective,
                "model": {"name_or_path": self.model, "load_in_4bit": self.method == "qlora"},
                "data": data,
                "lora": {"r": r, "alpha": 2 * r},
                "training": {"batch_size": self.batch_size, "gradient_checkpointing": self.gradient_checkpointing},
                "distributed": {"nproc": self.gpus, "strategy": self.strategy} if self.strategy else {},
            },
            "recommendation",
        )


def _meets(vram_gb: float | None, threshold: float) -> bool:
    return vram_gb is not None and vram_gb >= threshold * _SLACK


def _size(parameters: int) -> str:
    if parameters >= BILLION:
        return f"{parameters / BILLION:.1f}B"
    if parameters >= MILLION:
        return f"{parameters / MILLION:.0f}M"
    return f"{parameters / 1000:.0f}K"


def choose_method(parameters: int, vram_gb: float | None) -> tuple[str, int | None, bool, str]:
    """The decision table: (method, lora r, gradient checkpointing, why) for a size and GPU memory."""
    if parameters > 7 * BILLION:
        return (
            "qlora",
            16,
            True,
            "only QLoRA (4-bit weights, rank-16 adapters, gradient checkpointing) fits a model over 7B on one GPU",
        )
    if parameters > BILLION:
        if _meets(vram_gb, 16):
            return (
                "lora",
                16,
                False,
                "LoRA rank 16 on 16-bit weights fits a 1-7B model in 16 GB or more and trains faster than QLoRA",
            )
        return (
            "qlora",
            8,
            True,
            "QLoRA rank 8 with gradient checkpointing keeps a 1-7B model's weights at 4 bits to fit under 16 GB",
        )
    if parameters > 300 * MILLION:
        if _meets(vram_gb, 8):
            return "lora", 8, False, "LoRA rank 8 fits a 300M-1B model comfortably in 8 GB or more"
        return (
            "lora",
            4,
            False,
            "LoRA rank 4 keeps the adapter and its optimizer state small for a 300M-1B model under 8 GB",
        )
    if _meets(vram_gb, 4):
        return "lora", 8, False, "LoRA rank 8 trains a model under 300M quickly and leaves the base model untouched"
    return (
        "full_finetuning",
        None,
        False,
        "a model under 300M is small enough to fine-tune fully, which learns the most per step",
    )


def choose_strategy(estimate: MemoryEstimate, method: str, gpus: int, vram_gb: float) -> tuple[str, float, str]:
    """(strategy, per-GPU GB, why) for `gpus` GPUs: DDP when a whole copy fits each GPU (the
    fastest), else FSDP, which shards weights, gradients and optimizer state across them."""
    ddp = per_gpu_gb(estimate, "ddp", gpus)
    if ddp <= vram_gb * _SLACK or method == "qlora":
        because = (
            "QLoRA runs with DDP only" if method == "qlora" and ddp > vram_gb * _SLACK else "a whole copy fits each GPU"
        )
        return "ddp", ddp, f"ddp ({because}), about {ddp:.1f} GB per GPU"
    fsdp = per_gpu_gb(estimate, "fsdp", gpus)
    return "fsdp", fsdp, f"fsdp (a whole copy would need {ddp:.1f} GB per GPU; sharded, about {fsdp:.1f} GB)"


def reference_copy(method: str, objective: str, *, reference: str = "auto", grpo_beta: float = 0.0) -> bool:
    """Whether `objective` keeps a second copy of the model as its reference: only full fine-tuning
    does (an adapter's reference is the base with the adapter off), for dpo and kto when the
    reference is live (auto precomputes it), and for grpo with a KL penalty."""
    if method != "full_finetuning":
        return False
    if objective in ("dpo", "kto"):
        return reference == "live"
    return objective == "grpo" and grpo_beta > 0


def _estimates(
    info: ModelInfo,
    *,
    batch_size: int,
    max_length: int,
    lora_r: int | None,
    checkpointing: bool,
    dtype_bytes: int,
    objective: str = "sft",
) -> dict[str, MemoryEstimate]:
    return {
        method: estimate_memory(
            info,
            method,
            batch_size=batch_size,
            max_length=max_length,
            lora_r=lora_r or 8,
            gradient_checkpointing=checkpointing,
            dtype_bytes=dtype_bytes,
            objective=objective,
            reference_copy=reference_copy(method, objective),
        )
        for method in ESTIMATED_METHODS
    }


def _text_length(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_text_length(v) for v in value.values())
    if isinstance(value, list):
        return sum(_text_length(v) for v in value)
    return 0


def dataset_max_length(dataset: str, limit: int, rows: int = 2000) -> int | None:
    """A max_length covering ~95% of a local dataset's rows, from character counts (no tokenizer).

    Returns None for Hub datasets and formats it does not read cheaply (parquet, folders).
    """
    if dataset in SAMPLE_DATASETS and dataset != SAMPLE_DATASET:
        return None  # generated when read, not a file to measure
    if dataset == SAMPLE_DATASET:
        path = sample_dataset_path()
    else:
        problem = path_problem(dataset)
        if problem is not None:
            raise DatasetNotFoundError(f"Dataset {shorten(dataset)} cannot be opened ({problem}): check the path.")
        path = Path(dataset).expanduser()
        if not path.exists():
            if dataset.startswith(("/", ".", "~")) or Path(dataset).suffix in (
                ".json",
                ".jsonl",
                ".csv",
                ".tsv",
                ".txt",
            ):
                raise DatasetNotFoundError(f"Dataset {shorten(dataset)} does not exist: check the path.")
            return None  # a Hub id: measuring it would mean downloading it
    if not path.is_file():
        return None
    lengths: list[int] = []
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            suffix = path.suffix.lower()
            if suffix == ".jsonl":
                for line in handle:
                    if line.strip():
                        lengths.append(_text_length(json.loads(line)))
                    if len(lengths) >= rows:
                        break
            elif suffix == ".json":
                document = json.load(handle)
                records = (
                    document
                    if isinstance(document, list)
                    else next((v for v in document.values() if isinstance(v, list)), [])
                    if isinstance(document, dict)
                    else []
                )
                lengths = [_text_length(r) for r in records[:rows]]
            elif suffix in (".csv", ".tsv"):
                reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
                for record in reader:
                    lengths.append(_text_length(record))
                    if len(lengths) >= rows:
                        break
            elif suffix == ".txt":
                lengths = [len(line) for line, _ in zip(handle, range(rows)) if line.strip()]
            else:
                return None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None  # the data layer reports unreadable files properly when training starts
    if not lengths:
        return None
    lengths.sort()
    p95 = lengths[min(len(lengths) - 1, math.ceil(0.95 * len(lengths)) - 1)]
    tokens = p95 / _CHARS_PER_TOKEN + 32  # + the prompt template's markers
    return int(min(max(64, math.ceil(tokens / 64) * 64), limit))


def _model_name_for_config(name: str) -> str:
    # A relative folder would break once the config file is used from elsewhere.
    if name != DEMO_MODEL and Path(name).expanduser().is_dir():
        return os.path.abspath(Path(name).expanduser())
    return name


def recommend(
    model: str,
    *,
    vram_gb: float | None = None,
    dataset: str | None = None,
    max_length: int | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    detect_gpu: bool = True,
    gpus: int | None = None,
    objective: str = "sft",
) -> Recommendation:
    """Recommend a method, LoRA rank, batch size and checkpointing for `model`.

    `vram_gb`: the GPU's memory; None detects it through NVML (`detect_gpu=False` skips that), and
    with no GPU training is assumed on the CPU. `dataset` (optional) is written into the config and,
    when it is a local file, sets max_length to cover ~95% of its rows. `gpus`: how many GPUs train
    together (default: every visible one); with more than one, a strategy is picked too.
    `objective`: what the run learns from; pairs double the activations, a reference copy adds the
    model's weights (`tuitune.models.memory`).
    """
    if vram_gb is not None and vram_gb <= 0:
        raise UsageError(f"--vram must be a positive number of GB (got {vram_gb}).")
    source = "given"
    if vram_gb is None:
        vram_gb = total_vram_gb() if detect_gpu else None
        source = "detected" if vram_gb is not None else "none"
    info = describe_model(model, revision=revision, trust_remote_code=trust_remote_code)
    limit = min(info.max_position_embeddings or 4096, 4096)
    if max_length is None and dataset:
        max_length = dataset_max_length(dataset, limit)
    if max_length is None:
        max_length = min(DEFAULT_MAX_LENGTH, limit)

    method, r, checkpointing, why = choose_method(info.parameters, vram_gb)
    on_gpu = vram_gb is not None
    dtype_bytes = 2 if on_gpu else 4  # bf16/fp16 on a GPU, fp32 on a CPU

    def estimate(batch: int, gc: bool) -> dict[str, MemoryEstimate]:
        return _estimates(
            info,
            batch_size=batch,
            max_length=max_length,
            lora_r=r,
            checkpointing=gc,
            dtype_bytes=dtype_bytes,
            objective=objective,
        )

    fits = True
    note = ""
    if not on_gpu:
        batch = 4 if info.parameters <= 300 * MILLION else 1
        estimates = estimate(batch, checkpointing)
        note = f"; batch size {batch} at {max_length} tokens needs about {estimates[method].total_gb:.1f} GB of RAM"
        if info.parameters > BILLION:
            note += " (a model this size trains very slowly on a CPU)"
        reason = f"No GPU detected: assuming CPU, and for {_size(info.parameters)} parameters {why}{note}."
    else:
        assert vram_gb is not None  # on_gpu
        chosen: tuple[int, bool, dict[str, MemoryEstimate]] | None = None
        for gc in (False, True) if not checkpointing else (True,):
            for batch in _BATCH_SIZES:
                estimates = estimate(batch, gc)
                if estimates[method].total_gb <= vram_gb:
                    chosen = (batch, gc, estimates)
                    break
            if chosen:
                break
        if chosen is None:
            fits = False
            checkpointing = True
            batch, estimates = 1, estimate(1, True)
            note = (
                f"; even batch size 1 with gradient checkpointing is estimated at {estimates[method].total_gb:.1f} GB, "
                f"over the {vram_gb:.0f} GB available: use a smaller model or a shorter max_length"
            )
        else:
            batch, gc_used, estimates = chosen
            if gc_used and not checkpointing:
                checkpointing = True
                why += ", with gradient checkpointing turned on to make it fit"
            note = f"; batch size {batch} keeps the estimate at {estimates[method].total_gb:.1f} of {vram_gb:.0f} GB"
        reason = f"For {_size(info.parameters)} parameters on {vram_gb:.0f} GB, {why}{note}."

    if gpus is None:
        gpus = max(1, len(visible_gpus())) if detect_gpu and on_gpu else 1
    strategy, share = None, None
    if gpus > 1 and vram_gb is not None:
        strategy, share, how = choose_strategy(estimates[method], method, gpus, vram_gb)
        reason = f"{reason[:-1]}; on {gpus} GPUs: {how}."

    return Recommendation(
        model=_model_name_for_config(model),
        parameters=info.parameters,
        vram_gb=vram_gb,
        method=method,
        lora_r=r,
        batch_size=batch,
        gradient_checkpointing=checkpointing,
        max_length=max_length,
        estimated_memory_gb={name: e.total_gb for name, e in estimates.items()},
        reason=reason,
        dataset=dataset,
        vram_source=source,
        fits=fits,
        estimates=estimates,
        gpus=gpus,
        strategy=strategy,
        per_gpu_gb=share,
        objective=objective,
    )


__all__ = ["Recommendation", "choose_method", "choose_strategy", "dataset_max_length", "recommend"]
