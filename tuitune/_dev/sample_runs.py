"""Realistic runs written straight into a store, for screenshots, benchmarks and TUI tests.

Nothing trains here: each run gets the rows a real worker would have written (status, times,
metric points with a decaying loss, evaluations with kept samples, artifacts), deterministically,
so screenshots are the same on every machine. Light: store and config only.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tuitune.config import RunConfig
from tuitune.store import CANCELLED, COMPLETED, CRASHED, FAILED, RUNNING, Run, Store


@dataclass(frozen=True)
class RunSpec:
    name: str
    status: str
    method: str
    model: str
    dataset: str
    steps_total: int
    steps_done: int
    loss_start: float
    loss_end: float
    epochs: float = 3.0
    lora_r: int = 16
    learning_rate: float = 2e-4
    batch_size: int = 4
    minutes_ago: float = 60 * 24
    seconds_per_step: float = 0.8
    tokens_per_second: float = 2400.0
    error: str | None = None
    evaluated: bool = False
    gpu_memory_gb: float | None = 14.2


# An afternoon of fine-tuning: a few completed runs, one still training, and each way a run can stop.
SPECS: tuple[RunSpec, ...] = (
    RunSpec(
        "qwen-support-lora",
        COMPLETED,
        "lora",
        "Qwen/Qwen2.5-0.5B-Instruct",
        "data/support-tickets.jsonl",
        900,
        900,
        2.41,
        0.92,
        minutes_ago=60 * 30,
        evaluated=True,
        tokens_per_second=5200,
    ),
    RunSpec(
        "qwen-support-r32",
        COMPLETED,
        "lora",
        "Qwen/Qwen2.5-0.5B-Instruct",
        "data/support-tickets.jsonl",
        900,
        900,
        2.38,
        0.85,
        lora_r=32,
        learning_rate=1e-4,
        minutes_ago=60 * 26,
        evaluated=True,
        tokens_per_second=4900,
    ),
    RunSpec(
        "llama3-8b-qlora",
        COMPLETED,
        "qlora",
        "meta-llama/Meta-Llama-3-8B",
        "yahma/alpaca-cleaned",
        2400,
        2400,
        1.78,
        1.06,
        epochs=1,
        batch_size=8,
        minutes_ago=60 * 20,
        seconds_per_step=2.9,
        tokens_per_second=1850,
    ),
    RunSpec(
        "mistral-7b-qlora",
        FAILED,
        "qlora",
        "mistralai/Mistral-7B-v0.3",
        "yahma/alpaca-cleaned",
        2400,
        312,
        1.92,
        1.41,
        epochs=1,
        batch_size=16,
        minutes_ago=60 * 8,
        seconds_per_step=3.4,
        error="CUDA out of memory at batch size 16: lower training.batch_size or turn on gradient checkpointing, then `tuitune resume 4`.",
    ),
    RunSpec(
        "smollm-full",
        CANCELLED,
        "full_finetuning",
        "HuggingFaceTB/SmolLM2-135M",
        "data/recipes.csv",
        1500,
        640,
        3.10,
        1.88,
        learning_rate=2e-5,
        minutes_ago=60 * 5,
        seconds_per_step=0.5,
        tokens_per_second=9100,
    ),
    RunSpec(
        "phi-instruct",
        CRASHED,
        "instruction_tuning",
        "microsoft/Phi-3.5-mini-instruct",
        "data/support-tickets.jsonl",
        1200,
        455,
        1.66,
        1.21,
        minutes_ago=60 * 3,
        seconds_per_step=1.6,
        error="Worker crashed (the worker process exited without reporting); see its log, then `tuitune resume 6`.",
    ),
    RunSpec(
        "demo-lora",
        COMPLETED,
        "lora",
        "tuitune/demo",
        "tuitune/sample",
        282,
        282,
        7.66,
        3.91,
        lora_r=8,
        minutes_ago=90,
        seconds_per_step=0.05,
        tokens_per_second=21000,
        evaluated=True,
        gpu_memory_gb=None,
    ),
    RunSpec(
        "qwen-support-dora",
        RUNNING,
        "lora",
        "Qwen/Qwen2.5-1.5B-Instruct",
        "data/support-tickets.jsonl",
        1800,
        1130,
        2.29,
        1.02,
        minutes_ago=18,
        seconds_per_step=0.95,
        tokens_per_second=4100,
    ),
)

_SAMPLES = (
    {
        "prompt": "My invoice shows two charges for March. What should I do?",
        "reference": "Sorry about that! Reply with the invoice number and we will refund the duplicate charge within 3 days.",
        "base": "An invoice is a document that lists goods or services. March is the third month of the year.",
        "finetuned": "Sorry about the double charge! Send us the invoice number and we will refund the duplicate within 3 days.",
    },
    {
        "prompt": "How do I reset my password?",
        "reference": "Open Settings → Account → Reset password, then follow the link we email you.",
        "base": "Passwords should be long and unique. You can use a password manager.",
        "finetuned": "Go to Settings → Account → Reset password and follow the link in the email we send you.",
    },
    {
        "prompt": "Can I move my subscription to another workspace?",
        "reference": "Yes: an admin of both workspaces can transfer it under Billing → Transfer.",
        "base": "A subscription is a recurring payment.",
        "finetuned": "Yes, an admin of both workspaces can transfer it from Billing → Transfer.",
    },
)


def _kept(sample: dict[str, str]) -> dict[str, object]:
    """A sample as `tuitune eval` keeps it: the prompt as the model read it (Qwen's chat
    template here) and as the user wrote it (its messages)."""
    question = sample["prompt"]
    return {
        **sample,
        "prompt": f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n",
        "messages": [{"role": "user", "content": question}],
    }


def _config(spec: RunSpec) -> dict:
    config = RunConfig.model_validate(
        {
            "name": spec.name,
            "method": spec.method,
            "model": {"name_or_path": spec.model, "load_in_4bit": spec.method == "qlora"},
            "data": {"source": spec.dataset, "max_length": 1024},
            "lora": {"r": spec.lora_r, "alpha": spec.lora_r * 2},
            "training": {
                "epochs": spec.epochs,
                "learning_rate": spec.learning_rate,
                "batch_size": spec.batch_size,
                "gradient_checkpointing": spec.method == "qlora",
                "logging_steps": 10,
            },
        }
    )
    return config.to_dict()


def _loss(spec: RunSpec, step: int, rng: random.Random) -> float:
    progress = step / max(spec.steps_total, 1)
    decay = spec.loss_end + (spec.loss_start - spec.loss_end) * math.exp(-4.0 * progress)
    return max(0.05, decay + rng.gauss(0, 0.04 * decay))


def add_run(
    store: Store, spec: RunSpec, *, now: datetime | None = None, seed: int = 0, output_root: str | None = None
) -> Run:
    """One run with its metric points (every 10 steps, eval every 50), evaluations and artifacts."""
    rng = random.Random(f"{spec.name}-{seed}")
    now = now or datetime.now(timezone.utc)
    started = now - timedelta(minutes=spec.minutes_ago)
    run = store.create_run(
        name=spec.name, config=_config(spec), model=spec.model, method=spec.method, dataset=spec.dataset, status=RUNNING
    )
    output_dir = f"{output_root}/{run.id}-{run.name}" if output_root else None
    steps_per_epoch = spec.steps_total / spec.epochs
    points = []
    for step in range(10, spec.steps_done + 1, 10):
        point = {
            "step": step,
            "epoch": step / steps_per_epoch,
            "loss": _loss(spec, step, rng),
            "learning_rate": spec.learning_rate * 0.5 * (1 + math.cos(math.pi * step / spec.steps_total)),
            "grad_norm": abs(rng.gauss(1.2, 0.3)),
            "tokens_per_second": spec.tokens_per_second * rng.uniform(0.9, 1.1),
            "gpu_memory_gb": spec.gpu_memory_gb * rng.uniform(0.97, 1.0) if spec.gpu_memory_gb else None,
            "time": started + timedelta(seconds=step * spec.seconds_per_step),
        }
        if step % 50 == 0:
            point["eval_loss"] = _loss(spec, step, rng) * 1.06
        points.append(point)
    store.add_metric_points(run.id, points)
    elapsed = spec.steps_done * spec.seconds_per_step
    store.update_run(
        run.id,
        started_at=started,
        heartbeat_at=started + timedelta(seconds=elapsed),
        steps_done=spec.steps_done,
        steps_total=spec.steps_total,
        epoch=spec.steps_done / steps_per_epoch,
        tokens_per_second=spec.tokens_per_second,
        output_dir=output_dir,
        train_loss=points[-1]["loss"] if spec.status == COMPLETED and points else None,
    )
    if spec.status != RUNNING:
        store.set_status(run.id, spec.status, error=spec.error)
        store.update_run(run.id, finished_at=started + timedelta(seconds=elapsed))
    else:
        # A live-looking run without a worker: keep the heartbeat fresh and the pid empty, and
        # give it a host no one has, so crash detection does not mark it crashed on sight.
        store.update_run(run.id, heartbeat_at=now, host="gpu-box-01", pid=None)
    if spec.status == COMPLETED and output_dir:
        kind = "model" if spec.method == "full_finetuning" else "adapter"
        store.add_artifact(run.id, kind=kind, path=f"{output_dir}/{kind}")
        store.add_artifact(run.id, kind="checkpoint", path=f"{output_dir}/checkpoints/checkpoint-{spec.steps_done}")
    if spec.evaluated:
        gain = rng.uniform(0.18, 0.27)
        base = {"rouge1": 0.21, "rouge2": 0.07, "rougeL": 0.18, "bleu": 0.04, "perplexity": 24.7}
        tuned = {
            "rouge1": 0.21 + gain,
            "rouge2": 0.07 + gain * 0.8,
            "rougeL": 0.18 + gain,
            "bleu": 0.04 + gain * 0.6,
            "perplexity": 24.7 / (1 + gain * 12),
        }
        settings = {"samples": 50, "max_new_tokens": 64}
        samples = [_kept(sample) for sample in _SAMPLES]
        store.add_evaluation(run.id, label="base", metrics=base, sample_count=50, settings=settings, samples=samples)
        store.add_evaluation(
            run.id, label="finetuned", metrics=tuned, sample_count=50, settings=settings, samples=samples
        )
    return store.get_run(run.id)


def populate(store: Store, *, output_root: str | None = None, now: datetime | None = None) -> list[Run]:
    """The afternoon of runs in `SPECS`, oldest first."""
    return [add_run(store, spec, now=now, output_root=output_root) for spec in SPECS]


def write_log(run: Run, lines: int = 60) -> None:
    """A worker.log like the engine writes, so the log panes have something to show."""
    if not run.output_dir:
        return

    folder = Path(run.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    spec = next((s for s in SPECS if s.name == run.name), None)
    rng = random.Random(run.name)
    text = [
        f"tuitune worker: run {run.id} ({run.name}), {run.method} on {run.model}",
        f"loading {run.model} … done",
        f"dataset {run.dataset}: alpaca, 9,812 rows, 9,321 train / 491 validation",
    ]
    last = run.steps_done
    for step in range(max(10, last - 10 * lines), last + 1, 10):
        loss = _loss(spec, step, rng) if spec else 1.0
        text.append(
            f"[metrics] step={step} epoch={step / max(1, (run.steps_total or 1) / 3):.3f} loss={loss:.4f} "
            f"learning_rate={2e-4 * (1 - step / max(1, run.steps_total or 1)):.3e} grad_norm={abs(rng.gauss(1.2, 0.3)):.3f}"
        )
    (folder / "worker.log").write_text("\n".join(text) + "\n", encoding="utf-8")


def many_runs(store: Store, count: int) -> None:
    """`count` finished runs with no metric points, as fast as the store takes them (benchmarks)."""
    statuses = (COMPLETED, COMPLETED, COMPLETED, FAILED, CANCELLED)
    models = ("Qwen/Qwen2.5-0.5B", "meta-llama/Llama-3.2-1B", "tuitune/demo", "HuggingFaceTB/SmolLM2-135M")
    for index in range(count):
        run = store.create_run(
            name=f"sweep-{index:05d}",
            config={"method": "lora", "lora": {"r": 8 << (index % 3)}},
            model=models[index % len(models)],
            method="lora",
            dataset="tuitune/sample",
            status=statuses[index % len(statuses)],
        )
        store.update_run(
            run.id,
            steps_done=100 + index % 900,
            steps_total=1000,
            last_loss=1.0 + (index % 97) / 50,
            best_eval_loss=1.1 + (index % 89) / 50,
        )
