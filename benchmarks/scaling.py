"""Scaling over GPUs: the same job on 1, 2, 4… GPUs, tokens/s and each GPU's memory.

    python benchmarks/scaling.py --gpus all [--model tuitune/demo] [--strategy ddp] [--steps 40]
    python benchmarks/scaling.py --cpu 2     # the same procedure with CPU processes (gloo), a smoke run

Each point is a real `tuitune train` (the CLI, a detached worker, `accelerate launch` for more than
one process) in a throwaway TUITUNE_HOME, with the per-process batch size fixed, so N processes
train N times the samples per step (weak scaling). Throughput is the median of the run's logged
trained (non-padding) tokens/s after the first logs (warm-up); memory is each rank's peak
allocation from its heartbeats. Efficiency = tokens/s on N / (N x tokens/s on 1).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", default=None, help="`all`, or a count, or ids like 0,1,2,3")
    parser.add_argument("--cpu", type=int, default=None, help="up to this many CPU processes instead of GPUs")
    parser.add_argument("--model", default="tuitune/demo")
    parser.add_argument("--method", default="lora")
    parser.add_argument("--strategy", default="ddp")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8, help="per process")
    parser.add_argument("--max-length", type=int, default=512)
    return parser.parse_args()


def gpu_ids(choice: str) -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tuitune.system.gpu import visible_gpus

    available = visible_gpus()
    if choice == "all":
        return available
    if choice.isdigit():
        return available[: int(choice)]
    return [part for part in choice.split(",") if part]


def run_one(home: Path, args: argparse.Namespace, *, gpus: list[str] | None, nproc: int) -> dict[str, object]:
    command = [
        sys.executable,
        "-m",
        "tuitune",
        "train",
        "--model",
        args.model,
        "--dataset",
        "tuitune/sample",
        "--method",
        args.method,
        "--strategy",
        args.strategy,
        "--max-steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--max-length",
        str(args.max_length),
        "--json",
    ]
    command += ["--gpus", ",".join(gpus)] if gpus else ["--nproc", str(nproc)]
    env = {**os.environ, "TUITUNE_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    os.environ["TUITUNE_HOME"] = str(home)
    from tuitune.store import open_store

    store = open_store()
    speeds = [p.tokens_per_second for p in store.metric_points(result["run_id"]) if p.tokens_per_second]
    processes = store.processes(result["run_id"])
    memory = [p.gpu_memory_gb for p in processes if p.gpu_memory_gb is not None]
    return {
        "processes": len(gpus) if gpus else nproc,
        "tokens_per_second": statistics.median(speeds[2:] or speeds),
        "gpu_memory_gb": max(memory) if memory else None,
        "loss": result["train_loss"],
    }


def main() -> int:
    args = parse_args()
    if (args.gpus is None) == (args.cpu is None):
        raise SystemExit("give --gpus (all, a count, or ids) or --cpu N")
    results = []
    with tempfile.TemporaryDirectory(prefix="tuitune-scaling-") as scratch:
        if args.gpus is not None:
            ids = gpu_ids(args.gpus)
            if not ids:
                raise SystemExit("no GPU visible: use --cpu N for a CPU smoke run")
            counts = sorted({1, *[n for n in (2, 4, 8) if n <= len(ids)], len(ids)})
            for count in counts:
                results.append(run_one(Path(scratch) / f"gpus-{count}", args, gpus=ids[:count], nproc=count))
        else:
            for count in range(1, args.cpu + 1):
                results.append(run_one(Path(scratch) / f"cpu-{count}", args, gpus=None, nproc=count))
    base = results[0]["tokens_per_second"]
    print(
        f"| processes | tokens/s | speed-up | efficiency | peak GPU memory per rank | train loss |  ({args.model}, {args.method}, {args.strategy}, batch {args.batch_size}/process, {args.steps} steps)"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for row in results:
        n, speed = row["processes"], row["tokens_per_second"]
        memory = f"{row['gpu_memory_gb']:.2f} GB" if row["gpu_memory_gb"] is not None else "– (CPU)"
        print(f"| {n} | {speed:,.0f} | {speed / base:.2f}x | {speed / (n * base):.0%} | {memory} | {row['loss']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
