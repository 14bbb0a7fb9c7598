"""The GPU suite's measurements, run by `benchmarks/gpu_suite.sh` after `pytest -m gpu`.

    python benchmarks/gpu_suite.py [--out FILE] [--budget-seconds 400] [--peak-tflops N] [--dry-run]

Per model and method, tuitune trains LoRA or QLoRA on a random-initialised copy of a real
architecture (`benchmarks/architectures.py`: Qwen2.5-0.5B, Qwen2.5-1.5B, Llama-3-8B; nothing is
downloaded) through `tuitune.train`, and this script reports:

- trained (non-padding) tokens/s in the steady state (the run's own metric points after the
  first logging interval, so CUDA start-up and compilation are left out);
- MFU: tokens/s x the model's training FLOPs per token / the GPU's peak dense bf16 FLOP/s;
  FLOPs per token = 4N (LoRA: forward, and backward through frozen weights) or 6N (full) for the
  N parameters in matmuls, plus 12 x layers x hidden x mean sequence length for attention;
- peak memory of the process (NVML: what nvidia-smi shows, CUDA context included) on batches at
  max_length, against `tuitune.models.memory.estimate_memory`, the estimate `tuitune recommend`
  prints and sizes batches with (goal: within 15%);
- the speed options against plain (no Liger, no compile, length-grouped padding): `default`
  (every `auto` as tuitune decides on this machine), `liger`, `packing`, `compile`.

It writes a markdown table in the format of docs/benchmarks.md to --out (and prints it). Runs that
would pass --budget-seconds are skipped and listed as such, so the suite ends in time on any GPU.
`--dry-run` does all of it on the CPU with tiny twins of each architecture and 2 steps per run, so
a test (tests/test_benchmark_smoke.py) keeps it from rotting on machines without a GPU.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for _offline in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_offline, "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

GIB = 2**30
MEMORY_GOAL = 0.15

# Peak dense bf16 tensor FLOP/s (no sparsity) from the vendors' data sheets, by a part of the name.
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 80GB HBM3": 989.0,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H100": 756.0,
    "GH200": 989.0,
    "B200": 2250.0,
    "A100": 312.0,
    "A800": 312.0,
    "L40S": 362.0,
    "L40": 181.0,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
    "A6000": 155.0,
    "RTX 4090": 165.0,
    "RTX 3090": 71.0,
}


@dataclass(frozen=True)
class Case:
    """One model trained with one method, the variants measured for it, and whether its peak
    memory is checked against the estimate."""

    architecture: str
    method: str
    variants: tuple[str, ...]
    memory: bool = True


# In order of what matters most, so a slow GPU that runs out of time loses the least: compiling
# (whose start-up time no one can bound beforehand) goes last.
PLAN = (
    Case("qwen2.5-0.5b", "lora", ("default", "plain", "liger", "packing")),
    Case("qwen2.5-1.5b", "lora", ("default", "plain", "liger", "packing")),
    Case("qwen2.5-1.5b", "qlora", ("default", "plain")),
    Case("llama-3-8b", "qlora", ("default",)),
    Case("qwen2.5-0.5b", "lora", ("compile",), memory=False),
)

# What each variant sets; anything not named stays at tuitune's default (`auto`).
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "default": {},
    "plain": {"data": {"packing": False}, "training": {"use_liger_kernel": False}},
    "liger": {"data": {"packing": False}, "training": {"use_liger_kernel": True}},
    "packing": {"data": {"packing": True}, "training": {"use_liger_kernel": False}},
    "compile": {"data": {"packing": False}, "training": {"use_liger_kernel": False, "torch_compile": True}},
}


@dataclass
class Row:
    """One variant's figures (None where not measured)."""

    architecture: str
    method: str
    variant: str
    batch_size: int = 0
    max_length: int = 0
    gradient_checkpointing: bool = False
    tokens_per_second: float | None = None
    mfu: float | None = None
    peak_allocated_gb: float | None = None
    chose: list[str] = field(default_factory=list)
    skipped: str | None = None
    final_loss: float | None = None


@dataclass
class MemoryRow:
    architecture: str
    method: str
    batch_size: int
    max_length: int
    gradient_checkpointing: bool
    estimate_gb: float
    measured_gb: float | None  # NVML, the process's share of the device
    reserved_gb: float | None  # torch's caching allocator
    skipped: str | None = None

    @property
    def error(self) -> float | None:
        return None if self.measured_gb is None else self.estimate_gb / self.measured_gb - 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=None, help="markdown file to write (default: $OUT or benchmarks/results)"
    )
    parser.add_argument("--budget-seconds", type=float, default=400.0, help="skip runs that would end after this")
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the GPU's peak dense bf16 TFLOP/s, if not in the table"
    )
    parser.add_argument("--steps", type=int, default=None, help="steps per run (default: 20 on a GPU, 2 in a dry run)")
    parser.add_argument(
        "--work",
        type=Path,
        default=os.environ.get("TUITUNE_GPU_SUITE_WORK"),
        help="where models are built, kept between runs (default: $TUITUNE_GPU_SUITE_WORK or the temp folder)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="tiny twins on the CPU: check the suite runs, measure nothing"
    )
    return parser.parse_args(argv)


class DeviceMemory:
    """The GPU memory this process holds at its peak, read through NVML every 20 ms.

    NVML's per-process list is empty inside some containers, so the process's share is the
    device's used memory minus what was used before this process touched CUDA (the baseline).
    """

    def __init__(self) -> None:
        self._handle = None
        self.baseline = 0
        try:
            import pynvml

            pynvml.nvmlInit()
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(int(visible) if visible.isdigit() else 0)
            self.baseline = self._used()
        except Exception:  # no NVML: a CPU dry run
            self._handle = None
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _used(self) -> int:
        import pynvml

        return int(pynvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    def __enter__(self) -> DeviceMemory:
        self._peak = 0
        if self._handle is not None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            self._peak = max(self._peak, self._used())

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()

    @property
    def peak_gb(self) -> float | None:
        return None if self._handle is None else max(self._peak - self.baseline, 0) / GIB


def flops_per_token(config: Any, method: str, mean_length: float) -> float:
    """Training FLOPs per token (see the module docstring)."""
    h, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
    heads, kv_heads = config.num_attention_heads, getattr(config, "num_key_value_heads", config.num_attention_heads)
    head_dim = getattr(config, "head_dim", None) or h // heads
    attention = h * heads * head_dim * 2 + h * kv_heads * head_dim * 2  # q, o and k, v projections
    mlp = 3 * h * config.intermediate_size
    matmul_parameters = layers * (attention + mlp) + h * vocab  # the head's matmul, tied or not
    per_parameter = 6 if method == "full_finetuning" else 4
    return per_parameter * matmul_parameters + 12 * layers * h * mean_length


def peak_flops(args: argparse.Namespace) -> float | None:
    import torch

    if args.peak_tflops:
        return args.peak_tflops * 1e12
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    for part, tflops in sorted(PEAK_BF16_TFLOPS.items(), key=lambda item: -len(item[0])):
        if part in name:
            return tflops * 1e12
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    memory = DeviceMemory()  # before CUDA starts: the baseline is other processes' memory

    import torch
    from architectures import build_model, model_config, parameter_count, tiny
    from length_mix import write_length_mix

    cuda = torch.cuda.is_available()
    if not cuda and not args.dry_run:
        print("No CUDA GPU is visible: run with --dry-run to check the suite on a CPU.", file=sys.stderr)
        return 2
    steps = args.steps or (2 if args.dry_run else 20)
    logging_steps = 1 if args.dry_run else 5
    work = args.work or Path(tempfile.gettempdir()) / "tuitune-gpu-suite"
    home = Path(tempfile.mkdtemp(prefix="tuitune-gpu-suite-home-"))
    os.environ["TUITUNE_HOME"] = str(home)
    mix = write_length_mix(home / "mix.jsonl", rows=64 if args.dry_run else 800)
    long_rows = write_length_mix(home / "long.jsonl", rows=64 if args.dry_run else 200, median_words=4000, seed=3)
    vram_gb = torch.cuda.get_device_properties(0).total_memory / GIB if cuda else None
    peak = peak_flops(args)

    out = args.out or _default_out()
    rows: list[Row] = []
    memory_rows: list[MemoryRow] = []
    for case in PLAN:
        name = tiny(case.architecture) if args.dry_run else case.architecture
        left = args.budget_seconds - (time.monotonic() - started)
        if left < _minimum_seconds(case, args.dry_run):
            rows += [
                Row(case.architecture, case.method, v, skipped=f"time budget ({left:.0f} s left)")
                for v in case.variants
            ]
            if case.memory:
                memory_rows.append(
                    MemoryRow(case.architecture, case.method, 0, 0, False, 0.0, None, None, skipped="time budget")
                )
            continue
        print(f"== {name} {case.method} ({parameter_count(name) / 1e9:.2f}B parameters)", flush=True)
        folder = build_model(
            name, work / name, device="cuda" if cuda else "cpu", dtype="bfloat16" if cuda else "float32"
        )
        batch, max_length, checkpointing, estimate = _fit(folder, case.method, vram_gb)
        mean_length = _mean_length(folder, mix, max_length)
        for variant in case.variants:
            row = Row(case.architecture, case.method, variant, batch, max_length, checkpointing)
            rows.append(row)
            why = _cannot_run(variant, cuda)
            if why or time.monotonic() - started > args.budget_seconds:
                row.skipped = why or "time budget"
                continue
            _, points, chose, _ = _train(
                folder, case.method, variant, mix, batch, max_length, checkpointing, steps, logging_steps, memory
            )
            row.chose = chose
            rates = [p.tokens_per_second for p in points if p.tokens_per_second and p.step > logging_steps]
            rates = rates or [p.tokens_per_second for p in points if p.tokens_per_second]
            row.tokens_per_second = statistics.median(rates) if rates else None
            losses = [p.loss for p in points if p.loss is not None]
            row.final_loss = losses[-1] if losses else None
            allocated = [p.gpu_memory_gb for p in points if p.gpu_memory_gb]
            row.peak_allocated_gb = max(allocated) if allocated else None
            if row.tokens_per_second and peak:
                row.mfu = row.tokens_per_second * flops_per_token(model_config(name), case.method, mean_length) / peak
            print(
                f"   {variant:8s} {row.tokens_per_second or 0:10,.0f} tokens/s  MFU {100 * (row.mfu or 0):5.1f}%  "
                f"{'; '.join(chose)}",
                flush=True,
            )
        if case.memory and time.monotonic() - started > args.budget_seconds:
            memory_rows.append(
                MemoryRow(
                    case.architecture,
                    case.method,
                    batch,
                    max_length,
                    checkpointing,
                    estimate,
                    None,
                    None,
                    skipped="time budget",
                )
            )
        elif case.memory:
            _, _, _, measured = _train(
                folder,
                case.method,
                "plain",
                long_rows,
                batch,
                max_length,
                checkpointing,
                max(2, steps // 4),
                logging_steps,
                memory,
            )
            memory_rows.append(
                MemoryRow(case.architecture, case.method, batch, max_length, checkpointing, estimate, *measured)
            )
            print(f"   memory   estimate {estimate:.1f} GiB, measured {_gib(measured[0])}", flush=True)
        # Written after every case: a suite stopped from outside still leaves what it measured.
        write(out, render(rows, memory_rows, args, peak, time.monotonic() - started), rows, memory_rows)

    table = render(rows, memory_rows, args, peak, time.monotonic() - started)
    write(out, table, rows, memory_rows)
    print()
    print(table)
    print(f"\nwritten to {out}")
    return 0


def write(out: Path, table: str, rows: list[Row], memory_rows: list[MemoryRow]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(
        json.dumps({"rows": [r.__dict__ for r in rows], "memory": [m.__dict__ for m in memory_rows]}, indent=2)
    )


def _minimum_seconds(case: Case, dry_run: bool) -> float:
    """Roughly how long a case takes at least (building and loading an 8B model dominates)."""
    if dry_run:
        return 0.0
    if "compile" in case.variants:
        return 90.0
    return {"llama-3-8b": 200.0, "qwen2.5-1.5b": 40.0}.get(case.architecture, 20.0)


def _cannot_run(variant: str, cuda: bool) -> str | None:
    import importlib.util

    if variant == "liger" and importlib.util.find_spec("liger_kernel") is None:
        return "liger-kernel not installed"
    if variant in ("liger", "compile") and not cuda:
        return "needs CUDA"
    return None


def _fit(folder: Path, method: str, vram_gb: float | None) -> tuple[int, int, bool, float]:
    """Batch 8 at 512 tokens, with checkpointing or a smaller batch where the estimate says the GPU
    is too small (as `tuitune recommend` would); returns the settings and their estimate."""
    from tuitune.models.inspect import describe_model
    from tuitune.models.memory import estimate_memory

    info = describe_model(str(folder))
    max_length = 512
    for checkpointing in (False, True):
        for batch in (8, 4, 2, 1):
            estimate = estimate_memory(
                info,
                method,
                batch_size=batch,
                max_length=max_length,
                lora_r=16,
                gradient_checkpointing=checkpointing,
                dtype_bytes=2,
            ).total_gb
            if vram_gb is None or estimate <= 0.9 * vram_gb:
                return batch, max_length, checkpointing, estimate
    return 1, max_length, True, estimate


def _mean_length(folder: Path, data: Path, max_length: int) -> float:
    from tuitune.config import DataSettings, ModelSettings
    from tuitune.data import prepare_dataset
    from tuitune.models.loading import load_tokenizer

    tokenizer = load_tokenizer(ModelSettings(name_or_path=str(folder)))
    prepared = prepare_dataset(DataSettings(source=str(data), max_length=max_length, validation_split=0), tokenizer)
    return statistics.fmean(prepared.train["length"])


def _train(
    folder: Path,
    method: str,
    variant: str,
    data: Path,
    batch: int,
    max_length: int,
    checkpointing: bool,
    steps: int,
    logging_steps: int,
    memory: DeviceMemory,
) -> tuple[Any, list[Any], list[str], tuple[float | None, float | None]]:
    """Train one variant through `tuitune.train`; its result, metric points, choices and memory peaks."""
    import torch

    import tuitune
    from tuitune.config import parse_config
    from tuitune.store import open_store

    settings = VARIANTS[variant]
    config = parse_config(
        {
            "name": f"{folder.name}-{method}-{variant}",
            "method": method,
            "model": {"name_or_path": str(folder)},
            "data": {"source": str(data), "max_length": max_length, "validation_split": 0, **settings.get("data", {})},
            "lora": {"r": 16, "alpha": 32},
            "training": {
                "max_steps": steps,
                "batch_size": batch,
                "logging_steps": logging_steps,
                "save_steps": 10**6,
                "gradient_checkpointing": checkpointing,
                "seed": 7,
                **settings.get("training", {}),
            },
        }
    )
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with memory:
        result = tuitune.train(config)
    reserved = torch.cuda.max_memory_reserved() / GIB if torch.cuda.is_available() else None
    store = open_store()
    points = store.metric_points(result.run_id)
    chose = [short for short in map(_choice, (e.message for e in store.events(result.run_id))) if short]
    return result, points, chose, (memory.peak_gb, reserved)


def _choice(event: str) -> str | None:
    """A run event that says what tuitune chose, in a word or two for the table."""
    if event.startswith("batching: "):
        return event.removeprefix("batching: ").split(" (")[0]
    if event.startswith("attention: "):
        return event.removeprefix("attention: ").split(" (")[0]
    if event.startswith("Liger kernels on"):
        return "Liger"
    if event.startswith("torch.compile on"):
        return "torch.compile"
    return None


def _default_out() -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(os.environ["OUT"]) if os.environ.get("OUT") else Path(__file__).resolve().parent / "results"
    return folder / f"gpu-suite-{stamp}.md"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def render(
    rows: list[Row], memory_rows: list[MemoryRow], args: argparse.Namespace, peak: float | None, seconds: float
) -> str:
    """The suite's figures as markdown, in the format of docs/benchmarks.md."""
    import torch

    device = (
        f"{torch.cuda.get_device_name()} ({torch.cuda.get_device_properties(0).total_memory / GIB:.0f} GiB)"
        if torch.cuda.is_available()
        else "CPU (dry run: tiny twins, 2 steps; the figures mean nothing)"
    )
    lines = [
        f"`bash benchmarks/gpu_suite.sh` on {device}, {platform.machine()}, Python {platform.python_version()}, "
        f"torch {torch.__version__} (CUDA {torch.version.cuda or '-'}), transformers {_version('transformers')}, peft {_version('peft')}, "
        f"bitsandbytes {_version('bitsandbytes')}, liger-kernel {_version('liger-kernel')}, flash-attn {_version('flash-attn')}; "
        f"{datetime.date.today().isoformat()}, {seconds:.0f} s for the measurements. Peak bf16: "
        f"{f'{peak / 1e12:,.0f} TFLOP/s' if peak else 'unknown (give --peak-tflops)'}.",
        "",
        "| model | method | variant | batch x length | trained tokens/s | vs plain | MFU | peak allocated | what auto chose |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    plain = {(r.architecture, r.method): r.tokens_per_second for r in rows if r.variant == "plain"}
    for r in rows:
        if r.skipped:
            lines.append(f"| {r.architecture} | {r.method} | {r.variant} | | not run: {r.skipped} | | | | |")
            continue
        base = plain.get((r.architecture, r.method))
        ratio = f"{r.tokens_per_second / base:.2f}x" if base and r.tokens_per_second else "-"
        lines.append(
            f"| {r.architecture} | {r.method} | {r.variant} | {r.batch_size} x {r.max_length}"
            f"{' (checkpointing)' if r.gradient_checkpointing else ''} | {_number(r.tokens_per_second)} | {ratio} | "
            f"{f'{100 * r.mfu:.1f}%' if r.mfu else '-'} | {_gib(r.peak_allocated_gb)} | {'; '.join(r.chose) or '-'} |"
        )
    lines += [
        "",
        "Peak memory on batches at max_length (plain variant) against the estimate `tuitune recommend` uses "
        f"(goal: within {100 * MEMORY_GOAL:.0f}%):",
        "",
        "| model | method | batch x length | estimate | measured (NVML) | torch reserved | estimate vs measured |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for m in memory_rows:
        if m.skipped:
            lines.append(f"| {m.architecture} | {m.method} | | not run: {m.skipped} | | | |")
            continue
        error = m.error
        verdict = (
            "-" if error is None else f"{100 * error:+.0f}%{'' if abs(error) <= MEMORY_GOAL else ' (outside the goal)'}"
        )
        lines.append(
            f"| {m.architecture} | {m.method} | {m.batch_size} x {m.max_length}"
            f"{' (checkpointing)' if m.gradient_checkpointing else ''} | {_gib(m.estimate_gb)} | "
            f"{_gib(m.measured_gb)} | {_gib(m.reserved_gb)} | {verdict} |"
        )
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _gib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} GiB"


if __name__ == "__main__":
    sys.exit(main())
